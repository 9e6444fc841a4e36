import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

// Objects are incompressible bytes from an AES-CTR keystream: deterministic per (name, size),
// generated at about 1 GB/s, and kept in bench/work between runs (regenerated when the size
// changes), so a 1 GiB object costs its generation once.

const CHUNK_BYTES = 8 * 1024 * 1024

export interface BenchObject {
  file: string
  size: number
  etag: string
  lastModified: string
}

export async function ensureObject (file: string, name: string, size: number): Promise<BenchObject> {
  const seed = createHash('sha256').update(`dsmirror-bench:${name}:${size}`).digest()
  const etag = `"${seed.subarray(0, 12).toString('hex')}"`
  const stampFile = `${file}.stamp`
  const existing = await stat(file).catch(() => undefined)
  const stamp = await readFile(stampFile, 'utf8').catch(() => '')
  if (existing?.size !== size || stamp !== etag) {
    await rm(stampFile, { force: true })
    await generate(file, seed, size)
    await writeFile(stampFile, etag)
  }
  const { mtime } = await stat(file)
  return { file, size, etag, lastModified: mtime.toUTCString() }
}

async function generate (file: string, seed: Buffer, size: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const cipher = createCipheriv('aes-128-ctr', seed.subarray(0, 16), seed.subarray(16, 32))
  const zeros = Buffer.alloc(CHUNK_BYTES)
  const handle = await open(file, 'w')
  try {
    for (let written = 0; written < size;) {
      const length = Math.min(CHUNK_BYTES, size - written)
      const chunk = cipher.update(length === CHUNK_BYTES ? zeros : zeros.subarray(0, length))
      await handle.write(chunk, 0, chunk.length)
      written += chunk.length
    }
  } finally {
    await handle.close()
  }
}
