// Stores that break the contract on purpose, each a DiskStore with one fault, for
// suite-catches-broken-stores.test.ts: the conformance suite must fail on every one of them.
import type { FileHandle } from 'node:fs/promises'
import pino from 'pino'
import type {
  CacheHealth, CacheStore, Commit, EntryMeta, ListPage, ListQuery, Reservation, ReserveOptions, ReserveRefusal, StoredBody, StoreStats, VerifyResult
} from '../../server/cache/cache-store.js'
import { DiskStore } from '../../server/cache/disk-store.js'
import type { Staging } from '../../server/cache/staging.js'
import type { MakeStore } from './cache-store.suite.js'

/** Every call goes to the DiskStore inside; a broken store overrides the one it breaks. */
class DelegatingStore implements CacheStore {
  constructor (protected readonly inner: DiskStore) {}
  get maxSize (): number { return this.inner.maxSize }
  get stats (): StoreStats { return this.inner.stats }
  get staging (): Staging { return this.inner.staging }
  get (key: string): EntryMeta | undefined { return this.inner.get(key) }
  peek (key: string): EntryMeta | undefined { return this.inner.peek(key) }
  async openBody (key: string): Promise<StoredBody | null> { return await this.inner.openBody(key) }
  fits (bytes: number): boolean { return this.inner.fits(bytes) }
  async reserve (bytes: number, opts?: ReserveOptions): Promise<Reservation | ReserveRefusal> { return await this.inner.reserve(bytes, opts) }
  async commit (meta: EntryMeta, staged: FileHandle, room: Reservation): Promise<Commit> { return await this.inner.commit(meta, staged, room) }
  async updateMeta (meta: EntryMeta): Promise<void> { await this.inner.updateMeta(meta) }
  delete (key: string): boolean { return this.inner.delete(key) }
  async setPinned (key: string, pinned: boolean): Promise<EntryMeta | undefined> { return await this.inner.setPinned(key, pinned) }
  list (query: ListQuery): ListPage { return this.inner.list(query) }
  async verify (key: string, onBytes?: (bytes: number) => void): Promise<VerifyResult | null> { return await this.inner.verify(key, onBytes) }
  async health (): Promise<CacheHealth> { return await this.inner.health() }
  async close (): Promise<void> { await this.inner.close() }
}

/** Writes the metadata as soon as the body is published, before the body is durable (fsync). */
class MetadataFirstStore extends DelegatingStore {
  override async commit (meta: EntryMeta, staged: FileHandle, room: Reservation): Promise<Commit> {
    const commit = await this.inner.commit(meta, staged, room)
    await this.inner.persist(meta)
    return commit
  }
}

/** Keeps everything: the DiskStore inside has no size limit, whatever maxSize it reports. */
class UnboundedStore extends DelegatingStore {
  constructor (inner: DiskStore, readonly reportedMaxSize: number) { super(inner) }
  override get maxSize (): number { return this.reportedMaxSize }
  override get stats (): StoreStats { return { ...this.inner.stats, maxSize: this.reportedMaxSize } }
}

/** Pages by cursor, but drops the last entry of every page that has a next one (an off-by-one). */
class ListDropsEntriesStore extends DelegatingStore {
  override list (query: ListQuery): ListPage {
    const page = this.inner.list(query)
    return page.next === null ? page : { entries: page.entries.slice(0, -1), next: page.next }
  }
}

const log = pino({ level: 'silent' })

export const BROKEN_STORES: Record<string, MakeStore> = {
  /** The control: DiskStore itself. */
  'disk-store': async ({ location, maxSize, now }) => await DiskStore.open({ dir: location, maxSize, log, now }),
  'metadata-before-durable-body': async ({ location, maxSize, now }) => new MetadataFirstStore(await DiskStore.open({ dir: location, maxSize, log, now })),
  'ignores-max-size': async ({ location, maxSize, now }) => new UnboundedStore(await DiskStore.open({ dir: location, maxSize: Number.MAX_SAFE_INTEGER, log, now }), maxSize),
  'list-drops-entries': async ({ location, maxSize, now }) => new ListDropsEntriesStore(await DiskStore.open({ dir: location, maxSize, log, now }))
}
