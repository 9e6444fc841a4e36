// The store contract (docs/design.md "The store contract"): what the cache engine (download.ts,
// mirror-cache.ts) and the operations side (admin-api, status-page, metrics, cli-cache) may ask
// of a store of committed bodies. Types only. DiskStore (disk-store.ts) implements it today; an
// S3-compatible store (issue 16) implements it next and must pass the same conformance suite
// (test/store/cache-store.suite.ts) unchanged. Shaped after undici's cache store
// (types/cache-interceptor.d.ts): lookups may answer synchronously or with a promise, so a store
// with an in-memory index pays no promise on the hit path and a remote one can ask the network.
// In-flight bodies are staged locally by every store (staging.ts), then committed.
import type { Readable } from 'node:stream'
import type { FileHandle } from 'node:fs/promises'
import type { Staging } from './staging.js'

/** A value, or a promise of it: callers always `await` it. */
export type Awaitable<T> = T | Promise<T>

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

/**
 * A committed body opened for reading. It keeps reading the bytes it was opened on even if the
 * entry is evicted or replaced meanwhile. Not tied to a file descriptor: an S3 body reads ranges.
 */
export interface StoredBody {
  /** The entry as it was when opened. */
  readonly meta: EntryMeta
  readonly size: number
  /** Reads up to `length` bytes at `position` into `buffer` from offset 0; resolves with the count. */
  read: (buffer: Buffer, length: number, position: number) => Promise<number>
  /** Bytes [start, endInclusive] (or to the end when null); the body stays open after it ends. */
  stream: (start: number, endInclusive: number | null) => Readable
  /** Once every reader is done; a second call is harmless. */
  close: () => Promise<void>
  /**
   * Read over the network (an S3 body): each `read` is a request, so it is served with `stream`,
   * never a `read` per buffer. Absent: a local file.
   */
  readonly remote?: boolean
}

/**
 * Room under maxSize held for one in-flight body (issue 12 items 2 and 3). Made without evicting
 * anything; it grows as bytes are staged, evicting least recently used entries only for bytes
 * really written, so committed plus staged bytes never pass maxSize.
 */
export interface Reservation {
  /** Bytes promised to this body (its declared length, or what a length-less body has staged). */
  readonly promised: number
  /** Bytes staged under it so far. */
  readonly used: number
  /**
   * Accounts `bytes` about to be staged, promising more first when past the promise. False when
   * there is no room even after evicting every unpinned entry: nothing was accounted.
   */
  use: (bytes: number) => boolean
  /**
   * The staging filesystem is full (ENOSPC) though maxSize is not: frees at least `bytes` of it
   * by evicting least recently used entries, waiting until they are gone. False: nothing to evict.
   */
  reclaim: (bytes: number) => Promise<boolean>
  /** Gives back the promise and the staged bytes (the body was dropped). Idempotent. */
  release: () => void
}

/** Why `reserve` refused: `quota` (pins and other downloads hold maxSize), `disk` (no free space to stage it). */
export type ReserveRefusal = 'quota' | 'disk'

export interface ReserveOptions {
  /** Also check the staging filesystem's free space (less what others promised but did not write yet). */
  checkFreeSpace?: boolean
}

/** What `commit` gives back once the body is visible. */
export interface Commit {
  /**
   * Resolves once the entry survives a crash (body and metadata on stable storage, or the upload
   * completed); rejects when it cannot be made so (the entry is then gone after a restart).
   */
  durable: Promise<void>
}

export interface ListQuery {
  /** A cursor: the `next` of the previous page. Absent: from the start. */
  after?: string
  /** At most this many entries (>= 1). */
  limit: number
}

export interface ListPage {
  /** In ascending key order. */
  entries: EntryMeta[]
  /** Cursor of the next page; null when this page is the last. */
  next: string | null
}

export interface StoreStats {
  /** Bytes of committed entries (pinned included). */
  bytes: number
  entries: number
  maxSize: number
  /** Bytes in-flight downloads have staged, counted against maxSize. */
  reserved: number
  evictions: number
  pinnedBytes: number
  pinnedEntries: number
}

/** What /_/healthz says of the store. */
export type CacheHealth = { ok: true } | { ok: false; reason: string }

export interface VerifyResult {
  expected: string
  /** The body's sha256 now, or 'missing'. */
  actual: string
  /** Where the bad body went; null when it was missing. */
  quarantined: string | null
}

export interface CacheStore {
  /** cache.maxSize in bytes: committed plus staged bytes stay within it, pinned bytes aside. */
  readonly maxSize: number
  /** Counters kept by this process; cheap enough to read on every scrape. */
  readonly stats: StoreStats
  /** Where this store's in-flight bodies, resume checkpoints and quarantined bodies live (always local). */
  readonly staging: Staging

  /** The committed entry for `key`, counted as a use (LRU order, lastAccess). */
  get: (key: string) => Awaitable<EntryMeta | undefined>
  /** The committed entry for `key`, without counting a use. */
  peek: (key: string) => Awaitable<EntryMeta | undefined>
  /**
   * Opens the committed body of `key` (a use, like `get`). Null when there is none, or when it
   * changed since it was committed (the entry is then dropped, and the next request refetches it).
   */
  openBody: (key: string) => Promise<StoredBody | null>

  /** Whether a body of `bytes` can be kept at all beside the pinned entries. */
  fits: (bytes: number) => boolean
  /**
   * Promises `bytes` of room to an in-flight body without evicting anything (0: an empty promise
   * that `use` grows). Refused when it cannot be had now; the caller then passes the body through.
   */
  reserve: (bytes: number, opts?: ReserveOptions) => Promise<Reservation | ReserveRefusal>
  /**
   * Publishes the body staged for `meta.key` (staging.path, written through `staged`) under
   * `meta`: visible from the moment this resolves, whole, never before; an earlier entry of the
   * key is replaced (its open bodies keep their bytes). Takes over the reservation's bytes.
   */
  commit: (meta: EntryMeta, staged: FileHandle, room: Reservation) => Promise<Commit>
  /** Replaces the metadata of a committed entry (a 304 revalidation); a no-op when it is gone. */
  updateMeta: (meta: EntryMeta) => Promise<void>
  /** Removes an entry, pinned or not. False when there was none. */
  delete: (key: string) => Awaitable<boolean>
  /** Pins (never evicted, still counted) or unpins an entry, kept across restarts. Undefined: no such entry. */
  setPinned: (key: string, pinned: boolean) => Promise<EntryMeta | undefined>
  /** One page of the committed entries, in key order; a cursor stays valid while entries come and go. */
  list: (query: ListQuery) => Awaitable<ListPage>
  /** Re-hashes a committed body against its sha256; a bad one is quarantined and dropped. Null: intact. */
  verify: (key: string, onBytes?: (bytes: number) => void) => Promise<VerifyResult | null>
  /** Whether new bodies can be staged and committed now (/_/healthz). */
  health: () => Promise<CacheHealth>
  /** Waits for background work (unlinks of evicted entries); the store is not used afterwards. */
  close: () => Promise<void>
}
