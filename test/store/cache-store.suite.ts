// The conformance suite of the store contract (docs/design.md "The store contract",
// server/cache/cache-store.ts): `cacheStoreTests(t, makeStore)` runs the same checks against any
// CacheStore, DiskStore now (disk-store.test.ts) and the S3 store of issue 16 with no change.
// Modelled on undici's cacheStoreTests (test/cache-interceptor/cache-store-test-utils.js): one
// factory, every check through the interface only, a fresh location per subtest, a restart is a
// second store opened on the same location. Bodies are staged and committed the way download.ts
// does it: reserve, staging.open, use + write, commit, close the staged file once durable.
// suite-catches-broken-stores.test.ts shows it failing on stores that break the contract.
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import type { Test } from 'tap'
import type { CacheStore, EntryMeta, Reservation } from '../../server/cache/cache-store.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'

export interface StoreFactoryOptions {
  /** Where the store keeps its state; a second store on the same location is a restart. */
  location: string
  maxSize: number
  now: () => number
}

export type MakeStore = (opts: StoreFactoryOptions) => Promise<CacheStore>

const LARGE = 1024 * 1024 * 1024

/** A cache key as cache-key.ts makes them: 64 lower-case hex digits. */
export function keyOf (name: string): string {
  return createHash('sha256').update(name).digest('hex')
}

function metaFor (key: string, body: Buffer, at: number): EntryMeta {
  return {
    key,
    url: `https://example.org/${key.slice(0, 8)}`,
    status: 200,
    headers: { 'content-type': 'application/octet-stream' },
    size: body.length,
    sha256: sha256(body),
    etag: `"${sha256(body).slice(0, 16)}"`,
    lastModified: null,
    fetchedAt: at,
    lastAccess: at,
    immutable: true,
    policy: {}
  }
}

async function reserved (t: Test, store: CacheStore, bytes: number): Promise<Reservation> {
  const room = await store.reserve(bytes)
  if (typeof room === 'string') throw new Error(`reserve(${bytes}) refused (${room}) where it must not`)
  return room
}

interface Harness {
  t: Test
  location: string
  maxSize: number
  clock: { now: number }
  store: CacheStore
}

/** Stages `body` for `key` and commits it as download.ts does; resolves once visible, with the durability promise. */
async function put (h: Harness, key: string, body: Buffer, opts: { closeBeforeCommit?: boolean } = {}): Promise<{ meta: EntryMeta; durable: Promise<void> }> {
  const { store } = h
  const room = await reserved(h.t, store, body.length)
  const handle = await store.staging.open(key)
  if (!room.use(body.length)) throw new Error(`no room for ${body.length} bytes under maxSize ${store.maxSize}`)
  let done = 0
  while (done < body.length) done += (await handle.write(body, done, body.length - done, done)).bytesWritten
  const meta = metaFor(key, body, h.clock.now)
  // A staged file whose descriptor is gone cannot be made durable: a crash before the body's fsync.
  if (opts.closeBeforeCommit === true) await handle.close()
  const { durable } = await store.commit(meta, handle, room)
  const closed = durable.finally(async () => { await handle.close().catch(() => {}) })
  closed.catch(() => {})
  return { meta, durable: closed }
}

/** Puts and waits until durable. */
async function putDurable (h: Harness, key: string, body: Buffer): Promise<EntryMeta> {
  const { meta, durable } = await put(h, key, body)
  await durable
  return meta
}

async function bodyOf (store: CacheStore, key: string): Promise<Buffer | null> {
  const opened = await store.openBody(key)
  if (opened === null) return null
  try {
    const chunks: Buffer[] = []
    for await (const chunk of opened.stream(0, null) as AsyncIterable<Buffer>) chunks.push(chunk)
    return Buffer.concat(chunks)
  } finally {
    await opened.close()
  }
}

async function allKeys (store: CacheStore, limit = 1000): Promise<string[]> {
  const keys: string[] = []
  let after: string | undefined
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.list(after === undefined ? { limit } : { after, limit })
    keys.push(...page.entries.map((e) => e.key))
    if (page.next === null) return keys
    after = page.next
  }
  throw new Error('list never returned a last page')
}

