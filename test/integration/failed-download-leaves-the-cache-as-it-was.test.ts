// Issue 12 item 2: a declared Content-Length must not wipe the cache. Four entries are cached;
// an upstream declares a body almost as large as cache.maxSize, sends 1 byte and closes. The
// client gets its error, and every entry is still there: room is promised at header time
// without evicting anything, and made only for bytes really written.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024

t.test('a download that declares a large length and fails evicts nothing', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '5MiB' }, upstream: { retries: 1 } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [0, 1, 2, 3].map((i) => makeBytes(MiB, 40 + i))
  bodies.forEach((body, i) => upstream.set(`/kept/${i}.tar`, { body }))
  for (const i of [0, 1, 2, 3]) {
    t.equal((await request(proxy.mirrorUrl(upstream.host, `/kept/${i}.tar`))).status, 200)
    await proxy.idle()
  }
  const { store } = proxy.app.dsmirror
  t.equal(store.stats.entries, 4, 'four entries cached')

  // 4.5 MiB declared, 1 byte sent, connection closed; the resume finds a 1-byte object.
  upstream.set('/liar.tar', { body: makeBytes(1, 49), contentLength: Math.floor(4.5 * MiB) })
  const res = await request(proxy.mirrorUrl(upstream.host, '/liar.tar'))
  t.notOk(res.complete && res.status === 200, 'the client does not get a complete body')
  await proxy.idle()

  t.equal(store.stats.entries, 4, 'all four entries are still indexed')
  t.equal(store.stats.reserved, 0, 'nothing left accounted in flight')
  for (const [i, body] of bodies.entries()) {
    const hit = await request(proxy.mirrorUrl(upstream.host, `/kept/${i}.tar`))
    t.equal(hit.headers['cache-status'], 'dsmirror; hit', `entry ${i} still hits`)
    t.equal(hit.sha256, sha256(body), `entry ${i} has its bytes`)
    t.equal(upstream.count(`/kept/${i}.tar`, 'GET'), 1, `entry ${i} was fetched once`)
  }
})
