// The disk cache (docs/design.md "Cache"): the only module that touches the cache directory.
//   objects/<k[0:2]>/<k>        body        objects/<k[0:2]>/<k>.json   metadata
//   tmp/<k>.part                in-flight   tmp/<k>.part.json           resume state
//   quarantine/<k>-<time>.bin   bodies that failed their digest, kept for inspection
// Bodies are committed with fsync + rename after they are verified, metadata the same way after
// the body (the verdaccio `writeTarball` pattern), so nothing half-written is ever under
// objects/. The index is an lru-cache sized in bytes whose dispose unlinks evicted bodies; it is
// rebuilt from the metadata at start, oldest access first. Pinned entries (admin API) live beside
// the LRU, never evicted, and their bytes are taken off what the LRU may hold.
import { createHash } from 'node:crypto'
import { constants as fsc, createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, truncate, type FileHandle, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import writeFileAtomic from 'write-file-atomic'
import type { Logger } from 'pino'
import { CacheIoError } from './errors.js'

/** Metadata persisted next to every committed body. */
export interface EntryMeta {
  key: string
  url: string
  status: 200
  /** End-to-end response headers as stored (no Content-Length, no hop-by-hop, no Set-Cookie). */
  headers: Record<string, string | string[]>
  size: number
  sha256: string
  etag: string | null
  lastModified: string | null
  fetchedAt: number
  lastAccess: number
  immutable: boolean
  /** http-cache-semantics `CachePolicy#toObject()`, for RFC 9111 freshness and revalidation. */
  policy: Record<string, unknown>
  /** Never evicted; counts against maxSize (admin API pin). Absent in entries written before pins. */
  pinned?: boolean
  /** The body file as published (see BodyStamp). Absent in entries written before stamps: size only. */
  file?: BodyStamp
}

/**
 * What the body file looked like when it was published. Any write to it changes its mtime, so a
 * body truncated, appended to or edited in place after publish is noticed on the next open (one
 * fstat per hit, instead of hashing every hit: the hit path is the bench target). Silent bit rot
 * that leaves size and mtime alone is not seen here: `dsmirror cache verify` re-hashes bodies.
 * No inode number: a cache directory restored with `cp -a` or `rsync -a` keeps its entries.
 */
export interface BodyStamp {
  size: number
  mtimeMs: number
}

/** What a restart needs to resume an interrupted download from `durable` bytes. */
export interface ResumeState {
  key: string
  url: string
  etag: string | null
  lastModified: string | null
  size: number | null
  /** The stored headers of the response being downloaded (for the entry's metadata). */
  headers: Record<string, string | string[]>
  policy: Record<string, unknown>
  immutable: boolean
  /** Bytes known to be on disk (fsynced) at the last checkpoint. */
  durable: number
}

export interface DiskStoreOptions {
  dir: string
  maxSize: number
  log: Logger
  now?: () => number
}

const VERIFY_READ_CHUNK_BYTES = 1024 * 1024

/** Persist lastAccess at most this often per entry: hits must not turn into metadata writes. */
export const ACCESS_PERSIST_INTERVAL_MS = 60 * 60 * 1000
/** /_/healthz probes the cache directory at most this often; in between it repeats the last answer. */
export const HEALTH_PROBE_INTERVAL_MS = 5000

/** What /_/healthz says of the cache directory. */
export type CacheHealth = { ok: true } | { ok: false; reason: string }

export class DiskStore {
  readonly dir: string
  readonly maxSize: number
  readonly #log: Logger
  readonly #now: () => number
  readonly #index: LRUCache<string, EntryMeta>
  readonly #resumable = new Map<string, ResumeState>()
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

  private constructor (opts: DiskStoreOptions) {
    this.dir = opts.dir
    this.maxSize = opts.maxSize
    this.#log = opts.log
    this.#now = opts.now ?? Date.now
    this.#index = new LRUCache<string, EntryMeta>({
      maxSize: opts.maxSize,
      sizeCalculation: (meta) => Math.max(1, meta.size),
      // A replaced entry ('set') was renamed over in place; only evicted or deleted entries go.
      dispose: (meta, key, reason) => {
        if (reason !== 'evict' && reason !== 'delete') return
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
  get tmpDir (): string { return join(this.dir, 'tmp') }
  get quarantineDir (): string { return join(this.dir, 'quarantine') }

  bodyPath (key: string): string { return join(this.objectsDir, key.slice(0, 2), key) }
  metaPath (key: string): string { return `${this.bodyPath(key)}.json` }
  tempPath (key: string): string { return join(this.tmpDir, `${key}.part`) }

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

  list (): EntryMeta[] { return [...this.#pinned.values(), ...this.#index.values()] }

  get stats (): { bytes: number; entries: number; maxSize: number; reserved: number; evictions: number; pinnedBytes: number; pinnedEntries: number } {
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
  async openBody (key: string): Promise<{ handle: FileHandle; meta: EntryMeta } | null> {
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
    if (found !== null && stampMatches(meta, found)) return { handle, meta }
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
    try {
      const fs = await statfs(this.tmpDir)
      return fs.bavail * fs.bsize
    } catch {
      return null
    }
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
    const path = this.tempPath(key)
    try {
      const handle = await open(path, fsc.O_RDWR | fsc.O_CREAT, 0o644).catch(async (err: unknown) => {
        if (!isMissingDir(err)) throw err
        // Issue 12 item 4: the cache directory was removed under the running server (a tmp
        // cleaner, a re-mounted volume). Recreate the layout and try once more, instead of
        // answering 500 to every miss until a restart.
        await this.#recoverLayout()
        return await open(path, fsc.O_RDWR | fsc.O_CREAT, 0o644)
      })
      await handle.truncate(from)
      return handle
    } catch (err: unknown) {
      throw ioError(path, err)
    }
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
      const probe = join(this.tmpDir, `.healthz-${process.pid}`)
      await (await open(probe, 'w', 0o644)).close()
      await rm(probe, { force: true })
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
    this.#resumable.clear()
  }

  async #makeLayout (): Promise<void> {
    await Promise.all([this.objectsDir, this.tmpDir, this.quarantineDir].map(async (d) => await mkdir(d, { recursive: true })))
  }

  /** An interrupted download of `key` found at start, to resume; taken at most once. */
  takeResumable (key: string): ResumeState | undefined {
    const state = this.#resumable.get(key)
    this.#resumable.delete(key)
    return state
  }

  async writeResumeState (state: ResumeState): Promise<void> {
    await writeAtomically(`${this.tempPath(state.key)}.json`, JSON.stringify(state))
  }

  async removeTemp (key: string): Promise<void> {
    await rm(this.tempPath(key), { force: true })
    await rm(`${this.tempPath(key)}.json`, { force: true })
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
      await rm(`${this.tempPath(meta.key)}.json`, { force: true })
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
  async verify (key: string, onBytes?: (bytes: number) => void): Promise<{ expected: string; actual: string; quarantined: string | null } | null> {
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
    const target = join(this.quarantineDir, `${key}-${this.#now()}.bin`)
    try {
      await mkdir(this.quarantineDir, { recursive: true })
      await rename(this.bodyPath(key), target)
      await writeFile(`${target}.json`, JSON.stringify({
        url: meta.url, expected: { algorithm: 'sha256', hex: meta.sha256 }, actual, size: meta.size, reason: 'cache verify', quarantinedAt: new Date(this.#now()).toISOString()
      }, null, 2))
    } catch (err: unknown) {
      throw ioError(target, err)
    }
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
    const target = join(this.quarantineDir, `${key}-${this.#now()}.bin`)
    await mkdir(this.quarantineDir, { recursive: true })
    await rename(this.tempPath(key), target)
    await writeFile(`${target}.json`, JSON.stringify({ ...note, quarantinedAt: new Date(this.#now()).toISOString() }, null, 2))
    await rm(`${this.tempPath(key)}.json`, { force: true })
    return target
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
    await this.#loadTemps()
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
    this.#log.info({ entries: this.#index.size, bytes: this.#index.calculatedSize, dropped, unreadable, resumable: this.#resumable.size }, 'cache index rebuilt')
  }

  /** Keeps interrupted downloads that can be resumed (truncated to their durable length), deletes the rest. */
  async #loadTemps (): Promise<void> {
    for (const name of await readdir(this.tmpDir)) {
      if (!name.endsWith('.part')) {
        if (!name.endsWith('.part.json')) await rm(join(this.tmpDir, name), { force: true })
        continue
      }
      const key = name.slice(0, -'.part'.length)
      const path = join(this.tmpDir, name)
      const state = await readJson<ResumeState>(`${path}.json`)
      const size = await stat(path).then((s) => s.size, () => -1)
      const usable = state !== null && state.key === key && state.durable > 0 && size >= state.durable &&
        (state.etag !== null || state.lastModified !== null)
      if (usable) {
        await truncate(path, state.durable)
        this.#resumable.set(key, state)
      } else {
        await this.removeTemp(key)
      }
    }
    for (const name of await readdir(this.tmpDir)) {
      if (name.endsWith('.part.json') && !this.#resumable.has(name.slice(0, -'.part.json'.length))) {
        await rm(join(this.tmpDir, name), { force: true })
      }
    }
  }
}

/** ENOENT or ENOTDIR: a directory on the path is missing (or is no longer a directory). */
function isMissingDir (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

function entryBytes (meta: EntryMeta): number {
  return Math.max(1, meta.size)
}

/** Whether a body file still is what `meta` says was published: its size, and its mtime when stamped. */
function stampMatches (meta: EntryMeta, found: { size: number; mtimeMs: number }): boolean {
  return found.size === meta.size && (meta.file === undefined || (found.size === meta.file.size && found.mtimeMs === meta.file.mtimeMs))
}

function ioError (path: string, err: unknown): Error {
  const wrapped = new CacheIoError(path, err instanceof Error ? err.message : String(err))
  wrapped.cause = err
  return wrapped
}

async function readJson<T> (path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    return null
  }
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

/** Temp file, fsync, rename (write-file-atomic): a reader sees the old file or the new one, never a torn one. */
async function writeAtomically (path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text, { mode: 0o644, fsync: true })
}
