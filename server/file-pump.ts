// Writes a byte range of an open file to a response with a few reused buffers. The hit path
// serves whole archives: a plain read stream allocates a fresh 1 MiB Buffer per read, and on
// this machine the garbage collection that follows cost more CPU than the reads and writes
// themselves (bench/README.md). A buffer is reused only after the socket reports it written
// (the `write` callback), so a chunk is never overwritten while it is still queued.
// Hand-written because Node has no sendfile and no stream with a recycled buffer pool.
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'

export const PUMP_CHUNK_BYTES = 1024 * 1024
/** Buffers per response: bounds memory at 4 MiB while reads overlap the socket's writes. */
export const PUMP_BUFFERS = 4

/**
 * Writes bytes [start, endInclusive] of `handle` to `out`. Resolves when everything was handed
 * to the socket, or early when `out` closes (client gone). Rejects on a read error or a file
 * shorter than expected; the caller must then destroy `out`, never end it cleanly.
 */
export async function pumpFile (out: Writable, handle: FileHandle, start: number, endInclusive: number): Promise<void> {
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
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position)
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
