// Writes a byte range of a file (committed, or still being downloaded) to a response with buffers
// from one pool shared by every response. The hit path serves whole archives: a plain read stream
// allocates a fresh 1 MiB Buffer per read, and on this machine the garbage collection that follows
// cost more CPU than the reads and writes themselves (bench/README.md). A buffer is reused only
// after the socket reports it written (the `write` callback), so a chunk is never overwritten
// while it is still queued.
//
// Memory is bounded for any number of readers (issue 12 item 10: 500 clients on one cold 200 MiB
// object held ~1.5 MiB of RSS each, 866 MiB in all, and glibc kept it after they left):
// - a reader of a download still being written (a tailing reader) reads into small buffers: it
//   gets the bytes the writer just wrote, tens of KiB at a time, and a 1 MiB buffer per read
//   only held memory it never filled;
// - 1 MiB buffers, which keep a hit at disk and loopback speed, come from one budget shared by
//   all responses; a response that finds it spent reads into small buffers instead, never waits;
// - buffers go back to the pool, not to the allocator, so the peak is reused rather than grown
//   and fragmented.
// So the pump holds at most LARGE_BUFFER_BUDGET_BYTES + PUMP_BUFFERS × SMALL_BUFFER_BYTES per
// response. Hand-written because Node has no sendfile and no stream with a recycled buffer pool.
import type { StoredBody } from './cache-store.js'
import type { Writable } from 'node:stream'

/** A read of a complete file (a cached hit): large, for throughput. */
export const LARGE_BUFFER_BYTES = 1024 * 1024
/** A read while the file grows, or once the large budget is spent. */
export const SMALL_BUFFER_BYTES = 64 * 1024
/** Every response together holds at most this much in large buffers: 64 responses at full speed. */
export const LARGE_BUFFER_BUDGET_BYTES = 64 * 1024 * 1024
/** Small buffers kept for reuse when no response holds them (the rest go to the garbage collector). */
export const SMALL_BUFFERS_KEPT = 512
/** Buffers per response in flight at once: reads overlap the socket's writes. */
export const PUMP_BUFFERS = 4

/** Where pumped bytes come from: a committed file, or a download that is still writing it. */
export interface PumpSource {
  /** Bytes readable at `position` now (> 0), waiting for them if needed; rejects if they never come. */
  ready: (position: number) => Promise<number>
  read: (buffer: Buffer, length: number, position: number) => Promise<number>
  /**
   * Issue 14: the bytes at `position` (at most `length`) as buffers already in memory (a
   * download's latest chunks), or null to read them from the file. Never copied: written as
   * they are.
   */
  view?: (position: number, length: number) => { parts: Buffer[]; release: () => void } | null
  /** False while the file is still being written: reads then use small buffers. */
  complete: () => boolean
}

/** A committed body (cache-store.ts StoredBody): every byte is there. */
export function storedSource (body: Pick<StoredBody, 'size' | 'read'>): PumpSource {
  return {
    ready: async (position) => body.size - position,
    read: async (buffer, length, position) => await body.read(buffer, length, position),
    complete: () => true
  }
}

export interface ReadBufferStats {
  /** Large buffers held by responses now, and the most ever held at once. */
  largeInUse: number
  largePeak: number
  /** Small buffers held by responses now, and the most ever held at once. */
  smallInUse: number
  smallPeak: number
  /** Bytes of buffers allocated and not yet dropped (held or kept for reuse). */
  allocatedBytes: number
}

/** The buffers every response reads into; one per process (`readBuffers`). */
export class ReadBufferPool {
  readonly #large: Buffer[] = []
  readonly #small: Buffer[] = []
  readonly #largeLimit: number
  #largeAllocated = 0
  #largeInUse = 0
  #largePeak = 0
  #smallAllocated = 0
  #smallInUse = 0
  #smallPeak = 0

  constructor (largeBudgetBytes = LARGE_BUFFER_BUDGET_BYTES) {
    this.#largeLimit = Math.floor(largeBudgetBytes / LARGE_BUFFER_BYTES)
  }

  /** A large buffer when `large` is asked for and the budget allows, else a small one. */
  take (large: boolean): Buffer {
    if (large) {
      let buffer = this.#large.pop()
      if (buffer === undefined && this.#largeAllocated < this.#largeLimit) {
        buffer = Buffer.allocUnsafeSlow(LARGE_BUFFER_BYTES)
        this.#largeAllocated++
      }
      if (buffer !== undefined) {
        this.#largePeak = Math.max(this.#largePeak, ++this.#largeInUse)
        return buffer
      }
    }
    let buffer = this.#small.pop()
    if (buffer === undefined) {
      buffer = Buffer.allocUnsafeSlow(SMALL_BUFFER_BYTES)
      this.#smallAllocated++
    }
    this.#smallPeak = Math.max(this.#smallPeak, ++this.#smallInUse)
    return buffer
  }

