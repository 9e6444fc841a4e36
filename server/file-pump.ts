// Writes a byte range of a file (committed, or still being downloaded) to a response with a few
// reused buffers. The hit path serves whole archives: a plain read stream allocates a fresh 1 MiB Buffer per read, and on
// this machine the garbage collection that follows cost more CPU than the reads and writes
// themselves (bench/README.md). A buffer is reused only after the socket reports it written
// (the `write` callback), so a chunk is never overwritten while it is still queued.
// Hand-written because Node has no sendfile and no stream with a recycled buffer pool.
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'

export const PUMP_CHUNK_BYTES = 1024 * 1024
/** Buffers per response: bounds memory at 4 MiB while reads overlap the socket's writes. */
export const PUMP_BUFFERS = 4

/** Where pumped bytes come from: a committed file, or a download that is still writing it. */
export interface PumpSource {
  /** Bytes readable at `position` now (> 0), waiting for them if needed; rejects if they never come. */
  ready: (position: number) => Promise<number>
  read: (buffer: Buffer, length: number, position: number) => Promise<number>
}

/** A committed file: every byte is there. */
export function fileSource (handle: FileHandle, size: number): PumpSource {
  return {
    ready: async (position) => size - position,
    read: async (buffer, length, position) => (await handle.read(buffer, 0, length, position)).bytesRead
  }
}

/**
 * Writes bytes [start, endInclusive] of `source` to `out`. Resolves when everything was handed
 * to the socket, or early when `out` closes (client gone). Rejects on a read error, a short
 * file or a failed download; the caller must then destroy `out`, never end it cleanly.
 */
export async function pumpFile (out: Writable, source: PumpSource, start: number, endInclusive: number): Promise<void> {
  const free: Buffer[] = []
  let allocated = 0
  let wake: (() => void) | null = null
  const notify = (): void => {
    const resume = wake
    wake = null
    resume?.()
  }
  // A client that leaves wakes a pump waiting for a buffer; the loop then sees `destroyed`.
  const onClose = (): void => { notify() }
  out.once('close', onClose)
  try {
    let position = start
    const end = endInclusive + 1
    while (position < end && !out.destroyed) {
      let buffer = free.pop()
      if (buffer === undefined && allocated < PUMP_BUFFERS) {
        buffer = Buffer.allocUnsafeSlow(Math.min(PUMP_CHUNK_BYTES, end - start))
        allocated++
      }
      if (buffer === undefined) {
        // Every buffer is queued on the socket: wait until one is written (or the client leaves).
        await new Promise<void>((resolve) => { wake = resolve })
        continue
      }
      const readable = await source.ready(position)
      const bytesRead = await source.read(buffer, Math.min(buffer.length, end - position, readable), position)
      if (bytesRead === 0) throw new Error(`the file ended at byte ${position}, before byte ${endInclusive}`)
      position += bytesRead
      const owned = buffer
      out.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), () => {
        free.push(owned)
        notify()
      })
    }
  } finally {
    out.off('close', onClose)
  }
}
