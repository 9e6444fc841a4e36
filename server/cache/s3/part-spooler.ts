// Issue 19 item 2: "the leader uploads the body as a multipart upload WHILE it downloads"
// (research/s3-tier.md §3.1). The spooler watches the writes to one staged file (through a proxy
// of its FileHandle, so download.ts is unchanged) and, each time a whole part is on disk, reads it
// back, hashes it (in order: the running sha256 must equal the verified digest at the end) and
// sends it, S3_PART_CONCURRENCY at a time. Nothing is completed here: `finish` runs only from
// S3Store.commit, after download.ts verified length and digest. Anything unexpected (a write that
// is not the next byte, a truncate, a failed part, a length needing larger parts) makes the spool
// give up: its upload is aborted and the commit falls back to uploading the file afterwards.
import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import type { Logger } from 'pino'
import { S3_PART_CONCURRENCY, type S3Bucket } from './s3-client.js'

/** `length` bytes of a staged file at `position`: a file that ends short is an error, never a short part. */
export async function readStaged (handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) throw new Error(`the staged file ended at ${position + done} bytes, short of ${position + length}`)
    done += bytesRead
  }
  return buffer
}

export interface SpoolDone {
  dataETag: string
}

export class PartSpooler {
  readonly dataKey: string
  readonly partSize: number
  readonly #bucket: S3Bucket
  readonly #handle: FileHandle
  readonly #log: Logger
  readonly #hash = createHash('sha256')
  readonly #parts: Array<{ PartNumber: number, ETag: string }> = []
  readonly #inFlight = new Set<Promise<void>>()
  #uploadId: Promise<string> | null = null
  /** Bytes known to be in the file, from 0, in order. */
  #written: number
  /** Bytes read back, hashed and handed to an upload. */
  #sent = 0
  #nextPart = 1
  #driving: Promise<void> | null = null
  #broken: string | null = null
  #onBroken: ((bytes: number) => void) | null = null

  constructor (opts: { bucket: S3Bucket, handle: FileHandle, dataKey: string, partSize: number, from: number, log: Logger, onAbort: (bytes: number) => void }) {
    this.#bucket = opts.bucket
    this.#handle = opts.handle
    this.dataKey = opts.dataKey
    this.partSize = opts.partSize
    this.#written = opts.from
    this.#log = opts.log
    this.#onBroken = opts.onAbort
  }

  get broken (): string | null { return this.#broken }
  get sent (): number { return this.#sent }

  /** The staged file's handle, as download.ts sees it: writes go through, and are watched. */
  watchedHandle (): FileHandle {
    return new Proxy(this.#handle, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target)
        if (typeof value !== 'function') return value
        if (prop === 'write' || prop === 'writev') {
          return async (...args: unknown[]) => {
            const position = prop === 'write' ? (typeof args[0] === 'string' ? args[1] : args[3]) : args[1]
            const result = await (value as (...a: unknown[]) => Promise<{ bytesWritten: number }>).apply(target, args)
            this.#wrote(typeof position === 'number' ? position : null, result.bytesWritten)
            return result
          }
        }
        if (prop === 'truncate') {
          return async (...args: unknown[]) => {
            this.#give('the staged file was truncated')
            return await (value as (...a: unknown[]) => Promise<void>).apply(target, args)
          }
        }
        return (value as (...a: unknown[]) => unknown).bind(target)
      }
    })
  }

  #wrote (position: number | null, bytes: number): void {
    if (this.#broken !== null) return
    if (position !== this.#written) {
      this.#give(`a write at ${String(position)} where ${this.#written} was next`)
      return
    }
    this.#written += bytes
    this.#drive()
  }

  #drive (): void {
    if (this.#driving !== null || this.#broken !== null || this.#written - this.#sent < this.partSize) return
    this.#driving = (async () => {
      try {
        while (this.#broken === null && this.#written - this.#sent >= this.partSize) {
          while (this.#inFlight.size >= S3_PART_CONCURRENCY) await Promise.race(this.#inFlight)
          await this.#sendPart(this.partSize)
        }
      } catch (err) {
        this.#give(err instanceof Error ? err.message : String(err))
      } finally {
        this.#driving = null
      }
      this.#drive()
    })()
  }

  async #sendPart (length: number): Promise<void> {
    const body = await readStaged(this.#handle, this.#sent, length)
    this.#hash.update(body)
    this.#sent += length
    const partNumber = this.#nextPart++
    this.#uploadId ??= this.#bucket.createMultipart(this.dataKey)
    const uploadId = this.#uploadId
    const sent = (async () => {
      const etag = await this.#bucket.uploadPart(this.dataKey, await uploadId, partNumber, body)
      this.#parts.push({ PartNumber: partNumber, ETag: etag })
    })()
    this.#inFlight.add(sent)
    sent.catch((err: unknown) => { this.#give(err instanceof Error ? err.message : String(err)) }).finally(() => this.#inFlight.delete(sent)).catch(() => {})
  }

  #give (reason: string): void {
    if (this.#broken !== null) return
    this.#broken = reason
    this.#log.debug({ dataKey: this.dataKey, reason }, 'spooling parts while downloading gave up; the body is uploaded after its commit instead')
  }

  /** Stops and aborts the upload (the download failed or is being replaced). */
  async abort (reason = 'aborted'): Promise<void> {
    this.#give(reason)
    await this.#driving
    await Promise.allSettled([...this.#inFlight])
    if (this.#uploadId !== null) {
      const uploadId = await this.#uploadId.catch(() => null)
      if (uploadId !== null) {
        this.#onBroken?.(this.#sent)
        await this.#bucket.abortMultipart(this.dataKey, uploadId).catch((err: unknown) => { this.#log.warn({ err, dataKey: this.dataKey }, 'could not abort the S3 upload; the sweeper will') })
      }
    }
  }

  /**
   * After download.ts verified the body (`size` bytes, `sha256`): sends the rest, checks the
   * running digest, completes. Null when the spool gave up or sent nothing (the caller uploads the
   * file itself); throws only after completing failed, with the upload aborted.
   */
  async finish (size: number, sha256: string, partSizeNeeded: number): Promise<SpoolDone | null> {
    await this.#driving
    if (this.#broken === null && (size !== this.#written || partSizeNeeded > this.partSize)) this.#give(`the committed length ${size} does not fit the spool (${this.#written} bytes written, parts of ${this.partSize})`)
    if (this.#broken === null && this.#uploadId === null) return null
    try {
      while (this.#broken === null && this.#sent < size) {
        while (this.#inFlight.size >= S3_PART_CONCURRENCY) await Promise.race(this.#inFlight)
        await this.#sendPart(Math.min(this.partSize, size - this.#sent))
      }
      await Promise.allSettled([...this.#inFlight])
      if (this.#broken !== null) {
        await this.abort(this.#broken)
        return null
      }
      const digest = this.#hash.digest('hex')
      if (digest !== sha256) throw new Error(`the spooled body of ${this.dataKey} is not the verified one (sha256 ${digest}, committed ${sha256})`)
      const uploadId = await (this.#uploadId as Promise<string>)
      await this.#bucket.completeMultipart(this.dataKey, uploadId, [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber))
    } catch (err) {
      await this.abort(err instanceof Error ? err.message : String(err))
      throw err
    }
    return { dataETag: await this.#bucket.completedETag(this.dataKey, size) }
  }
}