  give (buffer: Buffer): void {
    if (buffer.length === LARGE_BUFFER_BYTES) {
      this.#largeInUse--
      this.#large.push(buffer)
      return
    }
    this.#smallInUse--
    if (this.#small.length < SMALL_BUFFERS_KEPT) this.#small.push(buffer)
    else this.#smallAllocated--
  }

  /** A buffer a closed socket may still reference: counted out, never reused (the GC takes it). */
  drop (buffer: Buffer): void {
    if (buffer.length === LARGE_BUFFER_BYTES) {
      this.#largeInUse--
      this.#largeAllocated--
    } else {
      this.#smallInUse--
      this.#smallAllocated--
    }
  }

  stats (): ReadBufferStats {
    return {
      largeInUse: this.#largeInUse,
      largePeak: this.#largePeak,
      smallInUse: this.#smallInUse,
      smallPeak: this.#smallPeak,
      allocatedBytes: this.#largeAllocated * LARGE_BUFFER_BYTES + this.#smallAllocated * SMALL_BUFFER_BYTES
    }
  }
}

/** The process's pool: the bound is per process, whatever the number of apps or listeners. */
export const readBuffers = new ReadBufferPool()

/**
 * Writes bytes [start, endInclusive] of `source` to `out`. Resolves when everything was handed
 * to the socket, or early when `out` closes (client gone). Rejects on a read error, a short
 * file or a failed download; the caller must then destroy `out`, never end it cleanly.
 */
export async function pumpFile (out: Writable, source: PumpSource, start: number, endInclusive: number, pool: ReadBufferPool = readBuffers): Promise<void> {
  /** Buffers handed to `out` and not yet reported written. */
  const queued = new Set<Buffer>()
  let held = 0
  let wake: (() => void) | null = null
  const notify = (): void => {
    const resume = wake
    wake = null
    resume?.()
  }
  // A client that leaves wakes a pump waiting for a buffer; the loop then sees `destroyed`.
  const onClose = (): void => { notify() }
  out.once('close', onClose)
  // Should a closed socket never call back for a write, its buffers would be lost to the pool
  // and, for large ones, to the budget for good: count them out at close instead.
  out.once('close', () => {
    for (const buffer of queued) pool.drop(buffer)
    queued.clear()
  })
  try {
    let position = start
    const end = endInclusive + 1
    while (position < end && !out.destroyed) {
      if (held >= PUMP_BUFFERS) {
        // Every buffer is queued on the socket: wait until one is written (or the client leaves).
        await new Promise<void>((resolve) => { wake = resolve })
        continue
      }
      // Bytes first, buffer second: a reader waiting for the writer holds no buffer meanwhile.
      const readable = await source.ready(position)
      if (out.destroyed) break
      // A reader keeping up with a download takes its bytes from memory: no read from the
      // file, no pool buffer. At most SMALL_BUFFER_BYTES per write, as a tailing read would
      // hold, so what the socket keeps referenced stays within the per-response bound above.
      const viewed = source.view?.(position, Math.min(SMALL_BUFFER_BYTES, end - position, readable)) ?? null
      if (viewed !== null) {
        const { parts, release } = viewed
        held++
        const last = parts.length - 1
        // One writev for the parts (the upstream's chunks are often 16 KiB TLS records).
        if (last > 0) out.cork()
        parts.forEach((part, i) => {
          position += part.length
          if (i < last) out.write(part)
          // The socket is done with the bytes: their slab may be reused (chunk-slabs.ts).
          else out.write(part, () => { held--; release(); notify() })
        })
        if (last > 0) out.uncork()
        continue
      }
      const buffer = pool.take(source.complete() && end - position > SMALL_BUFFER_BYTES)
      held++
      let bytesRead: number
      try {
        bytesRead = await source.read(buffer, Math.min(buffer.length, end - position, readable), position)
      } catch (err: unknown) {
        held--
        pool.give(buffer)
        throw err
      }
      if (bytesRead === 0) {
        held--
        pool.give(buffer)
        throw new Error(`the file ended at byte ${position}, before byte ${endInclusive}`)
      }
      position += bytesRead
      queued.add(buffer)
      // Called once the chunk is written or failed: either way the socket is done with it.
      out.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), () => {
        held--
        if (queued.delete(buffer)) pool.give(buffer)
        notify()
      })
    }
  } finally {
    out.off('close', onClose)
  }
}
