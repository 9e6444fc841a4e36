// The cache stays under cache.maxSize by evicting the least recently used entries first, and an
// entry evicted while a client reads it does not break that client (its open file survives).
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024

async function bodyFiles (cacheDir: string): Promise<number> {
  let count = 0
  for (const shard of await readdir(join(cacheDir, 'objects'))) {
    count += (await readdir(join(cacheDir, 'objects', shard))).filter((n) => !n.endsWith('.json')).length
  }
  return count
}

t.test('least recently used entries are evicted first and the cache stays under maxSize', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '10MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [0, 1, 2, 3].map((i) => makeBytes(3 * MiB, 20 + i))
  bodies.forEach((body, i) => upstream.set(`/e/${i}.tar`, { body }))
  const url = (i: number): string => proxy.mirrorUrl(upstream.host, `/e/${i}.tar`)
  // Each request waits for its commit, so recency is the order of the requests below.
  const get = async (i: number): Promise<Awaited<ReturnType<typeof request>>> => {
    const res = await request(url(i))
    await proxy.idle()
    return res
  }

  for (const i of [0, 1, 2]) t.equal((await get(i)).status, 200)
  t.equal((await get(0)).headers['cache-status'], 'dsmirror; hit', 'touch 0: now 1 is least recently used')
  await get(3)
  const { store } = proxy.app.dsmirror
  t.ok(store.stats.bytes <= 10 * MiB, `cache holds ${store.stats.bytes} bytes, under maxSize`)
  t.equal(store.stats.entries, 3)
  t.equal((await get(0)).headers['cache-status'], 'dsmirror; hit', '0 was kept')
  t.equal((await get(2)).headers['cache-status'], 'dsmirror; hit', '2 was kept')
  t.equal((await get(3)).headers['cache-status'], 'dsmirror; hit', '3 was kept')
  t.equal(upstream.count('/e/1.tar', 'GET'), 1, 'before asking again, 1 was fetched once')
  const again = await get(1)
  t.match(again.headers['cache-status'], /fwd=miss/, '1 was evicted')
  t.equal(again.sha256, sha256(bodies[1] as Buffer))
  t.equal(await bodyFiles(proxy.config.cache.dir), store.stats.entries, 'evicted bodies are gone from disk')
})

t.test('an entry evicted while a client reads it does not break that client', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '8MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const first = makeBytes(6 * MiB, 30)
  const second = makeBytes(6 * MiB, 31)
  upstream.set('/e/first.tar', { body: first })
  upstream.set('/e/second.tar', { body: second })
  await request(proxy.mirrorUrl(upstream.host, '/e/first.tar'))
  await proxy.idle()

  // A slow reader of the cached `first`: read one chunk, then pause.
  const { res } = await openResponse(proxy.mirrorUrl(upstream.host, '/e/first.tar'))
  t.equal(res.headers['cache-status'], 'dsmirror; hit')
  const chunks: Buffer[] = []
  await new Promise((resolve) => res.once('data', (c: Buffer) => { chunks.push(c); resolve(null) }))
  res.pause()

  // Caching `second` needs the room `first` takes: `first` is evicted under the reader.
  await request(proxy.mirrorUrl(upstream.host, '/e/second.tar'))
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.peek(proxy.app.dsmirror.store.list()[0]?.key ?? '')?.url.endsWith('/e/second.tar'), true, 'only second is cached now')
  t.equal(proxy.app.dsmirror.store.stats.entries, 1)

  res.on('data', (c: Buffer) => chunks.push(c))
  res.resume()
  await new Promise((resolve) => res.once('end', resolve))
  t.ok(res.complete)
  t.equal(sha256(Buffer.concat(chunks)), sha256(first), 'the reader got every byte of the evicted entry')
})

t.test('objects larger than maxSize are served whole and never cached, with or without Content-Length', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '1MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const body = makeBytes(2 * MiB, 32)
  upstream.set('/e/known.tar', { body })
  upstream.set('/e/chunked.tar', { body, contentLength: 'omit' })
  for (const path of ['/e/known.tar', '/e/chunked.tar']) {
    const res = await request(proxy.mirrorUrl(upstream.host, path))
    t.ok(res.complete, `${path}: complete`)
    t.equal(res.sha256, sha256(body), `${path}: exact bytes`)
  }
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 0)
  t.equal(await bodyFiles(proxy.config.cache.dir), 0, 'nothing left under objects/')
  t.same(await readdir(join(proxy.config.cache.dir, 'tmp')), [], 'nothing left under tmp/')
})
