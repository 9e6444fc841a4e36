// Reads a byte range of a file that another party is still writing (an in-flight download).
// Bytes already present are read at once; later bytes as the writer reports progress; the stream
// fails if the writer fails, so a client never sees a clean end on a broken download.
// Hand-written because no library tails a growing file with positional reads and backpressure.
import { read } from 'node:fs'
import { Readable } from 'node:stream'

/**
 * Reads and the stream's buffer stay small: a tailing reader gets the bytes the writer just wrote,
 * and one stream per client, hundreds at once on one download, must not each hold a MiB (issue 12
 * item 10). Committed hits are served by file-pump.ts with large pooled buffers instead.
 */
export const READ_CHUNK_BYTES = 64 * 1024

/** The writer's side as a reader sees it. */
export interface GrowingSource {
  /** Open file descriptor shared by the writer and its readers. */
  readonly fd: number
  /** Bytes that may be read now. */
  available (): number
  /** Total size once known (from Content-Length or at completion), else null. */
  finalSize (): number | null
  /** The error that ended the writer, if it failed. */
  failure (): Error | null
  /** Calls `listener` on every change (progress, completion, failure); returns an unsubscribe. */
  subscribe (listener: () => void): () => void
  /** Keeps the descriptor open until `unref` is called. */
  ref (): void
  unref (): void
}

export class GrowingFileReader extends Readable {
  readonly #source: GrowingSource
  #position: number
  readonly #endInclusive: number | null
  #reading = false
  #unsubscribe: (() => void) | null = null

  /** Reads [start, endInclusive], or from `start` to the end of the file when endInclusive is null. */
  constructor (source: GrowingSource, start: number, endInclusive: number | null) {
    super({ highWaterMark: READ_CHUNK_BYTES })
    this.#source = source
    this.#position = start
    this.#endInclusive = endInclusive
    source.ref()
  }

  override _read (): void {
    this.#pump()
  }

  #end (): number {
    if (this.#endInclusive !== null) return this.#endInclusive + 1
    return this.#source.finalSize() ?? Number.POSITIVE_INFINITY
  }

  #pump (): void {
    if (this.#reading || this.destroyed) return
    const end = this.#end()
    if (this.#position >= end) {
      this.push(null)
      return
    }
    const available = Math.min(this.#source.available(), end)
    if (this.#position < available) {
      this.#readChunk(Math.min(READ_CHUNK_BYTES, available - this.#position))
      return
    }
    const failure = this.#source.failure()
    if (failure !== null) {
      this.destroy(failure)
      return
    }
    // Caught up with the writer: wait for its next change.
    if (this.#unsubscribe === null) {
      this.#unsubscribe = this.#source.subscribe(() => {
        this.#unsubscribe?.()
        this.#unsubscribe = null
        this.#pump()
      })
    }
  }

  #readChunk (length: number): void {
    this.#reading = true
    const buffer = Buffer.allocUnsafe(length)
    read(this.#source.fd, buffer, 0, length, this.#position, (err, bytesRead) => {
      this.#reading = false
      if (this.destroyed) {
        this.#source.unref()
        return
      }
      if (err !== null) {
        this.destroy(err)
        return
      }
      if (bytesRead === 0) {
        this.destroy(new Error(`file ended at ${this.#position} before the bytes reported as written`))
        return
      }
      this.#position += bytesRead
      if (this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) this.#pump()
    })
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.#unsubscribe?.()
    this.#unsubscribe = null
    // A positional read still in flight must not see its descriptor closed (and reused) under it.
    if (!this.#reading) this.#source.unref()
    callback(err)
  }
}
