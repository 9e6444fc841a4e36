// The disk cache (docs/design.md "Cache" and "The store contract"): the CacheStore
// (cache-store.ts) on a local directory, and with its Staging (staging.ts) the only code that
// touches that directory.
//   objects/<k[0:2]>/<k>        body        objects/<k[0:2]>/<k>.json   metadata
//   tmp/<k>.part                in-flight   tmp/<k>.part.json           resume state   (staging.ts)
//   quarantine/<k>-<time>.bin   bodies that failed their digest, kept for inspection  (staging.ts)
// Bodies are committed with fsync + rename after they are verified, metadata the same way after
// the body (the verdaccio `writeTarball` pattern), so nothing half-written is ever under
// objects/. The index is an lru-cache sized in bytes whose dispose unlinks evicted bodies; it is
// rebuilt from the metadata at start, oldest access first. Pinned entries (admin API) live beside
// the LRU, never evicted, and their bytes are taken off what the LRU may hold.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type {
  CacheHealth, CacheStore, Commit, EntryMeta, ListPage, ListQuery, Reservation, ReserveOptions, ReserveRefusal, StoredBody, StoreStats, VerifyResult
} from './cache-store.js'
import { ioError, readJson, Staging, writeAtomically } from './staging.js'

export type { BodyStamp, CacheHealth, EntryMeta } from './cache-store.js'
export type { ResumeState } from './staging.js'

export interface DiskStoreOptions {
  dir: string
  maxSize: number
  log: Logger
  now?: () => number
}

const VERIFY_READ_CHUNK_BYTES = 1024 * 1024
/** Hits stream a committed body in reads this large (the pump, file-pump.ts, picks its own sizes). */
export const HIT_READ_CHUNK_BYTES = 1024 * 1024

/** Persist lastAccess at most this often per entry: hits must not turn into metadata writes. */
export const ACCESS_PERSIST_INTERVAL_MS = 60 * 60 * 1000
/** /_/healthz probes the cache directory at most this often; in between it repeats the last answer. */
export const HEALTH_PROBE_INTERVAL_MS = 5000

export class DiskStore implements CacheStore {
  readonly dir: string
  readonly maxSize: number
  readonly staging: Staging
  readonly #log: Logger
  readonly #now: () => number
  readonly #index: LRUCache<string, EntryMeta>
  readonly #pinned = new Map<string, EntryMeta>()
  /** Published entries whose metadata is not on disk yet: `persist` writes it, after the body's fsync. */
  readonly #unpersisted = new WeakSet<EntryMeta>()
  /** Per key, the unlink of an evicted or deleted entry that may still be running (#unlinkEntry). */
  readonly #unlinking = new Map<string, Promise<void>>()
  /** Keys whose publish is renaming a new body into place. */
  readonly #publishing = new Set<string>()
  #pinnedBytes = 0
  /**
   * Bytes promised to in-flight downloads: declared lengths, and what length-less ones wrote.
   * A promise evicts nothing (issue 12 item 2): room is made only as bytes are written (#inflight).
   */
  #claimed = 0
  /** Bytes in-flight downloads have written under tmp/, counted against maxSize (issue 12 item 3). */
  #inflight = 0
  #evictions = 0
  #health: { at: number; result: CacheHealth } | null = null
  #probing: Promise<CacheHealth> | null = null
  /** Every key, pinned or not, in ascending order, for list(query); rebuilt after the key set changed. */
  #sortedKeys: string[] | null = null

  private constructor (opts: DiskStoreOptions) {
    this.dir = opts.dir
    this.maxSize = opts.maxSize
    this.#log = opts.log
    this.#now = opts.now ?? Date.now
    this.staging = new Staging({
      dir: join(this.dir, 'tmp'),
      quarantineDir: join(this.dir, 'quarantine'),
      now: this.#now,
      recover: async () => { await this.#recoverLayout() }
    })
    this.#index = new LRUCache<string, EntryMeta>({
      maxSize: opts.maxSize,
      sizeCalculation: (meta) => Math.max(1, meta.size),
      // A replaced entry ('set') was renamed over in place; only evicted or deleted entries go.
      dispose: (meta, key, reason) => {
        if (reason !== 'evict' && reason !== 'delete') return
        this.#sortedKeys = null
        // Pinning moves an entry out of the LRU: its files stay.
        if (this.#pinned.get(key) === meta) return
        if (reason === 'evict') this.#evictions++
        void this.#unlinkEntry(key, meta)
      }
    })
  }

