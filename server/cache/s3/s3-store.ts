// The shared store of issue 19 (docs/s3.md): N replicas, one S3-compatible bucket. Each replica's
// disk is a bounded L1 (a DiskStore of cache.maxSize under cache.dir); the bucket is L2
// (store.s3.maxSize), the bazel-remote / sccache shape (research/s3-tier.md §0). Layout (§3.5):
//   <prefix>v1/meta/<k0:2>/<k>.json     EntryMeta + {s3: {dataKey, dataETag}}: the commit point
//   <prefix>v1/data/<k0:2>/<k>/<fillId>  the body, one object per fill (no two fills share a key,
//                                       so CompleteMultipartUpload needs no condition: RGW 16
//                                       ignores one anyway)
// A body is visible in L1 the moment commit() resolves; it reaches the bucket in the background
// (the `durable` promise): upload from the staged file (already length- and sha256-checked by
// download.ts, hashed again as it is read), then the meta PUT with If-None-Match: * (If-Match for
// a replacement). A reader elsewhere never sees a data object without meta, nor meta before data.
import { createHash, randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type {
  CacheHealth, CacheStore, Commit, EntryMeta, ListPage, ListQuery, Reservation, ReserveOptions,
  ReserveRefusal, StoredBody, StoreStats, VerifyResult
} from '../cache-store.js'
import type { DiskStore } from '../disk-store.js'
import type { Staging } from '../staging.js'
import { PartSpooler, readStaged } from './part-spooler.js'
import { S3_PART_CONCURRENCY, S3Bucket } from './s3-client.js'

const MiB = 1024 * 1024
/** S3's floor for every part but the last (AWS, MinIO and RGW alike). */
export const S3_MIN_PART_BYTES = 5 * MiB
/** research §3.2: 16 MiB parts up to ~140 GiB, then L/9000 (1,000 parts of headroom under 10,000). */
export const S3_DEFAULT_PART_BYTES = 16 * MiB
const S3_TARGET_MAX_PARTS = 9000
/**
 * lastAccess in the bucket's meta is rewritten at most this often per entry (a PUT per hit would
 * cost more than the hit): bucket eviction orders by it at a 5-minute granularity across
 * replicas; within one replica the in-memory order is exact.
 */
export const S3_ACCESS_PERSIST_INTERVAL_MS = 5 * 60 * 1000
/** A data object or multipart upload no meta points at is swept once older than this (S3's clock). */
export const S3_ORPHAN_AGE_MS = 24 * 60 * 60 * 1000
/** How often each replica sweeps and re-reads the bucket's index. */
export const S3_SWEEP_INTERVAL_MS = 60 * 60 * 1000
/** /_/healthz asks the bucket at most this often. */
const S3_HEALTH_INTERVAL_MS = 5000
/** Meta GETs in flight while listing or loading the index. */
const META_CONCURRENCY = 16
/** A replacement races another replica's: retry the If-Match dance this many times. */
const META_REPLACE_ATTEMPTS = 5
/** Ranged GETs of an S3 body are this large (bounded memory per reader, fewer requests than tiny reads). */
const S3_READ_RANGE_BYTES = 8 * MiB

export function partSizeFor (size: number, minimum = S3_DEFAULT_PART_BYTES): number {
  const byCount = Math.ceil(Math.ceil(size / S3_TARGET_MAX_PARTS) / MiB) * MiB
  return Math.max(minimum, byCount)
}

interface S3Pointer {
  dataKey: string
  dataETag: string
}

interface StoredMeta extends EntryMeta {
  s3: S3Pointer
}

interface IndexEntry {
  size: number
  lastAccess: number
  /** lastAccess as last written to the bucket. */
  persistedAccess: number
  pinned: boolean
  dataKey: string
}

export interface S3TierStats {
  l1Hits: number
  s3Hits: number
  bytesUploaded: number
  uploadsAborted: number
  /** Commits not uploaded: a cluster follower's copy (the leader uploads it), or a body the bucket already held. */
  uploadsSkipped: number
  orphansSwept: number
  bucketBytes: number
  bucketEntries: number
  bucketMaxSize: number
  bucketEvictions: number
}

export interface S3StoreOptions {
  l1: DiskStore
  bucket: S3Bucket
  /** store.s3.maxSize: the budget of the bucket for every replica together. */
  maxSize: number
  log: Logger
  now?: () => number
  /** Smallest part (tests: S3_MIN_PART_BYTES, to see a multipart upload of a few MiB). */
  minPartSize?: number
  /** Periodic sweep; 0: none (tests call sweep()). */
  sweepIntervalMs?: number
}

function stripPointer (stored: StoredMeta): EntryMeta {
  const { s3: _pointer, ...meta } = stored
  return meta
}

async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }))
  return out
}

