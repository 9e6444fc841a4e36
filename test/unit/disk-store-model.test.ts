// The cache index (docs/design.md "Cache", server/cache/disk-store.ts) under random sequences of put, get,
// delete, pin/unpin, interrupted puts and restarts, on a real temp directory, against a small
// model: an LRU list plus the pinned set, and what each entry's metadata on disk says.
// After every step: the index holds exactly the model's entries, in the model's LRU order, with
// their sizes; bytes stay within maxSize (pinned bytes alone may exceed a maxSize lowered by a
// restart: pins are never evicted); every indexed body opens with its bytes. At every restart
// and at the end, once evicted files are unlinked: objects/ holds exactly the model's bodies,
// metadata only for entries made durable, and tmp/ is empty after a start. A restart keeps the
// durable entries, ordered by the lastAccess their metadata holds, evicting the oldest when a
// smaller maxSize is given; a body published but never made durable (a crash before its
// metadata) and a temp file never published are gone.
// Puts follow download.ts: claim (no eviction), useSpace (evicts for the bytes written), write the
// temp file, fits, publish with the accounting, then persist.
// What it found in disk-store.ts (fixed there): a restart with a smaller maxSize left the files of
// entries over it under objects/, unindexed, for good (seed 766375438); an entry evicted by its
// own key's reserve had its async unlink remove the body published right after (seed 708560677:
// put 5196 B, put 2990 B of the same key at maxSize 8000, then ENOENT on open); unpinning an
// entry over a lowered maxSize dropped it from the index and left its files (seed -1027651708).
// Sizes are >= 1 byte: a 0-byte body weighs 1 in the LRU but reserves 0, a corner where lru-cache's
// own eviction order, not DiskStore's, would decide.
import { deepStrictEqual, equal, ok } from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import pino from 'pino'
import t from 'tap'
import { DiskStore, type EntryMeta } from '../../server/cache/disk-store.js'
import { makeBytes } from '../helpers/bytes.js'

const RUNS = 150
const KEYS = ['0a', '0b', '1c', 'ff', '7e', '7f'].map((p) => p + 'd'.repeat(62))
const MAX_SIZES = [3000, 5000, 8000]
const SETTLE_MS = 5000

type Op =
  | { op: 'put', key: number, size: number, durable: boolean }
  | { op: 'get', key: number }
  | { op: 'delete', key: number }
  | { op: 'pin', key: number, pinned: boolean }
  | { op: 'crash-mid-put', key: number, bytes: number }
  | { op: 'restart', maxSize: number }

interface ModelEntry {
  key: string
  size: number
  version: number
  /** In memory, set by put and get. */
  lastAccess: number
  /** What the metadata file on disk says, or null when there is none (not durable yet). */
  disk: { lastAccess: number, pinned: boolean } | null
}

interface Model {
  maxSize: number
  /** Least recently used first. */
  lru: ModelEntry[]
  /** In the order they were pinned. */
  pinned: ModelEntry[]
  version: number
}

const weight = (e: ModelEntry): number => Math.max(1, e.size)
const sum = (entries: ModelEntry[]): number => entries.reduce((n, e) => n + weight(e), 0)
const find = (m: Model, key: string): ModelEntry | undefined => m.pinned.find((e) => e.key === key) ?? m.lru.find((e) => e.key === key)

function evictWhile (m: Model, over: () => boolean): void {
  while (over() && m.lru.length > 0) m.lru.shift()
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('put' as const), key: fc.nat(KEYS.length - 1), size: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 2500, max: 9000 })), durable: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pin' as const), key: fc.nat(KEYS.length - 1), pinned: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash-mid-put' as const), key: fc.nat(KEYS.length - 1), bytes: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('restart' as const), maxSize: fc.constantFrom(...MAX_SIZES) }) }
)

interface Real {
  dir: string
  store: DiskStore
  clock: number
}

const log = pino({ level: 'silent' })

async function open (real: Real, maxSize: number): Promise<DiskStore> {
  return await DiskStore.open({ dir: real.dir, maxSize, log, now: () => real.clock })
}

