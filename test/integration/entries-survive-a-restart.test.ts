// Entries committed before a restart are hits after it; a body whose length disagrees with its
// metadata is dropped at start, never served.
import { truncate } from 'node:fs/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('committed entries are hits after a restart; damaged ones are dropped', async (t) => {
  const upstream = await startUpstream()
  const kept = makeBytes(1024 * 1024, 40)
  const damaged = makeBytes(1024 * 1024, 41)
  upstream.set('/w/kept.pth', { body: kept })
  upstream.set('/w/damaged.pth', { body: damaged })
  const first = await startProxy({ allowHosts: [upstream.host] })
  await request(first.mirrorUrl(upstream.host, '/w/kept.pth'))
  await request(first.mirrorUrl(upstream.host, '/w/damaged.pth'))
  await first.idle()
  const damagedKey = first.app.dsmirror.store.list().find((m) => m.url.endsWith('damaged.pth'))?.key ?? ''
  await first.close()
  await truncate(first.app.dsmirror.store.bodyPath(damagedKey), 1000)

  const second = await startProxy({ allowHosts: [upstream.host], dataDir: first.dataDir })
  t.teardown(async () => { await second.close({ remove: true }); await upstream.close() })
  const hit = await request(second.mirrorUrl(upstream.host, '/w/kept.pth'))
  t.equal(hit.headers['cache-status'], 'dsmirror; hit')
  t.equal(hit.sha256, sha256(kept))
  t.equal(upstream.count('/w/kept.pth', 'GET'), 1)

  const refetched = await request(second.mirrorUrl(upstream.host, '/w/damaged.pth'))
  t.match(refetched.headers['cache-status'], /fwd=miss/, 'the truncated body was dropped at start')
  t.equal(refetched.sha256, sha256(damaged))
  t.equal(upstream.count('/w/damaged.pth', 'GET'), 2)
})
