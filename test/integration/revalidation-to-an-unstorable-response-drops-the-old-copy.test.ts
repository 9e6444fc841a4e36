// A stale entry is revalidated and the upstream answers with a new 200 that may not be stored
// (no-store, or too large for cache.maxSize). The client gets the new bytes, and the old copy is
// dropped: it is no longer the current representation, so it must not come back later as a
// stale-if-error answer when the upstream fails.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 64 * 1024

t.test('a revalidation answered with an unstorable 200 drops the stored copy', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '1MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = (path: string): string => proxy.mirrorUrl(upstream.host, path)
  const stored = (path: string): boolean => proxy.app.dsmirror.store.list().some((m) => m.url.endsWith(path))

  const cases = [
    { path: '/api/now-private.json', next: { body: makeBytes(SIZE, 2), headers: { 'cache-control': 'no-store' } }, why: 'no-store' },
    { path: '/api/now-huge.json', next: { body: makeBytes(2 * 1024 * 1024, 3), headers: { 'cache-control': 'max-age=0' } }, why: 'larger than cache.maxSize' }
  ]
  for (const [i, c] of cases.entries()) {
    upstream.set(c.path, { body: makeBytes(SIZE, 10 + i), headers: { 'cache-control': 'max-age=0' } })
    t.equal((await request(url(c.path))).headers['cache-status'], 'dsmirror; fwd=miss; stored', `${c.why}: stored first`)
    t.ok(stored(c.path), `${c.why}: indexed`)

    upstream.set(c.path, { ...c.next, etag: `"v2-${i}"` })
    const fresh = await request(url(c.path))
    t.equal(fresh.status, 200)
    t.equal(fresh.sha256, sha256(c.next.body), `${c.why}: the client gets the new bytes`)
    t.match(fresh.headers['cache-status'], /^dsmirror; fwd=miss; detail="/, `${c.why}: not stored, the reason given`)
    await proxy.idle()
    t.notOk(stored(c.path), `${c.why}: the old copy is gone from the index`)
  }

  // With the upstream down, no old copy comes back as a stale answer.
  await upstream.close()
  for (const c of cases) {
    const res = await request(url(c.path))
    t.equal(res.status, 502, `${c.why}: upstream down, nothing stale to serve`)
    t.equal(JSON.parse(res.body.toString()).code, 'DSM_UPSTREAM_CONNECT')
  }
})
