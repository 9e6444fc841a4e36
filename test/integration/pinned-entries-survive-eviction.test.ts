// A pinned entry (PUT /_/api/entries/:key/pin) is never evicted, however much else is fetched,
// while its bytes still count against cache.maxSize: fewer unpinned entries fit beside it, and an
// object that fits only without it is served but not cached. The pin survives a restart, and an
// unpinned entry is evictable again.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024

interface Entry { key: string; url: string; pinned: boolean }

async function entries (proxy: TestProxy): Promise<Entry[]> {
  const res = await request(`${proxy.origin}/_/api/entries`)
  return (JSON.parse(res.body.toString()) as { entries: Entry[] }).entries
}

t.test('a pinned entry outlives eviction pressure and still takes its share of maxSize', async (t) => {
  const upstream = await startUpstream()
  const config = { cache: { maxSize: '10MiB' } }
  let proxy = await startProxy({ allowHosts: [upstream.host], config })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [0, 1, 2, 3, 4, 5].map((i) => makeBytes(3 * MiB, 70 + i))
  bodies.forEach((body, i) => upstream.set(`/p/${i}.tar`, { body }))
  upstream.set('/p/big.tar', { body: makeBytes(8 * MiB, 79) })
  const get = async (name: string): Promise<Awaited<ReturnType<typeof request>>> => {
    const res = await request(proxy.mirrorUrl(upstream.host, `/p/${name}.tar`))
    await proxy.idle()
    return res
  }
  const cachedNames = async (): Promise<string[]> => (await entries(proxy)).map((e) => (/\/p\/(\w+)\.tar$/.exec(e.url)?.[1] ?? e.url)).sort()

  await get('0')
  const [zero] = await entries(proxy)
  if (zero === undefined) throw new Error('0.tar was not cached')
  const pinned = await request(`${proxy.origin}/_/api/entries/${zero.key}/pin`, { method: 'PUT' })
  t.equal(pinned.status, 200)
  t.match(JSON.parse(pinned.body.toString()), { key: zero.key, pinned: true })

  for (const name of ['1', '2', '3', '4']) t.equal((await get(name)).status, 200, `${name}.tar fetched`)
  const { store } = proxy.app.dsmirror
  t.same(await cachedNames(), ['0', '3', '4'], 'the pinned 0 stays; only two 3 MiB entries fit beside its 3 MiB in 10 MiB')
  t.equal(store.stats.pinnedBytes, 3 * MiB)
  t.ok(store.stats.bytes <= 10 * MiB, `cache holds ${store.stats.bytes} bytes, under maxSize`)
  const hit = await get('0')
  t.equal(hit.headers['cache-status'], 'dsmirror; hit', 'the pinned entry is still served from disk')
  t.equal(hit.sha256, sha256(bodies[0] as Buffer))
  t.equal(upstream.count('/p/0.tar', 'GET'), 1, 'fetched once')

  // 8 MiB would fit in 10 MiB, but not beside 3 pinned MiB: served whole, never cached.
  const big = await get('big')
  t.ok(big.complete)
  t.equal(big.body.length, 8 * MiB)
  t.notOk((await cachedNames()).includes('big'), 'an object that only fits without the pinned bytes is not cached')

  // The pin is in the entry's metadata: a restart keeps it.
  const dataDir = proxy.dataDir
  await proxy.close()
  proxy = await startProxy({ allowHosts: [upstream.host], config, dataDir })
  t.equal(proxy.app.dsmirror.store.stats.pinnedEntries, 1, 'pinned after restart')
  t.match((await entries(proxy)).find((e) => e.key === zero.key), { pinned: true })

  // Unpinned, it is an ordinary LRU entry again: enough new entries evict it.
  const unpinned = await request(`${proxy.origin}/_/api/entries/${zero.key}/pin`, { method: 'DELETE' })
  t.match(JSON.parse(unpinned.body.toString()), { key: zero.key, pinned: false })
  for (const name of ['1', '2', '5']) await get(name)
  t.same(await cachedNames(), ['1', '2', '5'], 'the unpinned 0 was evicted like any other entry')
  t.equal(proxy.app.dsmirror.store.stats.pinnedBytes, 0)
})

t.test('pinning an unknown key is DSM_ADMIN_NOT_FOUND, a malformed one DSM_ADMIN_BAD_REQUEST', async (t) => {
  const proxy = await startProxy()
  t.teardown(() => proxy.close({ remove: true }))
  const unknown = await request(`${proxy.origin}/_/api/entries/${'a'.repeat(64)}/pin`, { method: 'PUT' })
  t.equal(unknown.status, 404)
  t.match(JSON.parse(unknown.body.toString()), { code: 'DSM_ADMIN_NOT_FOUND' })
  const malformed = await request(`${proxy.origin}/_/api/entries/not-a-key/pin`, { method: 'PUT' })
  t.equal(malformed.status, 400)
  t.match(JSON.parse(malformed.body.toString()), { code: 'DSM_ADMIN_BAD_REQUEST', error: /'not-a-key' is not a cache key/ })
})