/** Files under objects/ (shard/name) and tmp/. */
async function filesOnDisk (dir: string): Promise<{ objects: string[], tmp: string[] }> {
  const objects: string[] = []
  for (const shard of await readdir(join(dir, 'objects'))) {
    for (const name of await readdir(join(dir, 'objects', shard))) objects.push(name)
  }
  return { objects: objects.sort(), tmp: (await readdir(join(dir, 'tmp'))).sort() }
}

function expectedObjects (m: Model): string[] {
  const all = [...m.pinned, ...m.lru]
  return [...all.map((e) => e.key), ...all.filter((e) => e.disk !== null).map((e) => `${e.key}.json`)].sort()
}

/** Evicted and deleted files are unlinked in the background: wait until objects/ is what the model says. */
async function settle (real: Real, m: Model): Promise<void> {
  const deadline = Date.now() + SETTLE_MS
  let found = await filesOnDisk(real.dir)
  while (JSON.stringify(found.objects) !== JSON.stringify(expectedObjects(m)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    found = await filesOnDisk(real.dir)
  }
  deepStrictEqual(found.objects, expectedObjects(m), 'objects/ holds exactly the bodies of indexed entries and metadata of durable ones')
  for (const e of [...m.pinned, ...m.lru]) {
    if (e.disk === null) continue
    const meta = JSON.parse(await readFile(real.store.metaPath(e.key), 'utf8')) as EntryMeta
    deepStrictEqual({ key: meta.key, size: meta.size, lastAccess: meta.lastAccess, pinned: meta.pinned === true }, { key: e.key, size: e.size, ...e.disk }, 'metadata on disk')
  }
}

async function checkIndex (real: Real, m: Model): Promise<void> {
  const listed = real.store.list().map((meta) => ({ key: meta.key, size: meta.size }))
  // list(): pinned entries first, then the LRU from the most recently used.
  const expected = [...m.pinned, ...[...m.lru].reverse()].map((e) => ({ key: e.key, size: e.size }))
  deepStrictEqual(listed, expected, 'index entries, sizes and LRU order')
  const stats = real.store.stats
  equal(stats.bytes, sum(m.pinned) + sum(m.lru), 'bytes counted')
  ok(stats.bytes <= Math.max(m.maxSize, sum(m.pinned)), `bytes ${stats.bytes} within maxSize ${m.maxSize}`)
  for (const e of [...m.pinned, ...m.lru]) {
    const body = await readFile(real.store.bodyPath(e.key))
    ok(body.equals(makeBytes(e.size, e.version)), `body of ${e.key.slice(0, 4)} is version ${e.version}, ${e.size} bytes`)
  }
}

async function step (real: Real, m: Model, o: Op, clock: number): Promise<void> {
  real.clock = clock
  const key = 'key' in o ? KEYS[o.key] as string : ''
  switch (o.op) {
    case 'put': {
      const pinnedBytes = sum(m.pinned)
      // A promise evicts nothing; room is made as the bytes are written (issue 12 item 2).
      const before = real.store.stats.entries
      const reserved = real.store.claim(o.size)
      equal(reserved, o.size <= m.maxSize - pinnedBytes, 'claim refuses only what can never fit')
      if (!reserved) return
      equal(real.store.stats.entries, before, 'claim evicts nothing')
      equal(real.store.useSpace(o.size), true, 'room is made for the bytes written')
      evictWhile(m, () => sum(m.lru) + pinnedBytes + o.size > m.maxSize)
      const version = ++m.version
      const handle = await real.store.openTemp(key)
      await handle.write(makeBytes(o.size, version))
      await handle.close()
      equal(real.store.fits(o.size), true)
      const meta: EntryMeta = {
        key,
        url: `https://example.org/${key}`,
        status: 200,
        headers: {},
        size: o.size,
        sha256: '',
        etag: null,
        lastModified: null,
        fetchedAt: clock,
        lastAccess: clock,
        immutable: false,
        policy: {}
      }
      await real.store.publish(meta, { claimed: o.size, written: o.size })
      const pinned = m.pinned.find((e) => e.key === key)
      const entry: ModelEntry = { key, size: o.size, version, lastAccess: clock, disk: null }
      if (pinned !== undefined) {
        m.pinned[m.pinned.indexOf(pinned)] = entry
      } else {
        m.lru = m.lru.filter((e) => e.key !== key)
        m.lru.push(entry)
      }
      evictWhile(m, () => sum(m.lru) + sum(m.pinned) > m.maxSize)
      if (o.durable) {
        await real.store.persist(meta)
        if (find(m, key) === entry) entry.disk = { lastAccess: clock, pinned: pinned !== undefined }
      }
      return
    }
    case 'get': {
      const entry = find(m, key)
      const found = await real.store.openBody(key)
      equal(found?.meta.size, entry?.size, 'get finds exactly the model entry')
      await found?.handle.close()
      if (entry === undefined) return
      entry.lastAccess = clock
      if (m.lru.includes(entry)) m.lru = [...m.lru.filter((e) => e !== entry), entry]
      return
    }
    case 'delete': {
      const entry = find(m, key)
      equal(real.store.delete(key), entry !== undefined)
      m.lru = m.lru.filter((e) => e !== entry)
      m.pinned = m.pinned.filter((e) => e !== entry)
      return
    }
    case 'pin': {
      const entry = find(m, key)
      const meta = await real.store.setPinned(key, o.pinned)
      equal(meta?.key, entry?.key)
      if (entry === undefined) return
      const isPinned = m.pinned.includes(entry)
      if (o.pinned && !isPinned) {
        m.lru = m.lru.filter((e) => e !== entry)
        m.pinned.push(entry)
      } else if (!o.pinned && isPinned) {
        m.pinned = m.pinned.filter((e) => e !== entry)
        // Over a maxSize lowered by a restart since it was pinned, it cannot go back to the LRU.
        if (weight(entry) <= m.maxSize) m.lru.push(entry)
        evictWhile(m, () => sum(m.lru) + sum(m.pinned) > m.maxSize)
      }
      // The metadata is rewritten, with the in-memory lastAccess, once the body is durable.
      if (entry.disk !== null && find(m, key) === entry) entry.disk = { lastAccess: entry.lastAccess, pinned: o.pinned }
      return
    }
    case 'crash-mid-put': {
      const handle = await real.store.openTemp(key)
      await handle.write(makeBytes(o.bytes, 0))
      await handle.close()
      return
    }
    case 'restart': {
      await settle(real, m)
      const durable = [...m.pinned, ...m.lru].filter((e) => e.disk !== null).sort((a, b) => (a.disk?.lastAccess ?? 0) - (b.disk?.lastAccess ?? 0))
      for (const e of durable) e.lastAccess = e.disk?.lastAccess ?? 0
      m.maxSize = o.maxSize
      m.pinned = durable.filter((e) => e.disk?.pinned === true)
      // An entry over the new maxSize can never be held: dropped, files and all.
      m.lru = durable.filter((e) => e.disk?.pinned !== true && weight(e) <= o.maxSize)
      evictWhile(m, () => sum(m.lru) + sum(m.pinned) > m.maxSize)
      real.store = await open(real, o.maxSize)
      deepStrictEqual((await filesOnDisk(real.dir)).tmp, [], 'tmp/ is empty after a start: no resume state was written')
      await settle(real, m)
    }
  }
}

t.test('property: the cache index follows the model under random put/get/delete/pin/restart', async (t) => {
  let steps = 0
  await fc.assert(fc.asyncProperty(fc.constantFrom(...MAX_SIZES), fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }), async (maxSize, ops) => {
    const dir = await mkdtemp(join(tmpdir(), 'dsmirror-store-model-'))
    try {
      const real: Real = { dir, clock: 1000, store: undefined as unknown as DiskStore }
      real.store = await open(real, maxSize)
      const m: Model = { maxSize, lru: [], pinned: [], version: 0 }
      let clock = 1000
      for (const o of ops) {
        await step(real, m, o, ++clock)
        await checkIndex(real, m)
        steps++
      }
      await settle(real, m)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs, ${steps} steps`)
})
