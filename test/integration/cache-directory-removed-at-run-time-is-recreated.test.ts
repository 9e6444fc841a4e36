// Issue 12 item 4: the cache directory removed under a running server (`rm -rf` by a tmp
// cleaner, a re-mounted volume). Before, every miss and every former hit answered
// 500 DSM_CACHE_IO until a restart. Now the layout is recreated and the request retried: a
// former hit is a miss (its index entry dropped, the object fetched again), a new object is
// stored as usual, and /_/healthz stays 200 because the directory can be written again.
import t from 'tap'
import { rm } from 'node:fs/promises'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.setTimeout(60_000)

t.test('after rm -rf of the cache directory, hits become misses and misses are stored again', async (t) => {
  const warm = makeBytes(512 * 1024, 41)
  const fresh = makeBytes(256 * 1024, 42)
  const upstream = await startUpstream()
  upstream.set('/data/warm.tar.gz', { body: warm })
  upstream.set('/data/fresh.tar.gz', { body: fresh })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const warmUrl = proxy.mirrorUrl(upstream.host, '/data/warm.tar.gz')

  t.equal((await request(warmUrl)).sha256, sha256(warm))
  await proxy.idle()
  t.equal((await request(warmUrl)).headers['cache-status'], 'dsmirror; hit', 'cached before the removal')
  t.equal(proxy.app.dsmirror.store.stats.entries, 1)

  await rm(proxy.config.cache.dir, { recursive: true, force: true })

  const former = await request(warmUrl)
  t.equal(former.status, 200, 'a former hit is answered, not 500')
  t.equal(former.headers['cache-status'], 'dsmirror; fwd=miss; stored', 'as a miss')
  t.equal(former.sha256, sha256(warm), 'with the exact bytes')
  t.ok(former.complete)
  await proxy.idle()
  const again = await request(warmUrl)
  t.equal(again.headers['cache-status'], 'dsmirror; hit', 'and is a hit again afterwards')
  t.equal(again.sha256, sha256(warm))
  t.equal(upstream.count('/data/warm.tar.gz', 'GET'), 2, 'fetched once more, once')

  const miss = await request(proxy.mirrorUrl(upstream.host, '/data/fresh.tar.gz'))
  t.equal(miss.status, 200, 'a new object is answered, not 500')
  t.equal(miss.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  t.equal(miss.sha256, sha256(fresh))
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 2, 'the index counts what is on disk now')

  const health = await request(`${proxy.origin}/_/healthz`)
  t.equal(health.status, 200)
  t.same(JSON.parse(health.body.toString('utf8')), { status: 'ok' })
})

t.test('a hit whose body alone vanished is a miss, not a 500', async (t) => {
  const body = makeBytes(128 * 1024, 43)
  const upstream = await startUpstream()
  upstream.set('/data/one.tar.gz', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/data/one.tar.gz')
  await request(url)
  await proxy.idle()
  // objects/ goes, tmp/ stays: the index must not keep pointing at bodies that are gone.
  await rm(`${proxy.config.cache.dir}/objects`, { recursive: true, force: true })
  const res = await request(url)
  t.equal(res.status, 200)
  t.equal(res.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  t.equal(res.sha256, sha256(body))
})