  static async open (opts: DiskStoreOptions): Promise<DiskStore> {
    const store = new DiskStore(opts)
    await store.#load()
    return store
  }

  get objectsDir (): string { return join(this.dir, 'objects') }
  get tmpDir (): string { return this.staging.dir }
  get quarantineDir (): string { return this.staging.quarantineDir }

  bodyPath (key: string): string { return join(this.objectsDir, key.slice(0, 2), key) }
  metaPath (key: string): string { return `${this.bodyPath(key)}.json` }
  tempPath (key: string): string { return this.staging.path(key) }

  /** The entry, marked as recently used. */
  get (key: string): EntryMeta | undefined {
    const meta = this.#pinned.get(key) ?? this.#index.get(key)
    if (meta !== undefined) {
      const now = this.#now()
      if (now - meta.lastAccess > ACCESS_PERSIST_INTERVAL_MS) {
        meta.lastAccess = now
        void this.writeMeta(meta).catch((err: unknown) => this.#log.warn({ err, key }, 'could not persist lastAccess'))
      } else {
        meta.lastAccess = now
      }
    }
    return meta
  }

  peek (key: string): EntryMeta | undefined { return this.#pinned.get(key) ?? this.#index.peek(key) }

  /** Every entry, pinned first, then the LRU from the most recently used (disk only: tests read the order). */
  list (): EntryMeta[]
  /** One page in ascending key order (CacheStore): a cursor is the last key of the previous page. */
  list (query: ListQuery): ListPage
  list (query?: ListQuery): EntryMeta[] | ListPage {
    if (query === undefined) return [...this.#pinned.values(), ...this.#index.values()]
    this.#sortedKeys ??= [...this.#pinned.keys(), ...this.#index.keys()].sort()
    const keys = this.#sortedKeys
    const limit = Math.max(1, Math.floor(query.limit))
    let at = 0
    if (query.after !== undefined && query.after !== '') {
      // The first key after the cursor: the cursor's own entry may have gone meanwhile.
      let high = keys.length
      while (at < high) {
        const mid = (at + high) >>> 1
        if ((keys[mid] as string) <= query.after) at = mid + 1
        else high = mid
      }
    }
    const entries: EntryMeta[] = []
    let last = at
    for (; last < keys.length && entries.length < limit; last++) {
      const meta = this.peek(keys[last] as string)
      if (meta !== undefined) entries.push(meta)
    }
    const next = last < keys.length ? (entries.at(-1)?.key ?? null) : null
    return { entries, next }
  }

  get stats (): StoreStats {
    return {
      bytes: this.#index.calculatedSize + this.#pinnedBytes,
      entries: this.#index.size + this.#pinned.size,
      maxSize: this.maxSize,
      reserved: this.#inflight,
      evictions: this.#evictions,
      pinnedBytes: this.#pinnedBytes,
      pinnedEntries: this.#pinned.size
    }
  }

  /** Opens a committed body for reading. The handle keeps the bytes alive if the entry is evicted meanwhile. */
  async openBody (key: string): Promise<DiskBody | null> {
    const meta = this.get(key)
    if (meta === undefined) return null
    let handle: FileHandle
    try {
      handle = await open(this.bodyPath(key), 'r')
    } catch (err: unknown) {
      this.#log.warn({ err, key }, 'cached body vanished; dropping the entry')
      this.delete(key)
      return null
    }
    const found = await handle.stat().catch(() => null)
    if (found !== null && stampMatches(meta, found)) return diskBody(handle, meta)
    await handle.close().catch(() => {})
    // A body renamed over by a newer download of the key is not a changed body: use the new entry.
    if (this.peek(key) !== meta) return await this.openBody(key)
    this.#log.warn({ key, url: meta.url, expected: meta.file ?? { size: meta.size }, found: found === null ? null : { size: found.size, mtimeMs: found.mtimeMs } },
      'cached body changed on disk since it was published; dropping the entry, it is fetched again')
    this.delete(key)
    return null
  }

  /**
   * Promises `bytes` of room to an in-flight download without evicting anything: a download that
   * fails must leave the cache as it was (issue 12 item 2). Refused when the pinned entries and
   * the other downloads' promises leave no room for them within maxSize; the caller then passes
   * the response through uncached.
   */
  claim (bytes: number): boolean {
    if (this.#pinnedBytes + this.#claimed + bytes > this.maxSize) return false
    this.#claimed += bytes
    return true
  }

  /**
   * `claim`, also checked against the free space of the filesystem under tmp/ (less what other
   * downloads promised but have not written yet), so concurrent misses that the disk cannot hold
   * are passed through instead of failing half-way (issue 12 item 11).
   */
  async admit (bytes: number): Promise<'ok' | 'quota' | 'disk'> {
    const free = await this.freeBytes()
    if (this.#pinnedBytes + this.#claimed + bytes > this.maxSize) return 'quota'
    if (free !== null && bytes > free - Math.max(0, this.#claimed - this.#inflight)) return 'disk'
    this.#claimed += bytes
    return 'ok'
  }

  /** Bytes the filesystem under tmp/ has free for this process, or null when it cannot tell. */
  async freeBytes (): Promise<number | null> {
    return await this.staging.freeBytes()
  }

  /** CacheStore: `claim` (or `admit` with checkFreeSpace) as a Reservation that `use` grows. */
  async reserve (bytes: number, opts: ReserveOptions = {}): Promise<Reservation | ReserveRefusal> {
    if (bytes > 0) {
      const admitted = opts.checkFreeSpace === true ? await this.admit(bytes) : this.claim(bytes) ? 'ok' : 'quota'
      if (admitted !== 'ok') return admitted
    }
    return new DiskReservation(this, Math.max(0, bytes))
  }

  /**
   * Accounts `bytes` about to be written under tmp/, evicting least recently used entries so that
   * committed plus in-flight bytes never pass maxSize (issue 12 item 3). False when even an empty
   * LRU leaves no room (pinned entries and other downloads hold it): nothing was accounted.
   */
  useSpace (bytes: number): boolean {
    while (this.#index.calculatedSize + this.#pinnedBytes + this.#inflight + bytes > this.maxSize && this.#index.size > 0) {
      this.#index.pop()
    }
    if (this.#index.calculatedSize + this.#pinnedBytes + this.#inflight + bytes > this.maxSize) return false
    this.#inflight += bytes
    return true
  }

  /** Gives back a download's promise and the tmp/ bytes it accounted (its temp file is gone or published). */
  release (claimed: number, written: number): void {
    this.#claimed = Math.max(0, this.#claimed - claimed)
    this.#inflight = Math.max(0, this.#inflight - written)
  }

  /**
   * The filesystem itself is full (ENOSPC) though maxSize was not reached: evicts least recently
   * used entries worth at least `bytes` and waits until their files are unlinked, so a write can be
   * retried once (issue 12 item 11). False when there was nothing to evict.
   */
  async evictForSpace (bytes: number): Promise<boolean> {
    let freed = 0
    const keys: string[] = []
    while (freed < bytes && this.#index.size > 0) {
      const popped = this.#index.pop()
      if (popped === undefined) break
      freed += entryBytes(popped)
      keys.push(popped.key)
    }
    await Promise.all(keys.map(async (key) => await this.#unlinking.get(key)))
    return keys.length > 0
  }

  /** Whether a body of `bytes` can be kept at all, beside the pinned entries. */
  fits (bytes: number): boolean {
    return Math.max(1, bytes) <= this.maxSize - this.#pinnedBytes
  }

  /** Opens (creating or truncating to `from`) the temp file of an in-flight download. */
  async openTemp (key: string, from = 0): Promise<FileHandle> {
    return await this.staging.open(key, from)
  }

  /**
   * Whether the cache directory can be written (for /_/healthz): the layout exists (recreated if
   * it was removed) and an empty file can be created and removed in tmp/. Probed at most every
   * HEALTH_PROBE_INTERVAL_MS, one probe at a time; callers in between get the last answer.
   */
  async health (): Promise<CacheHealth> {
    if (this.#health !== null && this.#now() - this.#health.at < HEALTH_PROBE_INTERVAL_MS) return this.#health.result
    this.#probing ??= this.#probeHealth().then((result) => {
      this.#health = { at: this.#now(), result }
      return result
    }).finally(() => { this.#probing = null })
    return await this.#probing
  }

  async #probeHealth (): Promise<CacheHealth> {
    try {
      await this.#recoverLayout()
      // Empty: a full disk with inodes left still passes (the cache then serves what it has).
      await this.staging.probe()
      return { ok: true }
    } catch (err: unknown) {
      const detail = err instanceof Error ? err.message : String(err)
      this.#log.error({ err, dir: this.dir }, 'cache directory is not writable')
      return { ok: false, reason: `cache directory '${this.dir}' is not writable (${detail}). Make it a writable directory again (check the volume mount and its permissions); dsmirror recreates objects/, tmp/ and quarantine/ in it by itself.` }
    }
  }

  /**
   * Recreates objects/, tmp/ and quarantine/. When objects/ itself was gone, every indexed body
   * went with it: the index is emptied, so former hits are misses (not 500s) and the cache's
   * size is counted from zero again.
   */
  async #recoverLayout (): Promise<void> {
    const objectsGone = await stat(this.objectsDir).then((s) => !s.isDirectory(), () => true)
    await this.#makeLayout()
    if (!objectsGone || this.#index.size + this.#pinned.size === 0) return
    this.#log.warn({ dir: this.dir, entries: this.#index.size + this.#pinned.size }, 'cache directory was removed at run time; layout recreated, index emptied')
    for (const [key, meta] of this.#pinned) void this.#unlinkEntry(key, meta)
    this.#pinned.clear()
    this.#pinnedBytes = 0
    this.#index.clear()
    this.#sortedKeys = null
    this.staging.forgetResumable()
  }

  async #makeLayout (): Promise<void> {
    await Promise.all([mkdir(this.objectsDir, { recursive: true }), this.staging.makeLayout()])
  }

  /** An interrupted download of `key` found at start, to resume; taken at most once. */
  takeResumable (key: string): ReturnType<Staging['takeResumable']> {
    return this.staging.takeResumable(key)
  }

  async removeTemp (key: string): Promise<void> {
    await this.staging.remove(key)
  }

  /**
   * CacheStore: `publish` (visible now, the reservation's bytes move to the entry), then, after
   * the caller's writes, the staged body's fsync and the metadata (`persist`) as `durable`.
   */
  async commit (meta: EntryMeta, staged: FileHandle, room: Reservation): Promise<Commit> {
    if (!(room instanceof DiskReservation) || !room.of(this)) throw new Error('a reservation of another store')
    await this.publish(meta, { claimed: room.promised, written: room.used })
    room.handedOver()
    const durable = (async () => {
      await staged.datasync()
      await this.persist(meta)
    })()
    // The caller awaits it; this only keeps a failure before it does from being reported as unhandled.
    durable.catch(() => {})
    return { durable }
  }

  /**
   * Publishes a verified temp body: old metadata out, body renamed into place (an atomic replace;
   * readers of the old body keep their file) and indexed, so it is served from now on. It is not
   * durable yet: `persist` makes it so. Until then it has no metadata on disk, and a crash leaves
   * a body without metadata, which the next start deletes (never served).
   */
  async publish (meta: EntryMeta, accounted: { claimed: number; written: number } = { claimed: 0, written: 0 }): Promise<void> {
    const body = this.bodyPath(meta.key)
    this.#publishing.add(meta.key)
    try {
      // The key's previous entry may be being unlinked (evicted to make room for this very
      // body, or deleted): after the rename, that unlink would remove the new body.
      await this.#unlinking.get(meta.key)
      await mkdir(join(this.objectsDir, meta.key.slice(0, 2)), { recursive: true })
      await rm(this.metaPath(meta.key), { force: true })
      // Stamped before the rename, which keeps size and mtime: nothing writes the body after this.
      const published = await stat(this.tempPath(meta.key))
      meta.file = { size: published.size, mtimeMs: published.mtimeMs }
      await rename(this.tempPath(meta.key), body)
      await this.staging.forget(meta.key)
    } catch (err: unknown) {
      throw ioError(body, err)
    } finally {
      this.#publishing.delete(meta.key)
    }
    // The bytes move from tmp/ to objects/ in one step: counted once, never twice, never not at all.
    this.release(accounted.claimed, accounted.written)
    this.#unpersisted.add(meta)
    this.#indexEntry(meta)
  }

  /**
   * The durable commit point: once the caller has fsynced the body, the metadata is written
   * (itself temp + fsync + rename). Skipped when the entry was evicted or replaced meanwhile.
   */
  async persist (meta: EntryMeta): Promise<void> {
    if (this.peek(meta.key) !== meta) return
    try {
      await this.writeMeta(meta)
    } catch (err: unknown) {
      throw ioError(this.metaPath(meta.key), err)
    }
    this.#unpersisted.delete(meta)
  }

  async writeMeta (meta: EntryMeta): Promise<void> {
    await writeAtomically(this.metaPath(meta.key), JSON.stringify(meta))
  }

  /** Replaces the stored metadata (a 304 revalidation updated headers and policy). */
  async updateMeta (meta: EntryMeta): Promise<void> {
    // Evicted meanwhile: writing would leave metadata without a body under objects/.
    if (this.peek(meta.key) === undefined) return
    if (this.#pinned.has(meta.key)) meta.pinned = true
    await this.writeMeta(meta)
    this.#indexEntry(meta)
  }

  /** Removes an entry and its files, pinned or not. */
  delete (key: string): boolean {
    const pinned = this.#pinned.get(key)
    if (pinned === undefined) return this.#index.delete(key)
    this.#sortedKeys = null
    this.#pinned.delete(key)
    this.#pinnedBytes -= entryBytes(pinned)
    void this.#unlinkEntry(key, pinned)
    return true
  }

  /**
   * Pins (never evicted, still counted against maxSize) or unpins an entry, persisted in its
   * metadata so it survives a restart. Undefined when there is no such entry.
   */
  async setPinned (key: string, pinned: boolean): Promise<EntryMeta | undefined> {
    const meta = this.peek(key)
    if (meta === undefined) return undefined
    if ((meta.pinned === true) !== pinned) {
      this.#sortedKeys = null
      if (pinned) {
        meta.pinned = true
        this.#pinned.set(key, meta)
        this.#pinnedBytes += entryBytes(meta)
        this.#index.delete(key)
      } else {
        delete meta.pinned
        this.#pinned.delete(key)
        this.#pinnedBytes -= entryBytes(meta)
        this.#index.set(key, meta)
        this.#trim()
      }
    }
    // Unpinned, an entry over a maxSize lowered since it was pinned cannot be kept: lru-cache
    // refuses it without disposing of it, so its files go here, and no metadata is written back.
    if (this.peek(key) !== meta) {
      void this.#unlinkEntry(key, meta)
      return meta
    }
    // An entry whose body is not fsynced yet gets its metadata from `persist`, never earlier.
    if (!this.#unpersisted.has(meta)) await this.writeMeta(meta)
    return meta
  }

  /** Indexes `meta` where its key lives: beside the LRU when pinned, else in it. */
  #indexEntry (meta: EntryMeta): void {
    this.#sortedKeys = null
    const pinned = this.#pinned.get(meta.key)
    if (pinned === undefined) {
      this.#index.set(meta.key, meta)
      this.#trim()
      return
    }
    meta.pinned = true
    this.#pinnedBytes += entryBytes(meta) - entryBytes(pinned)
    this.#pinned.set(meta.key, meta)
    this.#trim()
  }

  /** Evicts least recently used entries until they fit beside the pinned ones. */
  #trim (): void {
    while (this.#index.calculatedSize + this.#pinnedBytes + this.#inflight > this.maxSize && this.#index.size > 0) this.#index.pop()
  }

  /**
   * Re-hashes a committed body against the sha256 in its metadata (`dsmirror cache verify`). A
   * mismatch (or a missing body) moves it to quarantine/ with a note and drops the entry, so the
   * next request fetches it again. Null when the body is intact.
   */
  async verify (key: string, onBytes?: (bytes: number) => void): Promise<VerifyResult | null> {
    const meta = this.peek(key)
    if (meta === undefined) return null
    let actual: string
    try {
      const hash = createHash('sha256')
      for await (const chunk of createReadStream(this.bodyPath(key), { highWaterMark: VERIFY_READ_CHUNK_BYTES })) {
        hash.update(chunk as Buffer)
        onBytes?.((chunk as Buffer).length)
      }
      actual = hash.digest('hex')
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(this.bodyPath(key), err)
      this.delete(key)
      return { expected: meta.sha256, actual: 'missing', quarantined: null }
    }
    if (actual === meta.sha256) return null
    const target = await this.staging.quarantineFile(this.bodyPath(key), key, {
      url: meta.url, expected: { algorithm: 'sha256', hex: meta.sha256 }, actual, size: meta.size, reason: 'cache verify'
    })
    // The body is gone from objects/ already; this drops the index entry and the metadata.
    this.delete(key)
    return { expected: meta.sha256, actual, quarantined: target }
  }

  /**
   * The metadata of every committed entry in `dir`, read without changing anything (unlike
   * `open`, which cleans temp files a running server may still be writing).
   */
  static async readEntries (dir: string): Promise<EntryMeta[]> {
    const objects = join(dir, 'objects')
    const metas: EntryMeta[] = []
    for (const shard of await readdir(objects).catch(() => [])) {
      for (const name of await readdir(join(objects, shard)).catch(() => [])) {
        if (!name.endsWith('.json')) continue
        const meta = await readMeta(join(objects, shard, name))
        if (meta !== null) metas.push(meta)
      }
    }
    return metas
  }

  /** Moves a temp body that failed verification aside, with a note of why. */
  async quarantine (key: string, note: Record<string, unknown>): Promise<string> {
    return await this.staging.quarantine(key, note)
  }

  /** CacheStore: waits for the unlinks of evicted and deleted entries still running. */
  async close (): Promise<void> {
    while (this.#unlinking.size > 0) await Promise.all([...this.#unlinking.values()])
  }

  /** Removes an evicted or deleted entry's files, one unlink per key at a time; publish waits for it. */
  async #unlinkEntry (key: string, meta: EntryMeta): Promise<void> {
    const done = (this.#unlinking.get(key) ?? Promise.resolve()).then(async () => {
      // A newer body of the key is being renamed into place or is indexed: the path is its own
      // now, and its publish removed the old metadata.
      if (this.#publishing.has(key) || this.peek(key) !== undefined) return
      try {
        await rm(this.metaPath(key), { force: true })
        await rm(this.bodyPath(key), { force: true })
      } catch (err: unknown) {
        this.#log.warn({ err, key, url: meta.url }, 'could not remove an evicted entry')
      }
    })
    this.#unlinking.set(key, done)
    await done
    if (this.#unlinking.get(key) === done) this.#unlinking.delete(key)
  }

  async #load (): Promise<void> {
    await this.#makeLayout()
    await this.staging.load()
    const metas: EntryMeta[] = []
    let dropped = 0
    let unreadable = 0
    for (const shard of await readdir(this.objectsDir)) {
      const shardDir = join(this.objectsDir, shard)
      const names = new Set(await readdir(shardDir).catch(() => []))
      for (const name of names) {
        if (name.endsWith('.json')) {
          const key = name.slice(0, -'.json'.length)
          let meta: EntryMeta | null
          let found: { size: number; mtimeMs: number } | null
          // Issue 10 item 6: only a missing file or a real mismatch (bad JSON, other size) drops an
          // entry. A file that cannot be read (EACCES after a `cp -r` as another user, EIO) is the
          // operator's to fix: its entry stays on disk, unserved, and is reported.
          try {
            meta = await readMetaAtStart(join(shardDir, name))
            found = await stat(join(shardDir, key)).catch((err: unknown) => { if (isMissing(err)) return null; throw err })
          } catch (err: unknown) {
            unreadable++
            this.#log.warn({ err, key }, 'a cache entry could not be read at start-up; its files are kept but it is not served. Fix the ownership or permissions of cache.dir (or the disk) and restart')
            continue
          }
          if (meta === null || meta.key !== key || found === null || !stampMatches(meta, found)) {
            dropped++
            await rm(join(shardDir, name), { force: true })
            await rm(join(shardDir, key), { force: true })
          } else {
            metas.push(meta)
          }
        } else if (!names.has(`${name}.json`)) {
          // A body without metadata (crash between the two renames) or a stray temp: never servable.
          dropped++
          await rm(join(shardDir, name), { force: true })
        }
      }
    }
    metas.sort((a, b) => a.lastAccess - b.lastAccess)
    for (const meta of metas.filter((m) => m.pinned === true)) {
      this.#pinned.set(meta.key, meta)
      this.#pinnedBytes += entryBytes(meta)
    }
    for (const meta of metas) {
      if (meta.pinned === true) continue
      // lru-cache refuses an entry over its maxSize without disposing of it (a restart with a
      // smaller cache.maxSize): its files would stay under objects/, unindexed, for good.
      if (entryBytes(meta) > this.maxSize) {
        dropped++
        await this.#unlinkEntry(meta.key, meta)
        continue
      }
      this.#index.set(meta.key, meta)
    }
    this.#trim()
    this.#sortedKeys = null
    this.#log.info({ entries: this.#index.size, bytes: this.#index.calculatedSize, dropped, unreadable, resumable: this.staging.resumable }, 'cache index rebuilt')
  }
}

function entryBytes (meta: EntryMeta): number {
  return Math.max(1, meta.size)
}

/** Whether a body file still is what `meta` says was published: its size, and its mtime when stamped. */
function stampMatches (meta: EntryMeta, found: { size: number; mtimeMs: number }): boolean {
  return found.size === meta.size && (meta.file === undefined || (found.size === meta.file.size && found.mtimeMs === meta.file.mtimeMs))
}

/** ENOENT: the file is gone. */
function isMissing (err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT'
}

/** Start-up's read of a metadata file: null when it is missing or not metadata; any other read error is thrown. */
async function readMetaAtStart (path: string): Promise<EntryMeta | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: unknown) {
    if (isMissing(err)) return null
    throw err
  }
  let meta: EntryMeta
  try {
    meta = JSON.parse(text) as EntryMeta
  } catch {
    // Torn or foreign content: a real mismatch, dropped like a body of the wrong size.
    return null
  }
  return isEntryMeta(meta) ? meta : null
}

function isEntryMeta (meta: EntryMeta | null): meta is EntryMeta {
  return meta !== null && typeof meta === 'object' && typeof meta.size === 'number' && typeof meta.url === 'string' && typeof meta.key === 'string'
}

async function readMeta (path: string): Promise<EntryMeta | null> {
  const meta = await readJson<EntryMeta>(path)
  if (meta === null || typeof meta.size !== 'number' || typeof meta.url !== 'string' || typeof meta.key !== 'string') return null
  return meta
}

/** A committed body on disk: a StoredBody over an open file (tests also reach its handle). */
export interface DiskBody extends StoredBody {
  readonly handle: FileHandle
}

function diskBody (handle: FileHandle, meta: EntryMeta): DiskBody {
  return {
    handle,
    meta,
    size: meta.size,
    read: async (buffer, length, position) => (await handle.read(buffer, 0, length, position)).bytesRead,
    stream: (start, endInclusive): Readable => handle.createReadStream({ start, end: endInclusive ?? undefined, highWaterMark: HIT_READ_CHUNK_BYTES, autoClose: false }),
    close: async () => { await handle.close().catch(() => {}) }
  }
}

/**
 * DiskStore's Reservation: its promise is `claim`ed (or `admit`ted), its staged bytes `useSpace`d;
 * `commit` hands both over to the published entry in one step (DiskStore.publish).
 */
class DiskReservation implements Reservation {
  readonly #store: DiskStore
  #promised: number
  #used = 0

  constructor (store: DiskStore, promised: number) {
    this.#store = store
    this.#promised = promised
  }

  get promised (): number { return this.#promised }
  get used (): number { return this.#used }

  of (store: DiskStore): boolean { return this.#store === store }

  use (bytes: number): boolean {
    const extra = Math.max(0, this.#used + bytes - this.#promised)
    if (extra > 0 && !this.#store.claim(extra)) return false
    if (!this.#store.useSpace(bytes)) {
      this.#store.release(extra, 0)
      return false
    }
    this.#promised += extra
    this.#used += bytes
    return true
  }

  async reclaim (bytes: number): Promise<boolean> {
    return await this.#store.evictForSpace(bytes)
  }

  release (): void {
    this.#store.release(this.#promised, this.#used)
    this.handedOver()
  }

  /** The bytes are the published entry's now (publish released them): nothing left to give back. */
  handedOver (): void {
    this.#promised = 0
    this.#used = 0
  }
}
