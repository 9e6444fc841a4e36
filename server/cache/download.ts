// One upstream transfer of one cache key, shared by every client that wants it
// (docs/design.md "Request path"). It belongs to the cache, not to a client: it goes on when clients leave.
// Bytes are teed into a temp file; readers tail that file (GrowingFileReader). A dropped transfer
// is resumed with Range + If-Range, or restarted with the already-written prefix re-verified by
// hash when the upstream ignores ranges. The last byte is held back from readers until length and
// digest are verified and the body is committed, so no client ever receives a complete wrong file:
// on any failure every reader is destroyed (their connections abort) and nothing is committed.
import { createHash, type Hash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { FileHandle } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { finished, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { createGunzip } from 'node:zlib'
import CachePolicy from 'http-cache-semantics'
import type { Logger } from 'pino'
import type { CacheStore, EntryMeta, Reservation } from './cache-store.js'
import {
  CacheIoError, ChecksumMismatchError, type DsmError, isDsmError, UpstreamBadResponseError, UpstreamChangedError, UpstreamIncompleteError,
  UpstreamTooSlowError
} from '../errors.js'
import { refSlab, type Slab, SlabCopier, unrefSlab } from './chunk-slabs.js'
import type { PumpSource } from './file-pump.js'
import { GrowingFileReader, type GrowingSource, READ_CHUNK_BYTES } from './growing-file-reader.js'
import { DEFAULT_SEMANTICS, immutablePatternMayApply, newPolicy, storablePolicyObject, varyNames, type SemanticsOptions } from './http-semantics.js'
import { freshenedByNotModified } from './not-modified.js'
import { mapUpstreamError, type Upstream, type UpstreamResponse } from '../upstream/upstream.js'
import { UpstreamBody } from '../upstream/h1-client.js'
import type { ResumeState } from './staging.js'
import { storedHeaders } from './stored-headers.js'

/** Queue at most this much received-but-unwritten data before pausing the upstream. */
export const WRITE_HIGH_WATER_BYTES = 8 * 1024 * 1024
/**
 * Temp-file writes wait for this many queued bytes, or WRITE_BATCH_MS after the first: one
 * thread-pool round trip (and one wake-up of the readers) per batch rather than per 16 KiB TLS
 * record (issue 14). Readers see bytes once written, so this is also their largest delay.
 */
export const WRITE_BATCH_BYTES = 1024 * 1024
const WRITE_BATCH_MS = 2
/** fsync and record a resume checkpoint after this many new bytes. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024
/** Error and other small responses are buffered whole (and 404/410 remembered briefly). */
export const MAX_BUFFERED_RESPONSE_BYTES = 1024 * 1024
export const MAX_RETRY_DELAY_MS = 10_000
/**
 * A resume asks again for this many bytes before the resume point and compares them with the
 * bytes on disk: an upstream that changed the file but kept its strong ETag (which If-Range
 * trusts) would otherwise have two versions spliced into one body (issue #5).
 */
export const RESUME_OVERLAP_BYTES = 64 * 1024
/**
 * A body passed through uncached after it outgrew the room in cache.maxSize keeps at most this
 * much in memory ahead of its slowest reader; the upstream waits beyond it (issue 12 item 3).
 */
export const PASS_THROUGH_WINDOW_BYTES = 8 * 1024 * 1024
/**
 * Issue 14: the bytes just received stay in memory (the upstream's own buffers, never copied)
 * this far behind the write frontier, and pump readers (file-pump.ts) that keep up are served from
 * them; only a reader that falls further behind reads back from the temp file. One window per
 * download, whatever the number of readers.
 */
export const RECENT_WINDOW_BYTES = 4 * 1024 * 1024
/** A zip's End Of Central Directory record (22 bytes + a comment of at most 64 KiB) ends the file. */
const ZIP_EOCD_SEARCH_BYTES = 22 + 0xffff
const ZIP_EOCD_SIGNATURE = Buffer.from([0x50, 0x4b, 0x05, 0x06])

export interface ExpectedDigest {
  /**
   * `git-sha1` is a git blob id, sha1("blob <size>\\0" + bytes): what the Hugging Face Hub gives
   * as the ETag of a regular (non-LFS) file (hf-protocol.md §4.1); it needs `size`.
   */
  algorithm: 'md5' | 'sha256' | 'git-sha1'
  hex: string
  /** The body's length; required for git-sha1, whose hash starts with it. */
  size?: number
}

/** The hash a non-sha256 digest is checked with (sha256 is always computed: EntryMeta.sha256). */
function digestHash (digest: ExpectedDigest | null): Hash | null {
  if (digest?.algorithm === 'md5') return createHash('md5')
  if (digest?.algorithm === 'git-sha1') return createHash('sha1').update(`blob ${digest.size ?? 0}\0`)
  return null
}

export type DownloadOutcome =
  /** Streaming into the cache: read it with createReader(). */
  | { kind: 'body' }
  /** A revalidation answered 304: the stored entry (metadata refreshed) is current. */
  | { kind: 'not-modified'; meta: EntryMeta }
  /**
   * A small non-200 answer, buffered so every waiting client gets it; `policy` judges whether it
   * may be shared and for how long (negative caching, issue #13 item 8); null when the upstream
   * sent conflicting single-value fields (never stored).
   */
  | { kind: 'response'; status: number; headers: Record<string, string | string[]>; body: Buffer; policy: CachePolicy | null }
  /**
   * Not storable: only the first client gets this response; others must fetch for themselves.
   * `detail` is the RFC 9211 token when the reason is the cache's, not the response's
   * (`no-space`: no room under cache.maxSize or on the disk; `cache-unwritable`: tmp/ refused it).
   */
  | { kind: 'uncacheable'; reason: string; response: UpstreamResponse; detail?: 'no-space' | 'cache-unwritable' }

export interface DownloadOptions {
  key: string
  url: URL
  /** Only its request() is used: a cluster follower's is the leader's peer listener (server/cluster/). */
  upstream: Pick<Upstream, 'request'>
  store: CacheStore
  /** Headers sent upstream. */
  headers: Record<string, string>
  /**
   * The client's If-None-Match / If-Modified-Since on a miss (issue #13 item 5): sent with the
   * first request only, never with a resume (a 304 there would not be the body's next bytes).
   */
  missConditionals?: Record<string, string>
  /** The client request the cache policy is evaluated for (RFC 9111 storability, Vary). */
  policyRequest: CachePolicy.Request
  /** The URL matches cache.immutable; whether the response lets the pattern apply is judged on arrival. */
  immutable: boolean
  /** How upstream caching fields are read (server/cache/http-semantics.ts); default: RFC 9111 alone. */
  semantics?: SemanticsOptions
  digest: ExpectedDigest | null
  retries: number
  retryDelay: number
  /** A stale entry to revalidate with its validators. */
  revalidate: EntryMeta | null
  log: Logger
  now: () => number
  /**
   * upstream.timeouts.minRate: fewer than bytesPerSecond × windowMs / 1000 bytes in any window
   * of a body is a dropped transfer (issue 12 item 8). Absent or 0: no minimum.
   */
  minRate?: { bytesPerSecond: number; windowMs: number }
  /**
   * The key names the content (a Hugging Face blob: its sha256 or git blob id, checked by
   * `digest`), not a URL's response: the upstream's caching headers (a signed CDN URL's
   * `private`, the Authorization of a gated repo's caller) do not decide whether it is kept.
   * Access to it is checked by the front door before it is served (issue 11 item 6).
   */
  contentAddressed?: boolean
}

type State = 'starting' | 'streaming' | 'committed' | 'failed'

export class Download extends EventEmitter implements GrowingSource {
  readonly key: string
  readonly url: URL
  readonly startedAt: number
  readonly #opts: DownloadOptions
  readonly #abort = new AbortController()
  /** The current request only: the rate watchdog drops one transfer, not the download. */
  #attempt = new AbortController()
  #cancelled: DsmError | null = null
  #state: State = 'starting'
  #error: DsmError | null = null
  #outcome: Promise<DownloadOutcome> | null = null
  #handle: FileHandle | null = null
  #refs = 0
  #size: number | null = null
  #written = 0
  #checkpointed = 0
  #checkpointing = false
  #queue: Buffer[] = []
  #queuedBytes = 0
  #writing: Promise<void> | null = null
  /** Starts the next write when a batch did not fill up in time (WRITE_BATCH_MS). */
  #flushTimer: NodeJS.Timeout | null = null
  #writeError: unknown = null
  #sha256: Hash = createHash('sha256')
  /** The digest's own hash when it is not sha256 (md5, git-sha1). */
  #md5: Hash | null = null
  /** Room the store promised this body, grown as bytes are staged (cache-store.ts Reservation). */
  #room: Reservation | null = null
  /** The first response declared Content-Length: only then may the body be kept as immutable. */
  #lengthDeclared = false
  /** cache.immutable applies: the URL matches and the response said nothing explicit (issue #13 item 11). */
  #immutable = false
  /** The end of a length-less body was confirmed upstream (a 416 `bytes *\/N` to `Range: bytes=N-`). */
  #endConfirmed = false
  /** Whether the committed body went into the cache (false: served, not kept). */
  #cached = false
  /**
   * Pass-through (issue 12 item 3): set at the offset where bytes stopped going to disk. From
   * there on the body lives only in #tail, a window kept until every reader (#cursors) passed it.
   */
  #tailFrom: number | null = null
  #tail: Buffer[] = []
  #tailStart = 0
  #tailEnd = 0
  readonly #cursors = new Set<{ position: number }>()
  /** Chunks received and staged (issue 14): bytes [#recentStart, #written + #queuedBytes). */
  #recent: Array<{ view: Buffer; slab: Slab | null }> = []
  #recentStart = 0
  #recentBytes = 0
  readonly #slabs = new SlabCopier()
  #headers: Record<string, string | string[]> = {}
  #policy: CachePolicy | null = null
  #etag: string | null = null
  #lastModified: string | null = null
  #closing = false
  #durable: Promise<void> = Promise.resolve()

  constructor (opts: DownloadOptions) {
    super()
    this.setMaxListeners(0)
    this.key = opts.key
    this.url = opts.url
    this.#opts = opts
    this.startedAt = opts.now()
    this.#md5 = digestHash(opts.digest)
  }

  /** Starts the transfer once; every caller gets the same outcome. */
  start (): Promise<DownloadOutcome> {
    this.#outcome ??= this.#begin()
    return this.#outcome
  }

  get state (): State { return this.#state }
  get written (): number { return this.#written }
  get size (): number | null { return this.#size }
  get headers (): Record<string, string | string[]> { return this.#headers }
  /** The client request this download was started for (what joining clients are compared with). */
  get policyRequest (): CachePolicy.Request { return this.#opts.policyRequest }
  /** The response's age in seconds as the policy counts it (upstream Age included, RFC 9111 §4.2.3); 0 before headers. */
  get age (): number { return this.#policy === null ? 0 : Math.max(0, Math.floor(this.#policy.age())) }
  get etag (): string | null { return this.#etag }
  /** True once the body stopped going to disk: it is served, never cached, and nobody new may join. */
  get passingThrough (): boolean { return this.#tailFrom !== null }
  /** Whether a committed download left an entry in the cache. */
  get cached (): boolean { return this.#cached }
  get lastModified (): string | null { return this.#lastModified }

  // GrowingSource: what readers see.
  get fd (): number {
    if (this.#handle === null) throw new Error('download has no file yet')
    return this.#handle.fd
  }

  available (): number {
    if (this.#tailFrom !== null) return this.#tailFrom
    if (this.#state === 'committed') return this.#written
    // Hold back the last byte until length and digest are verified and the body is published:
    // a client can never finish a body that later turns out wrong or short. Durability (fsync)
    // does not hold clients back: it runs at disk speed, after they are served.
    return Math.max(0, this.#written - 1)
  }

  finalSize (): number | null {
    if (this.#state === 'committed') return this.#tailFrom !== null ? this.#tailEnd : this.#written
    return this.#size
  }

  failure (): Error | null { return this.#error }

  subscribe (listener: () => void): () => void {
    this.on('change', listener)
    return () => this.off('change', listener)
  }

  ref (): void { this.#refs++ }

  unref (): void {
    if (--this.#refs === 0 && this.#handle !== null) {
      const handle = this.#handle
      this.#handle = null
      void handle.close().catch(() => {})
    }
  }

  /** The download as a PumpSource (file-pump.ts): reads wait for bytes still to arrive. */
  pumpSource (): PumpSource {
    return {
      ready: async (position) => await new Promise<number>((resolve, reject) => {
        const check = (): boolean => {
          const available = this.available()
          if (available > position) resolve(available - position)
          else if (this.#error !== null) reject(this.#error)
          else return false
          return true
        }
        if (check()) return
        const listener = (): void => { if (check()) this.off('change', listener) }
        this.on('change', listener)
      }),
      read: async (buffer, length, position) => {
        // The caller holds a ref (serveDownload), so the handle stays open while it reads.
        if (this.#handle === null) throw new Error('download file closed under a reader')
        return (await this.#handle.read(buffer, 0, length, position)).bytesRead
      },
      view: (position, length) => this.#view(position, length),
      // Tailing readers get the bytes just written, a few KiB at a time: small buffers (file-pump.ts).
      complete: () => this.#state === 'committed'
    }
  }

  /**
   * Up to `length` bytes at `position` as views of the chunks still in memory, never past what
   * readers may see (available(): on disk, the last byte held back); null when `position` is
   * not in the window (the reader fell behind, or the body is settled). The slabs viewed are not
   * reused until `release` (chunk-slabs.ts).
   */
  #view (position: number, length: number): { parts: Buffer[]; release: () => void } | null {
    if (position < this.#recentStart || this.#recent.length === 0) return null
    const stop = Math.min(position + length, this.available())
    if (stop <= position) return null
    const parts: Buffer[] = []
    const slabs: Slab[] = []
    let at = this.#recentStart
    for (const { view, slab } of this.#recent) {
      const next = at + view.length
      if (next > position) {
        const from = Math.max(position, at)
        const to = Math.min(stop, next)
        parts.push(from === at && to === next ? view : view.subarray(from - at, to - at))
        if (slab !== null && slabs.at(-1) !== slab) {
          refSlab(slab)
          slabs.push(slab)
        }
        if (to >= stop) break
      }
      at = next
    }
    if (parts.length === 0) return null
    return { parts, release: () => { for (const slab of slabs) unrefSlab(slab) } }
  }

  /** Keeps bytes just queued for the disk in the window (issue 14), merged with the last entry when they follow it in one slab. */
  #remember (view: Buffer, slab: Slab | null): void {
    const last = this.#recent.at(-1)
    const merged = last !== undefined && slab !== null && last.slab === slab ? joined(last.view, view) : null
    if (last !== undefined && merged !== null) last.view = merged
    else this.#recent.push({ view, slab })
    this.#recentBytes += view.length
  }

  /** Drops window entries that are on disk and more than RECENT_WINDOW_BYTES behind the frontier. */
  #trimRecent (): void {
    for (;;) {
      const first = this.#recent[0]
      if (first === undefined || this.#recentStart + first.view.length > this.#written || this.#recentBytes - first.view.length < RECENT_WINDOW_BYTES) break
      this.#recent.shift()
      this.#recentStart += first.view.length
      this.#recentBytes -= first.view.length
    }
    this.#slabs.retireBefore(this.#recentStart)
  }

  /** Empties the window; its slabs go back to the pool once no reader's socket holds them. */
  #forget (from: number): void {
    this.#recent = []
    this.#recentStart = from
    this.#recentBytes = 0
    this.#slabs.retireAll()
  }

  /** A stream of bytes [start, endInclusive] (or to the end) that follows the download. */
  createReader (start: number, endInclusive: number | null): Readable {
    // A declared length is admitted whole (DiskStore.admit) and never passes through mid-way.
    if (this.#size !== null && this.#tailFrom === null) return new GrowingFileReader(this, start, endInclusive)
    // A length-less body may stop going to disk: the file part ends where it stopped (the view's
    // final size), the rest comes from the in-memory window. Registered now, not at the first
    // read, so the window is kept for a reader that has not started yet.
    const cursor = { position: start }
    this.#cursors.add(cursor)
    const view: GrowingSource = {
      get fd () { return download.fd },
      available: () => download.available(),
      finalSize: () => download.#tailFrom ?? download.finalSize(),
      failure: () => download.failure(),
      subscribe: (listener) => download.subscribe(listener),
      ref: () => { download.ref() },
      unref: () => { download.unref() }
    }
    const download = this
    const end = endInclusive === null ? Number.POSITIVE_INFINITY : endInclusive + 1
    const stream = Readable.from((async function * () {
      try {
        for await (const chunk of new GrowingFileReader(view, start, endInclusive) as AsyncIterable<Buffer>) {
          cursor.position += chunk.length
          download.#advanced()
          yield chunk
        }
        for (;;) {
          const chunk = await download.#tailRead(cursor.position, end)
          if (chunk === null) return
          cursor.position += chunk.length
          download.#advanced()
          yield chunk
        }
      } finally {
        download.#cursors.delete(cursor)
        download.#advanced()
      }
    })(), { objectMode: false, highWaterMark: READ_CHUNK_BYTES })
    // A reader destroyed before its first read never runs the generator's finally.
    stream.once('close', () => {
      download.#cursors.delete(cursor)
      download.#advanced()
    })
    return stream
  }

  /** Bytes of the pass-through window at `position` (before `end`); null at the end of the body or range. */
  async #tailRead (position: number, end: number): Promise<Buffer | null> {
    for (;;) {
      const final = this.finalSize()
      if (position >= end || (final !== null && position >= final)) return null
      if (this.#error !== null) throw this.#error
      if (this.#tailFrom !== null && position < this.#tailStart) throw new Error(`pass-through window moved past byte ${position}`)
      // The last byte waits for the end of the body, as on disk (available()).
      const readable = this.#state === 'committed' ? this.#tailEnd : this.#tailEnd - 1
      if (this.#tailFrom !== null && position < readable) {
        const parts: Buffer[] = []
        let at = this.#tailStart
        const stop = Math.min(end, readable)
        for (const chunk of this.#tail) {
          const from = Math.max(position, at)
          const to = Math.min(stop, at + chunk.length)
          if (to > from) parts.push(chunk.subarray(from - at, to - at))
          at += chunk.length
          if (at >= stop) break
        }
        return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts)
      }
      await new Promise<void>((resolve) => { this.once('change', resolve) })
    }
  }

  /** A reader moved on: drop window bytes every reader has passed, and wake a waiting upstream. */
  #advanced (): void {
    if (this.#tailFrom === null) return
    let lowest = this.#tailEnd
    for (const cursor of this.#cursors) lowest = Math.min(lowest, cursor.position)
    while (this.#tail.length > 0 && this.#tailStart + (this.#tail[0] as Buffer).length <= lowest) {
      this.#tailStart += (this.#tail.shift() as Buffer).length
    }
    this.emit('advanced')
  }

  /** Resolves once a committed body is also durable (fsynced, metadata written); never rejects. */
  durable (): Promise<void> {
    return this.#durable
  }

  /** Waits until the download is committed (resolves) or failed (rejects). */
  async settled (): Promise<void> {
    if (this.#state === 'committed') return
    if (this.#state === 'failed') throw this.#error
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.#state === 'committed') { this.off('change', check); resolve() }
        if (this.#state === 'failed') { this.off('change', check); reject(this.#error) }
      }
      this.on('change', check)
    })
  }

  /**
   * Stops the transfer for good (an operator's DELETE, or no client for cache.orphanTimeout):
   * nothing is kept, readers are aborted with `reason`, clients still waiting for the headers
   * get it as their error. False when the download had already ended.
   */
  cancel (reason: DsmError): boolean {
    if ((this.#state !== 'streaming' && this.#state !== 'starting') || this.#cancelled !== null || this.#closing) return false
    this.#cancelled = reason
    this.#abort.abort(reason)
    return true
  }

  /** Shutdown: stop the transfer, keep what was written resumable, abort the readers. */
  async close (): Promise<void> {
    if (this.#state !== 'streaming' && this.#state !== 'starting') return
    this.#closing = true
    this.#abort.abort()
    await this.settled().catch(() => {})
  }

  async #begin (): Promise<DownloadOutcome> {
    const { store, revalidate } = this.#opts
    const resume = revalidate === null ? store.staging.takeResumable(this.key) : undefined
    try {
      if (resume !== undefined) {
        const resumed = await this.#resumeFromDisk(resume)
        if (resumed !== null) return resumed
      }
      const headers = { ...this.#opts.headers, ...(revalidate === null ? this.#opts.missConditionals : {}) }
      if (revalidate !== null) {
        if (revalidate.etag !== null) headers['if-none-match'] = revalidate.etag
        if (revalidate.lastModified !== null) headers['if-modified-since'] = revalidate.lastModified
      }
      const res = await this.#request(headers)
      return await this.#classify(res, revalidate !== null)
    } catch (err: unknown) {
      const mapped = this.#cancelled ?? mapUpstreamError(err, this.url)
      this.#fail(mapped, this.#cancelled !== null)
      throw mapped
    }
  }

  #request (headers: Record<string, string>): Promise<UpstreamResponse> {
    this.#attempt = new AbortController()
    const signal = AbortSignal.any([this.#abort.signal, this.#attempt.signal])
    return this.#opts.upstream.request(this.url, { method: 'GET', headers, signal, coldPath: true })
  }

  async #classify (res: UpstreamResponse, conditional: boolean): Promise<DownloadOutcome> {
    const { revalidate } = this.#opts
    if (res.status === 304 && revalidate !== null && conditional) {
      res.body.resume()
      const meta = freshenedByNotModified(revalidate, this.#opts.policyRequest, res.headers, this.#opts.now(), this.#opts.semantics)
      // A 304 about another response: fetch the representation afresh, unconditionally.
      if (meta === null) return await this.#classify(await this.#request({ ...this.#opts.headers }), false)
      await this.#opts.store.updateMeta(meta)
      this.#settle('committed')
      return { kind: 'not-modified', meta }
    }
    if (res.status === 206) {
      // Issue #13 item 10: an upstream that answers the client's Range itself (a scripted or
      // range-only origin) is passed to that client as it came, never kept as the whole object.
      if (this.#opts.policyRequest.headers.range !== undefined) return await this.#uncacheable('it answered 206 Partial Content; a part is not stored as the whole object', res)
      res.body.resume()
      throw new UpstreamBadResponseError(this.url.href, 'it answered 206 Partial Content to a request without Range')
    }
    if (res.status !== 200) return await this.#bufferResponse(res)

    const headers = res.headers
    const semantics = this.#opts.semantics ?? DEFAULT_SEMANTICS
    const policy = newPolicy(this.#opts.policyRequest, 200, headers, semantics)
    // A content-addressed body (issue 11) is stored whatever the upstream's cache headers say:
    // its key is its digest, checked before commit.
    const notStorable = this.#opts.contentAddressed === true
      ? null
      : headers['set-cookie'] !== undefined
        ? 'the response sets a cookie'
        : res.conflicts !== undefined
          ? `it repeats ${res.conflicts.join(', ')} with different values (RFC 9110 §5.5)`
          : varyNames(headers).includes('*')
            ? 'it varies on everything (Vary: *)'
            : !policy.storable() ? 'the response is not storable (Cache-Control no-store/private, or Authorization)' : null
    const length = parseLength(headers['content-length'])
    const { store } = this.#opts
    if (notStorable !== null) return await this.#uncacheable(notStorable, res, true)
    if (length !== null && !store.fits(length)) {
      return await this.#uncacheable(`it is larger than cache.maxSize (${length} bytes)`, res, true)
    }
    // Promised, not evicted for (issue 12 item 2): entries go only as bytes are written. A
    // length-less body starts with an empty promise that grows as it is written.
    const room = await store.reserve(length ?? 0, { checkFreeSpace: length !== null })
    if (typeof room === 'string') {
      const why = room === 'quota' ? 'downloads in flight and pinned entries hold the room under cache.maxSize' : 'the cache filesystem has no room for it'
      return await this.#uncacheable(`${why} (${length ?? 0} bytes)`, res, true, 'no-space')
    }
    this.#room = room
    this.#size = length
    this.#lengthDeclared = length !== null
    this.#policy = policy
    this.#immutable = this.#opts.immutable && immutablePatternMayApply(headers, semantics)
    this.#headers = storedHeaders(headers)
    this.#etag = headerValue(headers.etag)
    this.#lastModified = headerValue(headers['last-modified'])
    try {
      this.#handle = await store.staging.open(this.key)
    } catch (err: unknown) {
      // A read-only or unusable cache dir: the upstream can still serve this client (issue 12 item 11).
      return this.#passThroughBeforeFirstByte(res, null, err)
    }
    this.#refs = 1
    // The first bytes go to disk before any client is answered, so a disk that refuses them
    // still leaves time to pass the response through uncached (issue 12 item 11).
    let first: Buffer | null = null
    try {
      first = await firstChunk(res.body)
    } catch {
      // A body that fails before its first byte is the pump's to retry, as before.
    }
    if (first !== null) {
      try {
        await this.#writeFirst(first)
      } catch (err: unknown) {
        return this.#passThroughBeforeFirstByte(res, first, err)
      }
    }
    this.#settle('streaming')
    // Counted once streaming, like every later write: bytes present at the start of streaming
    // are a resumed prefix to the observers (metrics), not upstream traffic.
    if (first !== null) {
      this.#written = first.length
      this.#recent = [{ view: first, slab: null }]
      this.#recentBytes = first.length
      this.emit('change')
    }
    void this.#pump(res.body, 0)
    return { kind: 'body' }
  }

  /** Writes the first chunk at offset 0, making room for it; on ENOSPC evicts and retries once. */
  async #writeFirst (chunk: Buffer): Promise<void> {
    if (!this.#account(chunk.length)) throw new CacheIoError(this.#opts.store.staging.path(this.key), 'no room under cache.maxSize')
    const handle = this.#handle
    if (handle === null) throw new Error('temp file closed before the first write')
    const write = async (): Promise<void> => {
      let done = 0
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done, done)).bytesWritten
    }
    try {
      await write()
    } catch (err: unknown) {
      if (!isNoSpace(err) || this.#room === null || !await this.#room.reclaim(chunk.length)) throw err
      await write()
    }
    this.#sha256.update(chunk)
    this.#md5?.update(chunk)
  }

  /** The temp file could not take the first bytes: this client gets the upstream response, nothing is kept. */
  async #passThroughBeforeFirstByte (res: UpstreamResponse, first: Buffer | null, err: unknown): Promise<DownloadOutcome> {
    const { store, log } = this.#opts
    const detail = isNoSpace(err) ? 'no-space' : 'cache-unwritable'
    log.warn({ key: this.key, url: this.url.href, err, detail }, 'cache could not store the download; passing it through uncached')
    if (this.#handle !== null) {
      const handle = this.#handle
      this.#handle = null
      this.#refs = 0
      await handle.close().catch(() => {})
    }
    await store.staging.remove(this.key).catch(() => {})
    this.#releaseSpace()
    const rest = res.body
    const body = first === null ? rest : Readable.from((async function * () { yield first; yield * rest as AsyncIterable<Buffer> })(), { objectMode: false })
    return await this.#uncacheable(`the cache could not store it (${err instanceof Error ? err.message : String(err)})`, { ...res, body }, true, detail)
  }

  /**
   * Accounts `bytes` about to be staged: within this download's promise, or promised now for a
   * length-less body, then made room for (Reservation.use). False: no room.
   */
  #account (bytes: number): boolean {
    return this.#room?.use(bytes) ?? false
  }

  async #uncacheable (reason: string, response: UpstreamResponse, supersedes = false, detail?: 'no-space' | 'cache-unwritable'): Promise<DownloadOutcome> {
    // A revalidation answered with a new 200 that will not be kept: the stored copy is no longer
    // the current representation, so it must not be served again, not even stale when the
    // upstream later fails (serveStale). A pinned copy stays: the operator asked to keep it.
    const { revalidate, store } = this.#opts
    if (supersedes && revalidate !== null && (await store.peek(this.key))?.pinned !== true) {
      await store.delete(this.key)
      this.#opts.log.info({ url: this.url.href, reason }, 'revalidation got a response that is not stored; the old copy is dropped')
    }
    this.#settle('failed')
    return { kind: 'uncacheable', reason, response, ...(detail !== undefined ? { detail } : {}) }
  }

  async #bufferResponse (res: UpstreamResponse): Promise<DownloadOutcome> {
    const length = parseLength(res.headers['content-length'])
    if (length !== null && length > MAX_BUFFERED_RESPONSE_BYTES) return await this.#uncacheable(`status ${res.status}`, res)
    const chunks: Buffer[] = []
    let total = 0
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      total += chunk.length
      if (total > MAX_BUFFERED_RESPONSE_BYTES) {
        const rest = res.body
        const body = Readable.from((async function * () { yield * chunks; yield * rest as AsyncIterable<Buffer> })())
        return await this.#uncacheable(`status ${res.status}`, { ...res, body })
      }
    }
    this.#settle('failed')
    const policy = res.conflicts === undefined ? newPolicy(this.#opts.policyRequest, res.status, res.headers, this.#opts.semantics) : null
    return { kind: 'response', status: res.status, headers: storedHeaders(res.headers), body: Buffer.concat(chunks), policy }
  }

  /** An interrupted download found at start: re-hash its prefix and continue from it. */
  async #resumeFromDisk (resume: ResumeState): Promise<DownloadOutcome | null> {
    const { store, log } = this.#opts
    this.#handle = await store.staging.open(this.key, resume.durable)
    this.#refs = 1
    for await (const chunk of createReadStream(store.staging.path(this.key), { end: resume.durable - 1, highWaterMark: 1024 * 1024 })) {
      this.#sha256.update(chunk as Buffer)
      this.#md5?.update(chunk as Buffer)
    }
    this.#written = resume.durable
    this.#checkpointed = resume.durable
    this.#size = resume.size
    this.#lengthDeclared = resume.size !== null
    this.#headers = resume.headers
    this.#etag = resume.etag
    this.#lastModified = resume.lastModified
    this.#policy = CachePolicy.fromObject(resume.policy as unknown as CachePolicy.CachePolicyObject)
    // Checkpointed only once judged on arrival: the pattern and the response agreed then.
    this.#immutable = resume.immutable
    const promised = Math.max(resume.size ?? 0, resume.durable)
    const room = await store.reserve(promised)
    if (typeof room === 'string' || !room.use(resume.durable)) {
      if (typeof room !== 'string') room.release()
      await this.#handle.close().catch(() => {})
      this.#handle = null
      this.#refs = 0
      await store.staging.remove(this.key)
      this.#written = 0
      this.#checkpointed = 0
      this.#sha256 = createHash('sha256')
      this.#md5 = digestHash(this.#opts.digest)
      return null
    }
    this.#room = room
    log.info({ key: this.key, url: this.url.href, offset: resume.durable }, 'resuming interrupted download')
    this.#settle('streaming')
    void this.#pump(null, 0)
    return { kind: 'body' }
  }

  /** Drives the transfer to the end, resuming or restarting it after drops. */
  async #pump (first: Readable | null, attempt: number): Promise<void> {
    let body = first
    let failures = attempt
    const { retries, log } = this.#opts
    for (;;) {
      const before = this.#written
      try {
        if (body === null) body = await this.#reopen()
        await this.#consume(body)
        if (this.#size !== null && this.#written < this.#size) {
          throw new UpstreamIncompleteError(this.url.href, `the body ended after ${this.#written} of ${this.#size} bytes`)
        }
        // A length-less body that ends cleanly may still be a prefix (issue 12 item 1): without a
        // digest to check, ask the upstream where the end is.
        if (this.#size === null && this.#tailFrom === null && this.#opts.digest === null) this.#endConfirmed = await this.#confirmEnd()
        break
      } catch (err: unknown) {
        body = null
        await this.#drainWrites().catch(() => {})
        if (this.#cancelled !== null) return this.#fail(this.#cancelled, true)
        if (this.#closing) return await this.#suspend()
        // Past the disk a dropped transfer cannot be resumed: the bytes it would splice onto are gone.
        if (this.#tailFrom !== null) return this.#fail(toDsm(err, this.url), true)
        if (isFatal(err)) return this.#fail(toDsm(err, this.url), true)
        // A transfer dropped for trickling made progress, but not enough to count as progress:
        // otherwise an upstream that always trickles would be resumed for ever.
        const progressed = this.#written > before && !(isDsmError(err) && err.code === 'DSM_UPSTREAM_TOO_SLOW')
        failures = progressed ? 1 : failures + 1
        if (failures > retries) {
          const detail = err instanceof Error ? err.message : String(err)
          return this.#fail(new UpstreamIncompleteError(this.url.href, `${retries} retries without progress; last error: ${detail}`), true)
        }
        const delay = Math.min(MAX_RETRY_DELAY_MS, this.#opts.retryDelay * 2 ** (failures - 1))
        log.warn({ key: this.key, url: this.url.href, offset: this.#written, failures, delay, err }, 'upstream transfer dropped; resuming')
        await sleep(delay * (0.75 + Math.random() * 0.5), undefined, { signal: this.#abort.signal }).catch(() => {})
        if (this.#cancelled !== null) return this.#fail(this.#cancelled, true)
        if (this.#closing) return await this.#suspend()
      }
    }
    await this.#complete()
  }

  /**
   * After a length-less body ended at N bytes: `Range: bytes=N-` with `If-Range` (RFC 9110
   * §13.1.5, §14.4) must answer 416 `bytes *\/N` for N to be the end. More bytes (a 206, or a
   * 416 with a larger length) throw, and the pump resumes the body; anything else (no validator,
   * a 200, a network error) leaves the end unconfirmed: the body is served but not kept.
   */
  async #confirmEnd (): Promise<boolean> {
    const validator = this.#etag !== null && !this.#etag.startsWith('W/') ? this.#etag : this.#lastModified
    if (validator === null) return false
    let res: UpstreamResponse
    try {
      res = await this.#request({ ...this.#opts.headers, range: `bytes=${this.#written}-`, 'if-range': validator })
    } catch (err: unknown) {
      this.#opts.log.warn({ key: this.key, url: this.url.href, err }, 'could not confirm the end of a body without Content-Length')
      return false
    }
    // Only the status and Content-Range count. undici's dump() reads a little and then closes the
    // body without the 'Request aborted' error a plain destroy() raises (uncaught, it would crash).
    await discard(res.body)
    const range = headerValue(res.headers['content-range'])
    if (res.status === 416) {
      const total = range === null ? null : /^bytes \*\/(\d+)$/.exec(range)?.[1]
      if (total !== undefined && total !== null && Number(total) === this.#written) return true
      if (total !== undefined && total !== null && Number(total) > this.#written) {
        throw new UpstreamIncompleteError(this.url.href, `the body ended after ${this.#written} of ${total} bytes`)
      }
      return false
    }
    if (res.status === 206 && parseContentRange(range)?.start === this.#written) {
      throw new UpstreamIncompleteError(this.url.href, `the body ended after ${this.#written} bytes, but the upstream has more`)
    }
    return false
  }

  /**
   * A new body continuing at #written: a 206 to Range + If-Range (starting RESUME_OVERLAP_BYTES
   * early, the overlap compared with the disk), or a full 200 whose prefix is re-verified.
   */
  async #reopen (): Promise<Readable> {
    const headers = { ...this.#opts.headers }
    const validator = this.#etag !== null && !this.#etag.startsWith('W/') ? this.#etag : this.#lastModified
    const from = Math.max(0, this.#written - RESUME_OVERLAP_BYTES)
    let overlap: Buffer | null = null
    if (validator !== null && this.#written > 0 && this.#handle !== null) {
      overlap = Buffer.alloc(this.#written - from)
      const { bytesRead } = await this.#handle.read(overlap, 0, overlap.length, from)
      if (bytesRead !== overlap.length) throw new CacheIoError(this.#opts.store.staging.path(this.key), `read ${bytesRead} of ${overlap.length} bytes at ${from}`)
      headers.range = `bytes=${from}-`
      headers['if-range'] = validator
    }
    const res = await this.#request(headers)
    if (res.status === 206 && overlap !== null) {
      const range = parseContentRange(headerValue(res.headers['content-range']))
      if (range === null || range.start !== from || (this.#size !== null && range.total !== this.#size)) {
        res.body.resume()
        throw new UpstreamChangedError(this.url.href, `a resumed range answered '${headerValue(res.headers['content-range']) ?? 'no Content-Range'}' for offset ${from}`)
      }
      this.#size ??= range.total
      return this.#skipOverlap(res.body, overlap, from)
    }
    if (res.status === 200) {
      const length = parseLength(res.headers['content-length'])
      if (this.#size !== null && length !== null && length !== this.#size) {
        res.body.resume()
        throw new UpstreamChangedError(this.url.href, `its length changed from ${this.#size} to ${length} bytes`)
      }
      return this.#skipVerifiedPrefix(res.body)
    }
    res.body.resume()
    throw new UpstreamChangedError(this.url.href, `resuming at byte ${this.#written} answered status ${res.status}`)
  }

  /** A resumed range: its first bytes must equal the `overlap` already on disk at `from`. */
  #skipOverlap (body: Readable, overlap: Buffer, from: number): Readable {
    const url = this.url.href
    let seen = 0
    return Readable.from((async function * () {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (seen >= overlap.length) {
          yield chunk
          continue
        }
        const take = Math.min(chunk.length, overlap.length - seen)
        if (!chunk.subarray(0, take).equals(overlap.subarray(seen, seen + take))) {
          body.destroy()
          throw new UpstreamChangedError(url, `a resumed range differs from the bytes already received near offset ${from + seen}, under the same validator`)
        }
        seen += take
        if (take < chunk.length) yield chunk.subarray(take)
      }
    })())
  }

  /**
   * The upstream ignored the range (or has no validator): it sends the whole body again. The
   * first #written bytes must hash to what is already on disk, or the content changed under us.
   */
  #skipVerifiedPrefix (body: Readable): Readable {
    const prefixLength = this.#written
    const expected = this.#sha256.copy().digest('hex')
    const check = createHash('sha256')
    let seen = 0
    const url = this.url.href
    return Readable.from((async function * () {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (seen >= prefixLength) {
          yield chunk
          continue
        }
        const take = Math.min(chunk.length, prefixLength - seen)
        check.update(chunk.subarray(0, take))
        seen += take
        if (seen === prefixLength && check.digest('hex') !== expected) {
          throw new UpstreamChangedError(url, 'a restarted transfer sent different bytes than the first attempt')
        }
        if (take < chunk.length) yield chunk.subarray(take)
      }
      // A restarted body that ends inside the prefix verified nothing: without a Content-Length
      // its clean end would otherwise pass for the end of the object.
      if (seen < prefixLength) {
        throw new UpstreamChangedError(url, `a restarted transfer ended after ${seen} bytes, before the ${prefixLength} already received`)
      }
    })())
  }

  async #consume (body: Readable): Promise<void> {
    const watchdog = this.#watchRate(body)
    try {
      await this.#consumeChunks(body, watchdog)
    } catch (err: unknown) {
      throw watchdog.error ?? err
    } finally {
      watchdog.stop()
    }
  }

  /**
   * Issue 12 item 8: the idle timeout only sees silence, so one byte a second holds a download
   * (its socket, its reservation, every joined client) for ever. Fewer than minRate × window
   * bytes in a window drops the transfer, which is then resumed like any other drop.
   */
  #watchRate (body: Readable): { received: number; error: DsmError | null; stop: () => void } {
    const state = { received: 0, error: null as DsmError | null, stop: () => {} }
    const { bytesPerSecond = 0, windowMs = 0 } = this.#opts.minRate ?? {}
    if (bytesPerSecond <= 0 || windowMs <= 0) return state
    const minimum = Math.ceil(bytesPerSecond * windowMs / 1000)
    const attempt = this.#attempt
    const timer = setInterval(() => {
      if (state.received >= minimum) {
        state.received = 0
        return
      }
      clearInterval(timer)
      state.error = new UpstreamTooSlowError(this.url.host, `${state.received} bytes in ${windowMs} ms, below ${bytesPerSecond} bytes/s`)
      // Aborting the request frees undici's socket; destroying `body` (which may wrap it) ends the loop now.
      attempt.abort(state.error)
      body.destroy(state.error)
    }, windowMs)
    state.stop = () => { clearInterval(timer) }
    return state
  }

  async #consumeChunks (body: Readable, watchdog: { received: number }): Promise<void> {
    await eachChunk(body, (chunk) => {
      watchdog.received += chunk.length
      // A failed write (disk full) ends the transfer now, not after the rest of a 150 GB body.
      if (this.#writeError !== null) throw this.#writeError
      if (this.#size !== null && this.#written + this.#queuedBytes + chunk.length > this.#size) {
        throw new UpstreamBadResponseError(this.url.href, `it sent more bytes than its Content-Length of ${this.#size}`)
      }
      this.#sha256.update(chunk)
      this.#md5?.update(chunk)
      if (this.#tailFrom === null && !this.#account(chunk.length)) {
        // A declared length was admitted whole: only a pin taken meanwhile can leave no room.
        if (this.#size !== null) {
          throw new CacheIoError(this.#opts.store.staging.path(this.key), 'no room left under cache.maxSize (entries were pinned during the download)')
        }
        // Never past the quota (issue 12 item 3): what is on disk is served from there, the
        // rest from memory, and nothing is kept.
        return this.#outgrowDisk(chunk, body)
      }
      if (this.#tailFrom !== null) return this.#pushTail(Buffer.from(chunk), body)
      const at = this.#written + this.#queuedBytes
      // A dropped and resumed transfer continues at #written: the window starts again there.
      if (this.#recentStart + this.#recentBytes !== at) this.#forget(at)
      for (const { view, slab } of this.#slabs.copy(chunk, at)) {
        this.#enqueue(view)
        this.#remember(view, slab)
      }
      this.#queuedBytes += chunk.length
      this.#queueWrite()
      return this.#queuedBytes > WRITE_HIGH_WATER_BYTES ? this.#drainWrites() : undefined
    })
    await this.#drainWrites()
  }

  /** The body outgrew the room under cache.maxSize at `chunk`: the rest is passed through uncached. */
  async #outgrowDisk (view: Buffer, body: Readable): Promise<void> {
    // Copied before the first await: the cold path's chunks are views of a reused buffer (eachChunk).
    const chunk = Buffer.from(view)
    await this.#drainWrites()
    this.#tailFrom = this.#written
    this.#forget(this.#written)
    this.#tailStart = this.#written
    this.#tailEnd = this.#written
    this.#opts.log.warn({ key: this.key, url: this.url.href, onDisk: this.#written, maxSize: this.#opts.store.maxSize }, 'download outgrew the room under cache.maxSize; passing the rest through uncached')
    await this.#pushTail(chunk, body)
  }

  /**
   * Appends `chunk` (owned: kept past the call) to the pass-through window; waits while it holds
   * a window's worth ahead of the slowest reader.
   */
  async #pushTail (chunk: Buffer, body: Readable): Promise<void> {
    if (this.#cursors.size === 0) {
      throw new UpstreamIncompleteError(this.url.href, 'it outgrew the room under cache.maxSize and no client is reading it')
    }
    this.#tail.push(chunk)
    this.#tailEnd += chunk.length
    this.emit('change')
    while (this.#cursors.size > 0 && this.#tailEnd - this.#tailStart > PASS_THROUGH_WINDOW_BYTES && !this.#abort.signal.aborted) {
      await new Promise<void>((resolve) => { this.once('advanced', resolve) })
    }
  }

  /**
   * Queues `view` for the temp file, merged with the last queued view when it continues it in
   * the same slab: a batch is one or two views, not one per record that lives until written.
   */
  #enqueue (view: Buffer): void {
    const last = this.#queue.at(-1)
    const merged = last === undefined ? null : joined(last, view)
    if (merged !== null) this.#queue[this.#queue.length - 1] = merged
    else this.#queue.push(view)
  }

  /** Writes what is queued once a batch is full or WRITE_BATCH_MS passed; a running write loop takes it up itself. */
  #queueWrite (): void {
    // A closed file or a failed write takes nothing more: no timer may keep retrying either.
    if (this.#writing !== null || this.#handle === null || this.#writeError !== null) return
    if (this.#queuedBytes >= WRITE_BATCH_BYTES) this.#startWrites()
    else this.#flushTimer ??= setTimeout(() => { this.#flushTimer = null; this.#startWrites() }, WRITE_BATCH_MS).unref()
  }

  #startWrites (): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer)
    this.#flushTimer = null
    this.#writing ??= this.#writeQueued()
  }

  /** Writes everything queued, batch or not, and waits for it. */
  async #drainWrites (): Promise<void> {
    for (;;) {
      if (this.#queue.length > 0 && this.#handle !== null && this.#writeError === null) this.#startWrites()
      if (this.#writing === null) break
      await this.#writing
    }
    if (this.#writeError !== null) throw this.#writeError
  }

  /** Appends queued chunks with positional writev, reporting progress after each write. */
  async #writeQueued (): Promise<void> {
    try {
      // Nothing is written after a failed write: the bytes after it would land at the wrong offset.
      // After the first batch, only full ones: a smaller rest waits for its timer or a drain.
      let first = true
      while (this.#queue.length > 0 && (first || this.#queuedBytes >= WRITE_BATCH_BYTES) && this.#handle !== null && this.#writeError === null) {
        first = false
        let buffers = this.#queue
        this.#queue = []
        let pending = buffers.reduce((n, b) => n + b.length, 0)
        let retried = false
        while (pending > 0) {
          let bytesWritten: number
          try {
            bytesWritten = (await this.#handle.writev(buffers, this.#written)).bytesWritten
          } catch (err: unknown) {
            // A full filesystem mid-stream (issue 12 item 11): evict, retry the write once.
            if (retried || !isNoSpace(err) || this.#room === null || !await this.#room.reclaim(pending)) throw err
            retried = true
            continue
          }
          this.#written += bytesWritten
          this.#queuedBytes -= bytesWritten
          pending -= bytesWritten
          if (pending > 0) buffers = dropBytes(buffers, bytesWritten)
          this.#trimRecent()
          this.emit('change')
        }
        if (this.#written - this.#checkpointed >= CHECKPOINT_BYTES) void this.#checkpoint()
      }
    } catch (err: unknown) {
      this.#writeError = new CacheIoError(this.#opts.store.staging.path(this.key), err instanceof Error ? err.message : String(err))
      this.#queue = []
      this.#queuedBytes = 0
    } finally {
      this.#writing = null
      if (this.#queue.length > 0) this.#queueWrite()
    }
  }

  /** Makes the bytes written so far durable and records them as the resume point. */
  async #checkpoint (): Promise<void> {
    if (this.#checkpointing || this.#handle === null || this.#policy === null) return
    this.#checkpointing = true
    const durable = this.#written
    try {
      await this.#handle.datasync()
      await this.#opts.store.staging.checkpoint({
        key: this.key,
        url: this.url.href,
        etag: this.#etag,
        lastModified: this.#lastModified,
        size: this.#size,
        headers: this.#headers,
        policy: storablePolicyObject(this.#policy),
        immutable: this.#immutable,
        durable
      })
      this.#checkpointed = durable
    } catch (err: unknown) {
      this.#opts.log.warn({ err, key: this.key }, 'could not record a resume checkpoint')
    } finally {
      this.#checkpointing = false
    }
  }

  async #complete (): Promise<void> {
    const { store, digest, log } = this.#opts
    const sha256 = this.#sha256.digest('hex')
    const actual = digest !== null && digest.algorithm !== 'sha256' ? this.#md5?.digest('hex') : sha256
    if (digest !== null && actual !== digest.hex) {
      const err = new ChecksumMismatchError(this.url.href, `expected ${digest.algorithm}:${digest.hex}, got ${digest.algorithm}:${actual ?? ''}`)
      try {
        const path = await store.staging.quarantine(this.key, { url: this.url.href, expected: digest, actual, size: this.#written })
        log.error({ key: this.key, url: this.url.href, expected: digest.hex, actual, quarantined: path }, 'digest mismatch; body quarantined')
      } catch (qerr: unknown) {
        log.error({ err: qerr, key: this.key }, 'could not quarantine a body that failed its digest')
      }
      this.#fail(err, false)
      return
    }
    if (this.#tailFrom !== null) {
      // Passed through: every byte was served, none is kept (the temp file held only a prefix).
      log.info({ key: this.key, url: this.url.href, bytes: this.#tailEnd }, 'download served uncached; it did not fit under cache.maxSize')
      this.#releaseSpace()
      await store.staging.remove(this.key).catch(() => {})
      this.#settle('committed')
      this.unref()
      return
    }
    if (this.#size === null) {
      // A container that ends early is a truncated download, whatever the upstream says (issue 12 item 1).
      const broken = await checkContainer(store.staging.path(this.key), this.url).catch((err: unknown) => `it could not be read back (${err instanceof Error ? err.message : String(err)})`)
      if (broken !== null) {
        this.#fail(new UpstreamIncompleteError(this.url.href, `${broken}; the body without Content-Length ended early`), true)
        return
      }
    }
    try {
      if (this.#handle === null) throw new Error('temp file closed before commit')
      const handle = this.#handle
      const now = this.#opts.now()
      const meta: EntryMeta = {
        key: this.key,
        url: this.url.href,
        status: 200,
        headers: this.#headers,
        size: this.#written,
        sha256,
        etag: this.#etag,
        lastModified: this.#lastModified,
        fetchedAt: now,
        lastAccess: now,
        // An end known only from a 416 or a Content-Range is kept, but revalidated like any
        // mutable response, never served for good (issue 12 item 1).
        immutable: this.#immutable && (this.#lengthDeclared || digest !== null),
        policy: this.#policy === null ? {} : storablePolicyObject(this.#policy)
      }
      const verified = this.#size !== null || digest !== null || this.#endConfirmed
      if (!verified || !store.fits(meta.size)) {
        // A length-less end the upstream did not confirm (issue 12 item 1): serve it, keep nothing.
        log.warn({ key: this.key, url: this.url.href, bytes: meta.size, maxSize: store.maxSize, confirmed: verified },
          verified ? 'download larger than cache.maxSize; served but not cached' : 'the end of a body without Content-Length was not confirmed upstream; served but not cached')
        this.#releaseSpace()
        await store.staging.remove(this.key)
        this.#settle('committed')
        this.unref()
        return
      }
      if (this.#room === null) throw new Error('no room reserved before commit')
      const { durable } = await store.commit(meta, handle, this.#room)
      this.#cached = true
      // Durable after the clients are served: fsync runs at disk speed (measured 376 MB/s here
      // against 5 GB/s into the page cache), so waiting for it would cap every cold download.
      this.#durable = (async () => {
        try {
          await durable
          log.info({ key: this.key, url: this.url.href, bytes: meta.size, ms: this.#opts.now() - this.startedAt }, 'download committed')
        } catch (err: unknown) {
          log.error({ err, key: this.key }, 'could not make a served body durable; it is dropped at the next start')
        } finally {
          this.unref()
        }
      })()
      this.#settle('committed')
    } catch (err: unknown) {
      this.#fail(toDsm(err, this.url), true)
    }
  }

  /** Shutdown mid-transfer: checkpoint so a restart resumes from here, then end the readers. */
  async #suspend (): Promise<void> {
    await this.#checkpoint()
    this.#error = new UpstreamIncompleteError(this.url.href, 'dsmirror is shutting down; the download resumes after restart')
    this.#releaseSpace()
    this.#settle('failed')
    this.unref()
  }

  #fail (err: DsmError, removeTemp: boolean): void {
    if (this.#state === 'failed' || this.#state === 'committed') return
    this.#error = err
    this.#releaseSpace()
    this.#opts.log.warn({ key: this.key, url: this.url.href, code: err.code, err }, 'download failed; nothing cached')
    if (removeTemp) void this.#opts.store.staging.remove(this.key).catch(() => {})
    this.#settle('failed')
    if (this.#handle !== null) this.unref()
  }

  #releaseSpace (): void {
    this.#room?.release()
  }

  #settle (state: State): void {
    // Settled: readers still behind read the rest from the file; the window's memory goes now.
    if (state === 'committed' || state === 'failed') this.#forget(this.#written)
    this.#state = state
    this.emit('change')
  }
}

/**
 * Calls `onChunk` with each chunk of `body` as it is pushed (a view that may be reused once
 * `onChunk` returns, so anything kept is copied), pausing the body while a promise
 * `onChunk` returned is pending. Resolves at the body's end; on the first error (thrown, rejected,
 * or the body's own, premature close included) destroys the body and rejects with it.
 *
 * Issue 14: `for await` reads with `read()`, which joins whatever chunks are buffered into a new
 * Buffer (a copy, into fresh memory: what a cold miss pays most for, bench/results.md); a 'data'
 * listener gets each chunk as undici's parser pushes it. Measured alone, within the noise of
 * bench (b). Hand-written: node:stream has no "for each, with backpressure from a returned
 * promise" that does not go through the async iterator.
 */
export async function eachChunk (body: Readable, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  // The cold path's own client: its chunks are views of the connection's read buffer, valid
  // until onChunk returns (server/upstream/h1-client.ts).
  if (body instanceof UpstreamBody) {
    await body.each(onChunk)
    return
  }
  await new Promise<void>((resolve, reject) => {
    let settled = false
    const settle = (err: unknown): void => {
      if (settled) return
      settled = true
      body.off('data', onData)
      if (err === null || err === undefined) {
        resolve()
        return
      }
      // finished()'s listeners stay: undici's body reports the destroy as an error, which must not go unheard.
      body.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      if (settled) return
      let pending: void | Promise<void>
      try {
        pending = onChunk(chunk)
      } catch (err: unknown) {
        settle(err)
        return
      }
      if (pending === undefined) return
      body.pause()
      pending.then(() => { if (!settled) body.resume() }, settle)
    }
    finished(body, (err) => { settle(err ?? null) })
    body.on('data', onData)
    body.resume()
  })
}

/** The first chunk of a body that has not been read yet; null when it ends without one. */
async function firstChunk (body: Readable): Promise<Buffer | null> {
  for (;;) {
    const chunk = body.read() as Buffer | null
    if (chunk !== null) return chunk
    if (body.readableEnded || body.destroyed) {
      if (body.errored !== null) throw body.errored
      return null
    }
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        body.off('readable', done)
        body.off('end', done)
        body.off('error', done)
        body.off('close', done)
        if (err !== undefined) reject(err)
        else resolve()
      }
      body.on('readable', done)
      body.on('end', done)
      body.on('error', done)
      body.on('close', done)
    })
  }
}

async function discard (body: Readable): Promise<void> {
  const dumpable = body as Readable & { dump?: (opts?: { limit?: number }) => Promise<void> }
  if (typeof dumpable.dump === 'function') {
    await dumpable.dump({ limit: RESUME_OVERLAP_BYTES }).catch(() => {})
    return
  }
  body.on('error', () => {})
  body.destroy()
}

function isNoSpace (err: unknown): boolean {
  const code = err as { code?: unknown, cause?: { code?: unknown } } | null
  return code?.code === 'ENOSPC' || code?.code === 'EDQUOT' || code?.cause?.code === 'ENOSPC' || code?.cause?.code === 'EDQUOT'
}

/**
 * A cheap check of the container a length-less body claims to be by its name (issue 12 item 1):
 * a gzip stream must inflate to its trailer (CRC32 and ISIZE, RFC 1952 §2.2), a zip must end with
 * its End Of Central Directory record. Null when it holds (or the name says no container).
 */
async function checkContainer (path: string, url: URL): Promise<string | null> {
  const name = url.pathname.toLowerCase()
  if (name.endsWith('.gz') || name.endsWith('.tgz')) {
    try {
      // zlib reports a stream that stops before its trailer as 'unexpected end of file'.
      await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), createGunzip(), new Writable({ write: (_chunk, _encoding, callback) => { callback() } }))
      return null
    } catch (err: unknown) {
      return `its gzip stream is incomplete (${err instanceof Error ? err.message : String(err)})`
    }
  }
  if (name.endsWith('.zip')) {
    const handle = await openFile(path, 'r')
    try {
      const { size } = await handle.stat()
      const length = Math.min(size, ZIP_EOCD_SEARCH_BYTES)
      const tail = Buffer.alloc(length)
      await handle.read(tail, 0, length, size - length)
      return tail.lastIndexOf(ZIP_EOCD_SIGNATURE) === -1 ? 'its zip End Of Central Directory record is missing' : null
    } finally {
      await handle.close()
    }
  }
  return null
}

function isFatal (err: unknown): boolean {
  if (!isDsmError(err)) return false
  return ['DSM_UPSTREAM_CHANGED', 'DSM_UPSTREAM_BAD_RESPONSE', 'DSM_CACHE_IO', 'DSM_UPSTREAM_TLS', 'DSM_UPSTREAM_REDIRECT', 'DSM_UPSTREAM_FORBIDDEN_ADDRESS'].includes(err.code)
}

function toDsm (err: unknown, url: URL): DsmError {
  return isDsmError(err) ? err : mapUpstreamError(err, url)
}

function headerValue (value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? (value[0] ?? null) : value
}

function parseLength (value: string | string[] | undefined): number | null {
  const text = headerValue(value)
  if (text === null || !/^\d+$/.test(text)) return null
  return Number(text)
}

function parseContentRange (value: string | null): { start: number; end: number; total: number } | null {
  const match = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value)
  if (match === null) return null
  return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) }
}

/** One view of `a` and `b` when `b` continues `a` in the same memory (a slab); null otherwise. */
function joined (a: Buffer, b: Buffer): Buffer | null {
  return a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset ? Buffer.from(a.buffer, a.byteOffset, a.length + b.length) : null
}

function dropBytes (buffers: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = []
  let skip = count
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length
    } else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer)
      skip = 0
    }
  }
  return rest
}