export function cacheStoreTests (t: Test, makeStore: MakeStore): void {
  /** A fresh location and store for one subtest; `restart` opens a second store on the same location. */
  async function harness (t: Test, maxSize = LARGE): Promise<Harness & { restart: (maxSize?: number) => Promise<CacheStore> }> {
    const location = t.testdir()
    const clock = { now: 1_000_000 }
    const h = { t, location, maxSize, clock, store: await makeStore({ location, maxSize, now: () => clock.now }) }
    const opened = [h.store]
    t.teardown(async () => { for (const s of opened) await s.close().catch(() => {}) })
    return Object.assign(h, {
      restart: async (size = h.maxSize): Promise<CacheStore> => {
        h.store = await makeStore({ location, maxSize: size, now: () => clock.now })
        h.maxSize = size
        opened.push(h.store)
        return h.store
      }
    })
  }

  t.test('commit visibility: nothing half-written is ever visible', async (t) => {
    const h = await harness(t)
    const key = keyOf('visibility')
    const body = makeBytes(200_000, 1)
    const room = await reserved(t, h.store, body.length)
    const handle = await h.store.staging.open(key)
    t.ok(room.use(100_000), 'the first half is accounted')
    await handle.write(body, 0, 100_000, 0)
    t.equal(await h.store.get(key), undefined, 'a staged body is not found by get')
    t.equal(await h.store.peek(key), undefined, 'nor by peek')
    t.equal(await h.store.openBody(key), null, 'nor opened')
    t.same(await allKeys(h.store), [], 'nor listed')
    t.equal(h.store.stats.entries, 0, 'nor counted as an entry')
    t.ok(room.use(100_000), 'the second half is accounted')
    await handle.write(body, 100_000, 100_000, 100_000)
    const meta = metaFor(key, body, h.clock.now)
    const { durable } = await h.store.commit(meta, handle, room)
    t.equal((await h.store.peek(key))?.size, body.length, 'visible once commit resolved, whole')
    t.equal(sha256(await bodyOf(h.store, key) ?? Buffer.alloc(0)), sha256(body), 'committed body reads back exactly')
    t.same(await allKeys(h.store), [key], 'listed once committed')
    await durable
    await handle.close()
    t.equal(h.store.stats.reserved, 0, 'the reservation went over to the entry')
    t.equal(h.store.stats.bytes, body.length, 'counted once as committed bytes')
  })

  t.test('a body dropped before commit leaves the store as it was', async (t) => {
    const h = await harness(t)
    const kept = keyOf('kept')
    await putDurable(h, kept, makeBytes(1000, 2))
    const before = h.store.stats
    const dropped = keyOf('dropped')
    const room = await reserved(t, h.store, 5000)
    const handle = await h.store.staging.open(dropped)
    t.ok(room.use(3000))
    await handle.write(makeBytes(3000, 3), 0, 3000, 0)
    t.equal(h.store.stats.reserved, 3000, 'staged bytes count against maxSize as written')
    room.release()
    room.release()
    await handle.close()
    await h.store.staging.remove(dropped)
    t.equal(h.store.stats.reserved, 0, 'released (twice is harmless)')
    t.same({ bytes: h.store.stats.bytes, entries: h.store.stats.entries }, { bytes: before.bytes, entries: before.entries }, 'entries as they were')
    t.equal(await h.store.openBody(dropped), null, 'the dropped body is not found')
  })

  t.test('crash between body and metadata: only a durable commit survives a restart', async (t) => {
    const h = await harness(t)
    const durableKey = keyOf('durable')
    const durableBody = makeBytes(4000, 4)
    await putDurable(h, durableKey, durableBody)
    const crashed = keyOf('crashed')
    const { durable } = await put(h, crashed, makeBytes(4000, 5), { closeBeforeCommit: true })
    await t.rejects(durable, 'a commit whose body cannot be made durable says so')
    // No close: the process is gone. A new store on the same location is the restart.
    const store = await h.restart()
    t.equal(await store.peek(crashed), undefined, 'crash between body and metadata: the entry is gone after a restart')
    t.equal(await store.openBody(crashed), null, 'crash between body and metadata: its body is not served')
    t.same(await allKeys(store), [durableKey], 'crash between body and metadata: only the durable entry is listed')
    t.equal(sha256(await bodyOf(store, durableKey) ?? Buffer.alloc(0)), sha256(durableBody), 'the durable entry reads back exactly')
  })

  t.test('a staged body never committed is gone after a restart; a checkpointed one is resumable', async (t) => {
    const h = await harness(t)
    const lost = keyOf('lost')
    const lostHandle = await h.store.staging.open(lost)
    await lostHandle.write(makeBytes(3000, 6), 0, 3000, 0)
    await lostHandle.close()
    const resumable = keyOf('resumable')
    const handle = await h.store.staging.open(resumable)
    await handle.write(makeBytes(5000, 7), 0, 5000, 0)
    await handle.datasync()
    await handle.close()
    const state = { key: resumable, url: 'https://example.org/r', etag: '"r"', lastModified: null, size: 9000, headers: {}, policy: {}, immutable: false, durable: 4096 }
    await h.store.staging.checkpoint(state)
    const store = await h.restart()
    t.equal(await store.openBody(lost), null, 'an uncommitted body is never served')
    t.same(await allKeys(store), [], 'and never listed')
    t.equal(store.stats.reserved, 0, 'and holds no room')
    t.same(store.staging.takeResumable(resumable), state, 'the checkpoint is offered for resume')
    t.equal(store.staging.takeResumable(resumable), undefined, 'once')
    t.equal((await stat(store.staging.path(resumable))).size, 4096, 'its temp file is cut back to the durable bytes')
    t.ok((await readFile(store.staging.path(resumable))).equals(makeBytes(5000, 7).subarray(0, 4096)), 'which are the bytes written')
  })

  t.test('LRU eviction keeps committed and staged bytes within maxSize', async (t) => {
    const h = await harness(t, 3000)
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(keyOf) as [string, string, string, string]
    for (const [i, key] of [a, b, c].entries()) {
      h.clock.now++
      await putDurable(h, key, makeBytes(1000, 10 + i))
    }
    h.clock.now++
    t.ok(await h.store.get(a), 'a is used: b is now the least recently used')
    h.clock.now++
    await putDurable(h, d, makeBytes(1000, 13))
    t.ok(h.store.stats.bytes <= 3000, `LRU eviction under maxSize: ${h.store.stats.bytes} bytes within 3000`)
    t.equal(h.store.stats.entries, 3, 'LRU eviction under maxSize: three entries fit')
    t.equal(await h.store.peek(b), undefined, 'LRU eviction under maxSize: the least recently used entry went')
    t.equal(await h.store.openBody(b), null, 'and its body is not served')
    for (const key of [a, c, d]) t.ok(await h.store.peek(key), `${key.slice(0, 6)} is kept`)
    t.ok(h.store.stats.evictions >= 1, 'the eviction is counted')

    const room = await reserved(t, h.store, 1500)
    t.equal(h.store.stats.entries, 3, 'a reservation evicts nothing by itself')
    t.ok(room.use(800), 'bytes written make room for themselves')
    t.equal(h.store.stats.reserved, 800, 'staged bytes are counted')
    t.ok(h.store.stats.bytes + h.store.stats.reserved <= 3000, 'LRU eviction under maxSize: committed plus staged bytes within maxSize')
    t.equal(h.store.stats.entries, 2, 'one entry went for them')
    room.release()
    t.equal(h.store.stats.reserved, 0)
    t.notOk(h.store.fits(3001), 'a body over maxSize can never be kept')
    t.ok(h.store.fits(3000))
  })

  t.test('pins: never evicted, counted, kept across a restart', async (t) => {
    const h = await harness(t, 3000)
    const pinned = keyOf('pinned')
    await putDurable(h, pinned, makeBytes(1000, 20))
    t.equal((await h.store.setPinned(pinned, true))?.pinned, true, 'pinned')
    t.equal(await h.store.setPinned(keyOf('nothing'), true), undefined, 'no entry, nothing pinned')
    for (let i = 0; i < 4; i++) {
      h.clock.now++
      await putDurable(h, keyOf(`filler-${i}`), makeBytes(1000, 21 + i))
    }
    t.ok(await h.store.peek(pinned), 'pins: the pinned entry survived eviction')
    t.equal(h.store.stats.pinnedEntries, 1)
    t.equal(h.store.stats.pinnedBytes, 1000)
    t.ok(h.store.stats.bytes <= 3000, 'pins count against maxSize')
    t.equal(await h.store.reserve(2500), 'quota', 'room held by pins is refused to a reservation')
    const store = await h.restart()
    t.equal((await store.peek(pinned))?.pinned, true, 'pins: still pinned after a restart')
    t.equal(store.stats.pinnedBytes, 1000)
    t.equal((await store.setPinned(pinned, false))?.pinned, undefined, 'unpinned')
    t.equal(store.stats.pinnedEntries, 0)
    for (let i = 0; i < 3; i++) {
      h.clock.now++
      await putDurable(h, keyOf(`more-${i}`), makeBytes(1000, 30 + i))
    }
    t.equal(await store.peek(pinned), undefined, 'unpinned, it is evicted like any other')
  })

  t.test('ranges: a body opened for reading gives any byte range', async (t) => {
    const h = await harness(t)
    const key = keyOf('ranges')
    const body = makeBytes(100_000, 40)
    await putDurable(h, key, body)
    const opened = await h.store.openBody(key)
    if (opened === null) throw new Error('committed body not found')
    t.equal(opened.size, body.length)
    t.equal(opened.meta.sha256, sha256(body))
    const slice = async (start: number, end: number | null): Promise<Buffer> => {
      const chunks: Buffer[] = []
      for await (const chunk of opened.stream(start, end) as AsyncIterable<Buffer>) chunks.push(chunk)
      return Buffer.concat(chunks)
    }
    t.ok((await slice(0, 9)).equals(body.subarray(0, 10)), 'ranges: the first ten bytes')
    t.ok((await slice(1000, 50_999)).equals(body.subarray(1000, 51_000)), 'ranges: a middle range, end inclusive')
    t.ok((await slice(99_990, null)).equals(body.subarray(99_990)), 'ranges: an open-ended range')
    t.ok((await slice(99_999, 99_999)).equals(body.subarray(99_999)), 'ranges: the last byte')
    const buffer = Buffer.alloc(100)
    t.equal(await opened.read(buffer, 100, 500), 100, 'read: a full read')
    t.ok(buffer.equals(body.subarray(500, 600)), 'ranges: read at a position')
    t.equal(await opened.read(buffer, 100, 99_950), 50, 'read: short at the end')
    await h.store.delete(key)
    t.ok((await slice(0, 99)).equals(body.subarray(0, 100)), 'an opened body keeps its bytes after the entry is deleted')
    await opened.close()
    await opened.close()
    t.equal(await h.store.openBody(key), null, 'deleted: not opened again')
  })

  t.test('listing with cursors: pages partition the entries', async (t) => {
    const h = await harness(t)
    const keys = Array.from({ length: 25 }, (_, i) => keyOf(`list-${i}`))
    for (const [i, key] of keys.entries()) await putDurable(h, key, makeBytes(100 + i, 50 + i))
    const sorted = [...keys].sort()
    const pages: string[][] = []
    let after: string | undefined
    for (let i = 0; i < 10; i++) {
      const page = await h.store.list(after === undefined ? { limit: 7 } : { after, limit: 7 })
      pages.push(page.entries.map((e) => e.key))
      t.ok(page.entries.length <= 7, 'a page holds at most limit entries')
      if (page.next === null) break
      after = page.next
    }
    t.same(pages.flat(), sorted, 'listing with cursors: every entry once, in key order')
    t.equal(pages.length, 4, 'listing with cursors: 25 entries in pages of 7 are four pages')
    t.same((await h.store.list({ limit: 100 })).next, null, 'one page when the limit covers all')
    t.same((await h.store.list({ limit: 100 })).entries.find((e) => e.key === keys[3])?.size, 103, 'entries carry their metadata')

    const first = await h.store.list({ limit: 5 })
    const cursor = first.next ?? ''
    await h.store.delete(cursor)
    const rest = await allKeys(h.store)
    const second = await h.store.list({ after: cursor, limit: 100 })
    t.same(second.entries.map((e) => e.key), sorted.slice(5), 'listing with cursors: a cursor stays valid after its entry is deleted')
    t.equal(rest.length, 24)
  })

  t.test('concurrent commit of the same key: the last commit wins, readers of the first keep their bytes', async (t) => {
    const h = await harness(t)
    const key = keyOf('same')
    const v1 = makeBytes(6000, 60)
    const v2 = makeBytes(4000, 61)
    const first = await put(h, key, v1)
    const reader = await h.store.openBody(key)
    // Committed while the first commit's durability is still running and a reader holds it.
    const second = await put(h, key, v2)
    await Promise.all([first.durable, second.durable])
    t.equal((await h.store.peek(key))?.size, v2.length, 'concurrent commit of the same key: the second commit is the entry')
    t.equal(sha256(await bodyOf(h.store, key) ?? Buffer.alloc(0)), sha256(v2), 'concurrent commit of the same key: its body is the second')
    t.equal(h.store.stats.entries, 1, 'one entry')
    t.equal(h.store.stats.bytes, v2.length, 'counted once, at its new size')
    if (reader === null) throw new Error('the first body did not open')
    const buffer = Buffer.alloc(v1.length)
    t.equal(await reader.read(buffer, v1.length, 0), v1.length, 'the first reader reads on')
    t.ok(buffer.equals(v1), 'concurrent commit of the same key: a reader of the first body gets the first bytes')
    await reader.close()
    await h.store.close()
    const store = await h.restart()
    t.equal(sha256(await bodyOf(store, key) ?? Buffer.alloc(0)), sha256(v2), 'concurrent commit of the same key: the second survives a restart')
  })

  t.test('a key replaced after its own entry was evicted for the room keeps the new body', async (t) => {
    // disk-store-model.test.ts seed 708560677: the old entry's unlink removed the new body.
    const h = await harness(t, 8000)
    const key = keyOf('evicted-by-itself')
    await putDurable(h, key, makeBytes(5196, 70))
    const v2 = makeBytes(2990, 71)
    await putDurable(h, key, v2)
    t.equal(sha256(await bodyOf(h.store, key) ?? Buffer.alloc(0)), sha256(v2), 'the new body is served')
    await h.store.close()
    const store = await h.restart()
    t.equal(sha256(await bodyOf(store, key) ?? Buffer.alloc(0)), sha256(v2), 'and is still there once background unlinks are done')
  })

  t.test('restart: durable entries come back with their bytes, metadata and LRU order', async (t) => {
    const h = await harness(t, 3000)
    const keys = ['r0', 'r1', 'r2'].map(keyOf)
    const metas: EntryMeta[] = []
    for (const [i, key] of keys.entries()) {
      h.clock.now += 1000
      metas.push(await putDurable(h, key, makeBytes(1000, 80 + i)))
    }
    await h.store.close()
    const store = await h.restart()
    for (const [i, key] of keys.entries()) {
      const meta = await store.peek(key)
      t.match(meta, { key, url: metas[i]?.url, size: 1000, sha256: metas[i]?.sha256, etag: metas[i]?.etag, headers: metas[i]?.headers }, `restart: ${key.slice(0, 6)} and its metadata are back`)
      t.equal(sha256(await bodyOf(store, key) ?? Buffer.alloc(0)), metas[i]?.sha256, `restart: ${key.slice(0, 6)} reads back exactly`)
    }
    t.equal(store.stats.bytes, 3000)
    h.clock.now += 1000
    await putDurable(h, keyOf('r3'), makeBytes(1000, 83))
    t.equal(await store.peek(keys[0] as string), undefined, 'restart: the least recently used entry before the restart is evicted first')
    t.ok(await store.peek(keys[2] as string))
    t.same((await store.health()).ok, true, 'a writable store is healthy')
  })

  t.test('updateMeta and delete', async (t) => {
    const h = await harness(t)
    const key = keyOf('update')
    const meta = await putDurable(h, key, makeBytes(2000, 90))
    await h.store.updateMeta({ ...meta, headers: { 'content-type': 'application/x-tar' }, etag: '"v2"' })
    t.same((await h.store.peek(key))?.etag, '"v2"', 'updated metadata is what peek gives')
    const store = await h.restart()
    t.same((await store.peek(key))?.headers, { 'content-type': 'application/x-tar' }, 'and what a restart finds')
    t.equal(await store.delete(key), true, 'deleted')
    t.equal(await store.delete(key), false, 'a second delete finds nothing')
    await store.updateMeta({ ...meta, etag: '"v3"' })
    t.equal(await store.peek(key), undefined, 'updateMeta does not bring a deleted entry back')
    t.equal(await store.openBody(key), null)
    t.equal(store.stats.entries, 0)
  })
}