export class S3Store implements CacheStore {
  readonly l1: DiskStore
  readonly bucket: S3Bucket
  readonly bucketMaxSize: number
  readonly #log: Logger
  readonly #now: () => number
  readonly #minPartSize: number
  /** The bucket as this replica knows it, in least-recently-used-first order (Map order). */
  readonly #index = new Map<string, IndexEntry>()
  /** Per-key chain: uploads, meta rewrites and deletes of one key run in commit order. */
  readonly #chains = new Map<string, Promise<void>>()
  readonly #background = new Set<Promise<unknown>>()
  /** Data objects S3 bodies are reading: their delete waits for the last reader (the contract's "keeps its bytes"). */
  readonly #reading = new Map<string, number>()
  readonly #deferredDeletes = new Set<string>()
  readonly #tier = { l1Hits: 0, s3Hits: 0, bytesUploaded: 0, uploadsAborted: 0, uploadsSkipped: 0, orphansSwept: 0, bucketEvictions: 0 }
  /**
   * Keys this replica stages from another replica's peer listener (cluster followers): the leader
   * uploads that body, so no parts are spooled for it here (servedByPeer / leading).
   */
  readonly #peerFills = new Set<string>()
  /** Back-fills into L1 in progress: a download staging the same key stops one first (they share the staged path). */
  readonly #backfilling = new Map<string, { abort: AbortController, done: Promise<void> }>()
  /** Keys download.ts is staging through `staging` (until commit or removal): never back-filled meanwhile. */
  readonly #staged = new Set<string>()
  readonly #staging: Staging
  /** Uploads running while their download stages (part-spooler.ts), by key. */
  readonly #spools = new Map<string, PartSpooler>()
  #health: { at: number, answer: CacheHealth } | null = null
  #sweepTimer: NodeJS.Timeout | null = null
  #closed = false

  private constructor (opts: S3StoreOptions) {
    this.l1 = opts.l1
    this.bucket = opts.bucket
    this.bucketMaxSize = opts.maxSize
    this.#log = opts.log
    this.#now = opts.now ?? Date.now
    this.#minPartSize = Math.max(S3_MIN_PART_BYTES, opts.minPartSize ?? S3_DEFAULT_PART_BYTES)
    this.#staging = this.#guardedStaging(opts.l1.staging)
  }

