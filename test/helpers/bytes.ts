// Deterministic test payloads. Fixtures are generated, never checked in (STYLE.md "Tests"), and
// must be pseudo-random so a body that is shifted, truncated or spliced from two ranges never
// matches by accident. AES-256-CTR over zeros is a seeded keystream that OpenSSL produces at
// GB/s, so a 64 MiB body costs tens of milliseconds, and it is the same on every platform.
import { createCipheriv, createHash } from 'node:crypto'

const CHUNK_BYTES = 1024 * 1024
const ZEROS = Buffer.alloc(CHUNK_BYTES)
const IV = Buffer.alloc(16)

/** `size` pseudo-random bytes; the same `size` and `seed` always give the same bytes. */
export function makeBytes (size: number, seed = 1): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`makeBytes: size must be a non-negative integer, got ${size}`)
  const key = createHash('sha256').update(`dsmirror test bytes ${seed}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, IV)
  const out = Buffer.allocUnsafe(size)
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const n = Math.min(CHUNK_BYTES, size - offset)
    cipher.update(n === CHUNK_BYTES ? ZEROS : ZEROS.subarray(0, n)).copy(out, offset)
  }
  return out
}

/** Hex sha256 of `buf`, the integrity check tests compare. */
export function sha256 (buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex')
}