  /**
   * L1's staging, with `open` of a key first stopping a back-fill of it (both write the key's one
   * staged path: a back-fill's old bytes must never land in a running download's file), and the
   * key then marked so no back-fill starts until it is committed or dropped.
   */
  #guardedStaging (staging: Staging): Staging {
    const staged = this.#staged
    const backfilling = this.#backfilling
    const dropSpool = (key: string): void => {
      const spool = this.#spools.get(key)
      if (spool === undefined) return
      this.#spools.delete(key)
      void this.#track(spool.abort('the staged body was dropped'))
    }
    return new Proxy(staging, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target)
        if (typeof value !== 'function') return value
        if (prop === 'open') {
          return async (key: string, from?: number) => {
            staged.add(key)
            const running = backfilling.get(key)
            if (running !== undefined) {
              running.abort.abort()
              await running.done
            }
            dropSpool(key)
            const handle = await target.open(key, from)
            if (this.#peerFills.has(key)) return handle
            const spool = new PartSpooler({
              bucket: this.bucket,
              handle,
              dataKey: this.#newDataKey(key),
              partSize: partSizeFor(0, this.#minPartSize),
              from: from ?? 0,
              log: this.#log,
              onAbort: () => { this.#tier.uploadsAborted++ }
            })
            this.#spools.set(key, spool)
            return spool.watchedHandle()
          }
        }
        if (prop === 'remove' || prop === 'forget' || prop === 'quarantine') {
          return async (key: string, ...rest: unknown[]) => {
            staged.delete(key)
            this.#peerFills.delete(key)
            dropSpool(key)
            return await (value as (key: string, ...rest: unknown[]) => Promise<unknown>).call(target, key, ...rest)
          }
        }
        return (value as (...args: unknown[]) => unknown).bind(target)
      }
    })
  }

  /** Opens the store and reads the bucket's index (a listing plus one GET per meta object). */
  static async open (opts: S3StoreOptions): Promise<S3Store> {
    const store = new S3Store(opts)
    await store.#loadIndex()
    const interval = opts.sweepIntervalMs ?? S3_SWEEP_INTERVAL_MS
    if (interval > 0) {
      store.#sweepTimer = setInterval(() => {
        store.#track(store.sweep().catch((err: unknown) => { store.#log.warn({ err }, 'S3 sweep failed; the next one retries') }))
      }, interval)
      store.#sweepTimer.unref()
    }
    return store
  }

  get #root (): string { return `${this.bucket.prefix}v1/` }
  metaKey (key: string): string { return `${this.#root}meta/${key.slice(0, 2)}/${key}.json` }
  #dataPrefix (key: string): string { return `${this.#root}data/${key.slice(0, 2)}/${key}/` }
  #keyOfMeta (objectKey: string): string | null {
    const m = /\/([0-9a-f]{64})\.json$/.exec(objectKey)
    return m === null ? null : m[1] as string
  }

  get maxSize (): number { return this.l1.maxSize }
  get stats (): StoreStats { return this.l1.stats }
  get staging (): Staging { return this.#staging }

  get tierStats (): S3TierStats {
    let bytes = 0
    for (const e of this.#index.values()) bytes += e.size
    return { ...this.#tier, bucketBytes: bytes, bucketEntries: this.#index.size, bucketMaxSize: this.bucketMaxSize }
  }

  #track<T> (p: Promise<T>): Promise<T> {
    this.#background.add(p)
    void p.finally(() => this.#background.delete(p)).catch(() => {})
    return p
  }

  /** Runs `fn` after every earlier operation on `key` (whatever their outcome). */
  #chain (key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#chains.get(key) ?? Promise.resolve()
    const run = prev.catch(() => {}).then(fn)
    const tail = run.catch(() => {})
    this.#chains.set(key, tail)
    void tail.then(() => { if (this.#chains.get(key) === tail) this.#chains.delete(key) })
    return this.#track(run)
  }

  async #loadIndex (): Promise<void> {
    const keys: string[] = []
    for await (const o of this.bucket.list(`${this.#root}meta/`)) {
      const key = this.#keyOfMeta(o.key)
      if (key !== null) keys.push(key)
    }
    const metas = await mapLimit(keys, META_CONCURRENCY, async (key) => await this.#getMeta(key))
    const found = metas.flatMap((m) => m === null ? [] : [m.meta])
    found.sort((a, b) => a.lastAccess - b.lastAccess || (a.key < b.key ? -1 : 1))
    this.#index.clear()
    for (const m of found) this.#indexSet(m)
  }

  #indexSet (m: StoredMeta): void {
    this.#index.delete(m.key)
    this.#index.set(m.key, { size: m.size, lastAccess: m.lastAccess, persistedAccess: m.lastAccess, pinned: m.pinned === true, dataKey: m.s3.dataKey })
  }

  async #getMeta (key: string): Promise<{ meta: StoredMeta, etag: string } | null> {
    const got = await this.bucket.get(this.metaKey(key))
    if (got === null) return null
    const meta = JSON.parse(got.body.toString('utf8')) as StoredMeta
    if (meta.key !== key || typeof meta.s3?.dataKey !== 'string') throw new Error(`S3 meta object ${this.metaKey(key)} is not a dsmirror entry of ${key}`)
    return { meta, etag: got.etag }
  }

  /** A use: this replica's LRU order now, the bucket's at most every S3_ACCESS_PERSIST_INTERVAL_MS. */
  #touch (key: string): void {
    const entry = this.#index.get(key)
    if (entry === undefined) return
    const now = this.#now()
    entry.lastAccess = now
    this.#index.delete(key)
    this.#index.set(key, entry)
    if (now - entry.persistedAccess < S3_ACCESS_PERSIST_INTERVAL_MS) return
    entry.persistedAccess = now
    void this.#rewriteMeta(key, (m) => ({ ...m, lastAccess: Math.max(m.lastAccess, now) })).catch((err: unknown) => {
      this.#log.debug({ err, key }, 'could not persist lastAccess to S3; kept in memory')
    })
  }

  async get (key: string): Promise<EntryMeta | undefined> {
    const local = this.l1.get(key)
    if (local !== undefined) {
      this.#touch(key)
      return local
    }
    const remote = await this.#getMeta(key)
    if (remote === null) {
      this.#index.delete(key)
      return undefined
    }
    if (!this.#index.has(key)) this.#indexSet(remote.meta)
    this.#touch(key)
    return { ...stripPointer(remote.meta), lastAccess: this.#now() }
  }

  async peek (key: string): Promise<EntryMeta | undefined> {
    const local = this.l1.peek(key)
    if (local !== undefined) return local
    const remote = await this.#getMeta(key)
    return remote === null ? undefined : stripPointer(remote.meta)
  }

  async openBody (key: string): Promise<StoredBody | null> {
    const local = await this.l1.openBody(key)
    if (local !== null) {
      this.#tier.l1Hits++
      this.#touch(key)
      return local
    }
    const remote = await this.#getMeta(key)
    if (remote === null) return null
    const { meta } = remote
    if (!this.#index.has(key)) this.#indexSet(meta)
    this.#touch(key)
    this.#tier.s3Hits++
    // The copy into L1 starts once this reader is done: run beside it, a second whole GET of the
    // object halved the client's rate (bench:s3 row 1b against 1d).
    return this.#s3Body(meta, () => { this.#startBackfill(meta) })
  }

  #startBackfill (meta: StoredMeta): void {
    const key = meta.key
    if (!this.l1.fits(meta.size) || this.#staged.has(key) || this.#backfilling.has(key) || this.l1.peek(key) !== undefined) return
    const abort = new AbortController()
    const done = this.#backfill(meta, abort.signal).catch((err: unknown) => { this.#log.debug({ err, key }, 'L1 back-fill from S3 failed or was stopped; served from S3') })
    this.#backfilling.set(key, { abort, done })
    this.#track(done.finally(() => this.#backfilling.delete(key)))
  }

  /** A StoredBody over ranged GETs of the data object, each `If-Match` its ETag; `onClosed` runs when it is closed. */
  #s3Body (stored: StoredMeta, onClosed: () => void): StoredBody {
    const { dataKey, dataETag } = stored.s3
    const bucket = this.bucket
    this.#reading.set(dataKey, (this.#reading.get(dataKey) ?? 0) + 1)
    let closed = false
    const size = stored.size
    const rangeStream = (start: number, end: number): Readable => {
      // One ranged GET per S3_READ_RANGE_BYTES: a client reading slowly never holds one S3 stream open for hours.
      const out = new PassThrough({ highWaterMark: MiB })
      void (async () => {
        for (let at = start; at <= end; at += S3_READ_RANGE_BYTES) {
          const part = await bucket.getRange(dataKey, at, Math.min(end, at + S3_READ_RANGE_BYTES - 1), dataETag)
          await pipeline(part, out, { end: false })
        }
        out.end()
      })().catch((err: unknown) => { out.destroy(err as Error) })
      return out
    }
    return {
      meta: stripPointer(stored),
      size,
      remote: true,
      read: async (buffer, length, position) => {
        const end = Math.min(size, position + length) - 1
        if (end < position) return 0
        let n = 0
        for await (const chunk of rangeStream(position, end) as AsyncIterable<Buffer>) n += chunk.copy(buffer, n)
        return n
      },
      stream: (start, endInclusive) => {
        const end = Math.min(size - 1, endInclusive ?? size - 1)
        if (end < start) return Readable.from([])
        return rangeStream(start, end)
      },
      close: async () => {
        if (closed) return
        closed = true
        if (!this.#closed) onClosed()
        const left = (this.#reading.get(dataKey) ?? 1) - 1
        if (left > 0) {
          this.#reading.set(dataKey, left)
          return
        }
        this.#reading.delete(dataKey)
        if (this.#deferredDeletes.delete(dataKey)) await this.bucket.delete(dataKey).catch(() => {})
      }
    }
  }

  /** Copies an S3 body into L1 (a replica restarted with an empty disk warms up as it serves). */
  async #backfill (stored: StoredMeta, signal: AbortSignal): Promise<void> {
    const key = stored.key
    const room = await this.l1.reserve(stored.size)
    if (typeof room === 'string') return
    let handle: FileHandle | null = null
    let committed = false
    try {
      if (!room.use(stored.size)) return
      handle = await this.l1.staging.open(key)
      const hash = createHash('sha256')
      let at = 0
      for await (const chunk of await this.bucket.getRange(stored.s3.dataKey, 0, Math.max(0, stored.size - 1), stored.s3.dataETag, signal) as AsyncIterable<Buffer>) {
        signal.throwIfAborted()
        hash.update(chunk)
        let done = 0
        while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done, at + done)).bytesWritten
        at += chunk.length
      }
      if (at !== stored.size || hash.digest('hex') !== stored.sha256) throw new Error(`S3 body of ${key} is not the committed one (${at} bytes)`)
      signal.throwIfAborted()
      if (this.l1.peek(key) !== undefined) return
      const { durable } = await this.l1.commit(stripPointer(stored), handle, room)
      committed = true
      await durable
    } finally {
      room.release()
      await handle?.close().catch(() => {})
      if (!committed && handle !== null) await this.l1.staging.remove(key).catch(() => {})
    }
  }

  fits (bytes: number): boolean {
    return this.l1.fits(bytes) && bytes <= this.bucketMaxSize
  }

  async reserve (bytes: number, opts?: ReserveOptions): Promise<Reservation | ReserveRefusal> {
    return await this.l1.reserve(bytes, opts)
  }

  /**
   * The body of `key` now comes from the leader's peer listener (server/cluster/single-flight.ts):
   * the leader uploads it, so parts spooled here would be sent twice. Stops a spool in progress.
   */
  servedByPeer (key: string): void {
    this.#peerFills.add(key)
    const spool = this.#spools.get(key)
    if (spool === undefined) return
    this.#spools.delete(key)
    void this.#track(spool.abort('another replica leads this download and uploads it'))
  }

  /** This replica took the download of `key` over: its commit uploads the body (from the file). */
  leading (key: string): void {
    this.#peerFills.delete(key)
  }

  async commit (meta: EntryMeta, staged: FileHandle, room: Reservation): Promise<Commit> {
    const spool = this.#spools.get(meta.key) ?? null
    this.#spools.delete(meta.key)
    // A follower's copy: the leader uploads the same verified body and publishes its meta, maybe
    // a moment after this commit (so a look at the bucket now could miss it). Should the leader
    // die before that, the next miss anywhere downloads it again: one more transfer, nothing wrong.
    const fromPeer = this.#peerFills.delete(meta.key)
    let local: Commit
    try {
      local = await this.l1.commit(meta, staged, room)
    } catch (err) {
      if (spool !== null) void this.#track(spool.abort('the commit failed'))
      throw err
    }
    this.#staged.delete(meta.key)
    // Only a body on stable storage here is uploaded: a crashed one must not reappear from S3.
    const durable = this.#chain(meta.key, async () => {
      try {
        await local.durable
      } catch (err) {
        if (spool !== null) await spool.abort('the body is not durable')
        throw err
      }
      if (fromPeer) {
        this.#tier.uploadsSkipped++
        return
      }
      await this.#upload(meta, staged, spool)
    }).then(async () => {
      // Outside the key's chain: evictions run in their own keys' chains (no wait cycle between two keys).
      await this.#enforceBudget(meta.key)
    })
    return { durable }
  }

  #newDataKey (key: string): string {
    const fillId = `${this.#now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`
    return `${this.#dataPrefix(key)}${fillId}`
  }

  async #upload (meta: EntryMeta, staged: FileHandle, spool: PartSpooler | null): Promise<void> {
    // The same body already committed by another replica (the cluster leader whose download this
    // replica followed, or a replica that raced it with cluster.singleFlight off): one GET instead
    // of a second upload. A different body (a changed upstream) is uploaded and replaces it.
    const seen = await this.#getMeta(meta.key)
    if (seen !== null && seen.meta.sha256 === meta.sha256 && seen.meta.size === meta.size) {
      if (spool !== null) await spool.abort('the bucket already holds this body')
      this.#indexSet(seen.meta)
      this.#tier.uploadsSkipped++
      return
    }
    const partSize = partSizeFor(meta.size, this.#minPartSize)
    if (spool !== null) {
      const spooled = await spool.finish(meta.size, meta.sha256, partSize)
      if (spooled !== null) {
        this.#tier.bytesUploaded += meta.size
        await this.#publish({ ...meta, s3: { dataKey: spool.dataKey, dataETag: spooled.dataETag } })
        return
      }
    }
    const dataKey = this.#newDataKey(meta.key)
    const hash = createHash('sha256')
    const readPart = async (start: number, length: number): Promise<Buffer> => {
      const buffer = await readStaged(staged, start, length)
      hash.update(buffer)
      return buffer
    }
    // Hashed again as it is read: the bytes that go to S3 are the verified ones, not what the disk holds now.
    const checkDigest = (): void => {
      const digest = hash.digest('hex')
      if (digest !== meta.sha256) throw new Error(`the staged body of ${meta.key} changed on disk (sha256 ${digest}, committed ${meta.sha256})`)
    }
    let dataETag: string
    if (meta.size <= partSize) {
      const body = await readPart(0, meta.size)
      checkDigest()
      dataETag = (await this.bucket.put(dataKey, body)).etag
    } else {
      dataETag = await this.#multipart(dataKey, meta.size, partSize, readPart, checkDigest)
    }
    this.#tier.bytesUploaded += meta.size
    await this.#publish({ ...meta, s3: { dataKey, dataETag } })
  }

  async #publish (stored: StoredMeta): Promise<void> {
    try {
      await this.#publishMeta(stored)
    } catch (err) {
      await this.bucket.delete(stored.s3.dataKey).catch(() => {})
      throw err
    }
  }

  async #multipart (dataKey: string, size: number, partSize: number, readPart: (start: number, length: number) => Promise<Buffer>, checkDigest: () => void): Promise<string> {
    const uploadId = await this.bucket.createMultipart(dataKey)
    try {
      const count = Math.ceil(size / partSize)
      const parts: Array<{ PartNumber: number, ETag: string }> = new Array(count)
      const inFlight = new Set<Promise<void>>()
      // Parts are read in order (the running sha256 needs it) and sent S3_PART_CONCURRENCY at a time.
      for (let i = 0; i < count; i++) {
        const start = i * partSize
        const body = await readPart(start, Math.min(partSize, size - start))
        const sent = (async () => {
          parts[i] = { PartNumber: i + 1, ETag: await this.bucket.uploadPart(dataKey, uploadId, i + 1, body) }
        })()
        inFlight.add(sent)
        void sent.finally(() => inFlight.delete(sent)).catch(() => {})
        if (inFlight.size >= S3_PART_CONCURRENCY) await Promise.race(inFlight)
      }
      await Promise.all(inFlight)
      checkDigest()
      await this.bucket.completeMultipart(dataKey, uploadId, parts)
    } catch (err) {
      this.#tier.uploadsAborted++
      await this.bucket.abortMultipart(dataKey, uploadId).catch((abortErr: unknown) => { this.#log.warn({ err: abortErr, dataKey }, 'could not abort the S3 upload; the sweeper will') })
      throw err
    }
    return await this.bucket.completedETag(dataKey, size)
  }

  /** The commit point: If-None-Match: * for a new key, If-Match of the seen meta for a replacement. */
  async #publishMeta (stored: StoredMeta): Promise<void> {
    const key = this.metaKey(stored.key)
    const body = Buffer.from(JSON.stringify(stored))
    for (let attempt = 0; attempt < META_REPLACE_ATTEMPTS; attempt++) {
      if (await this.bucket.putIfAbsent(key, body) !== null) {
        this.#indexSet(stored)
        return
      }
      const seen = await this.#getMeta(stored.key)
      if (seen === null) continue
      if (await this.bucket.putIfMatch(key, body, seen.etag) !== null) {
        this.#indexSet(stored)
        if (seen.meta.s3.dataKey !== stored.s3.dataKey) await this.#deleteData(seen.meta.s3.dataKey)
        return
      }
    }
    throw new Error(`S3 meta ${key} kept changing under ${META_REPLACE_ATTEMPTS} attempts to replace it`)
  }

  async #deleteData (dataKey: string): Promise<void> {
    if (this.#reading.has(dataKey)) {
      this.#deferredDeletes.add(dataKey)
      return
    }
    await this.bucket.delete(dataKey)
  }

  /** Rewrites the meta of `key` with If-Match; false when there is none. */
  async #rewriteMeta (key: string, change: (m: StoredMeta) => StoredMeta): Promise<StoredMeta | null> {
    for (let attempt = 0; attempt < META_REPLACE_ATTEMPTS; attempt++) {
      const seen = await this.#getMeta(key)
      if (seen === null) return null
      const next = change(seen.meta)
      if (await this.bucket.putIfMatch(this.metaKey(key), Buffer.from(JSON.stringify(next)), seen.etag) !== null) {
        const entry = this.#index.get(key)
        if (entry !== undefined) entry.pinned = next.pinned === true
        return next
      }
    }
    throw new Error(`S3 meta of ${key} kept changing under ${META_REPLACE_ATTEMPTS} attempts to update it`)
  }

  /** Bucket eviction: least recently used unpinned entries go (meta first, then data) past store.s3.maxSize. */
  async #enforceBudget (keep: string): Promise<void> {
    let bytes = 0
    for (const e of this.#index.values()) bytes += e.size
    const evicted: Array<Promise<void>> = []
    for (const [key, entry] of this.#index) {
      if (bytes <= this.bucketMaxSize) break
      if (entry.pinned || key === keep) continue
      bytes -= entry.size
      this.#index.delete(key)
      this.#tier.bucketEvictions++
      evicted.push(this.#chain(key, async () => { await this.#deleteRemote(key) }).catch((err: unknown) => { this.#log.warn({ err, key }, 'could not evict an entry from S3; the sweeper retries') }))
    }
    await Promise.all(evicted)
  }

  async #deleteRemote (key: string): Promise<boolean> {
    const seen = await this.#getMeta(key)
    this.#index.delete(key)
    if (seen === null) return false
    await this.bucket.delete(this.metaKey(key))
    await this.#deleteData(seen.meta.s3.dataKey)
    return true
  }

  async updateMeta (meta: EntryMeta): Promise<void> {
    await this.l1.updateMeta(meta)
    await this.#chain(meta.key, async () => { await this.#rewriteMeta(meta.key, (m) => ({ ...meta, s3: m.s3 })) })
  }

  async delete (key: string): Promise<boolean> {
    const local = this.l1.delete(key)
    let remote = false
    this.#index.delete(key)
    await this.#chain(key, async () => { remote = await this.#deleteRemote(key) })
    return local || remote
  }

  async setPinned (key: string, pinned: boolean): Promise<EntryMeta | undefined> {
    const local = await this.l1.setPinned(key, pinned)
    let remote: StoredMeta | null = null
    await this.#chain(key, async () => {
      remote = await this.#rewriteMeta(key, (m) => {
        const { pinned: _was, ...rest } = m
        return pinned ? { ...rest, pinned: true } : rest
      })
    })
    return local ?? (remote === null ? undefined : stripPointer(remote))
  }

  async list (query: ListQuery): Promise<ListPage> {
    const local = this.l1.list(query)
    const remoteKeys: string[] = []
    let remoteMore = false
    for await (const o of this.bucket.list(`${this.#root}meta/`, query.after === undefined ? undefined : this.metaKey(query.after), query.limit + 1)) {
      const key = this.#keyOfMeta(o.key)
      if (key === null) continue
      if (remoteKeys.length === query.limit) {
        remoteMore = true
        break
      }
      remoteKeys.push(key)
    }
    const byKey = new Map<string, EntryMeta | null>(local.entries.map((e) => [e.key, e]))
    for (const key of remoteKeys) if (!byKey.has(key)) byKey.set(key, null)
    const keys = [...byKey.keys()].sort()
    const page = keys.slice(0, query.limit)
    const entries = (await mapLimit(page, META_CONCURRENCY, async (key) => {
      const known = byKey.get(key)
      if (known !== null && known !== undefined) return known
      const remote = await this.#getMeta(key)
      return remote === null ? null : stripPointer(remote.meta)
    })).filter((e): e is EntryMeta => e !== null)
    const more = keys.length > query.limit || local.next !== null || remoteMore
    return { entries, next: more && page.length > 0 ? page[page.length - 1] as string : null }
  }

  async verify (key: string, onBytes?: (bytes: number) => void): Promise<VerifyResult | null> {
    if (this.l1.peek(key) !== undefined) return await this.l1.verify(key, onBytes)
    const remote = await this.#getMeta(key)
    if (remote === null) return null
    const hash = createHash('sha256')
    try {
      for await (const chunk of await this.bucket.getRange(remote.meta.s3.dataKey, 0, Math.max(0, remote.meta.size - 1), remote.meta.s3.dataETag) as AsyncIterable<Buffer>) {
        hash.update(chunk)
        onBytes?.(chunk.length)
      }
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw err
      await this.#chain(key, async () => { await this.#deleteRemote(key) })
      return { expected: remote.meta.sha256, actual: 'missing', quarantined: null }
    }
    const actual = hash.digest('hex')
    if (actual === remote.meta.sha256) return null
    await this.#chain(key, async () => { await this.#deleteRemote(key) })
    return { expected: remote.meta.sha256, actual, quarantined: null }
  }

  async health (): Promise<CacheHealth> {
    const local = await this.l1.health()
    if (!local.ok) return local
    const now = Date.now()
    if (this.#health !== null && now - this.#health.at < S3_HEALTH_INTERVAL_MS) return this.#health.answer
    let answer: CacheHealth
    try {
      await this.bucket.headBucket()
      answer = { ok: true }
    } catch (err) {
      answer = { ok: false, reason: `S3 bucket ${this.bucket.bucket} does not answer (${err instanceof Error ? err.message : String(err)})` }
    }
    this.#health = { at: now, answer }
    return answer
  }

  /**
   * Re-reads the index, aborts multipart uploads and deletes data objects no meta points at, once
   * older than `orphanAgeMs` by S3's clock (an upload that young may still be running elsewhere).
   */
  async sweep (orphanAgeMs = S3_ORPHAN_AGE_MS): Promise<{ uploadsAborted: number, dataDeleted: number }> {
    await this.#loadIndex()
    // The Date header rounds down to the second while LastModified may carry milliseconds (RGW).
    const s3Now = ((await this.bucket.serverNow())?.getTime() ?? Date.now()) + 999
    const old = (d: Date | null): boolean => d !== null && s3Now - d.getTime() >= orphanAgeMs
    let uploadsAborted = 0
    let dataDeleted = 0
    for await (const u of this.bucket.listUploads(`${this.#root}data/`)) {
      if (!old(u.initiated)) continue
      await this.bucket.abortMultipart(u.key, u.uploadId).catch(() => {})
      uploadsAborted++
    }
    const candidates: string[] = []
    for await (const o of this.bucket.list(`${this.#root}data/`)) if (old(o.lastModified)) candidates.push(o.key)
    for (const dataKey of candidates) {
      const key = /\/([0-9a-f]{64})\/[^/]+$/.exec(dataKey)?.[1]
      if (key === undefined) continue
      if (this.#index.get(key)?.dataKey === dataKey || this.#reading.has(dataKey)) continue
      // Re-read: the index may predate a commit another replica made since.
      if ((await this.#getMeta(key))?.meta.s3.dataKey === dataKey) continue
      await this.bucket.delete(dataKey)
      dataDeleted++
    }
    this.#tier.orphansSwept += uploadsAborted + dataDeleted
    return { uploadsAborted, dataDeleted }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    for (const spool of this.#spools.values()) void this.#track(spool.abort('the store is closing'))
    this.#spools.clear()
    await Promise.allSettled([...this.#background])
    await this.l1.close()
    this.bucket.destroy()
  }
}
