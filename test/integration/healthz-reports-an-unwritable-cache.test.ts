// Issue 12 item 4: /_/healthz said ok while every request failed with 500 DSM_CACHE_IO. It now
// probes the cache directory (layout present or recreated, an empty file created and removed in
// tmp/), at most every HEALTH_PROBE_INTERVAL_MS, and answers 503 { status: 'unhealthy', reason }
// while it cannot be written, so docker/healthcheck.mjs and the Kubernetes probes (which need a
// 2xx) restart or alert. As root no chmod makes a directory unwritable: the cache directory is
// replaced by a regular file, which nothing can create files in.
import t from 'tap'
import { rm, writeFile } from 'node:fs/promises'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { HEALTH_PROBE_INTERVAL_MS } from '../../server/cache/disk-store.js'

t.test('/_/healthz is 503 with the reason while the cache directory cannot be written', async (t) => {
  let clock = Date.parse('2026-03-01T00:00:00Z')
  const body = makeBytes(64 * 1024, 44)
  const upstream = await startUpstream()
  upstream.set('/data/a.tar.gz', { body })
  upstream.set('/data/b.tar.gz', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host], now: () => clock })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const dir = proxy.config.cache.dir
  const health = async (): Promise<{ status: number, body: unknown }> => {
    const res = await request(`${proxy.origin}/_/healthz`)
    return { status: res.status, body: JSON.parse(res.body.toString('utf8')) }
  }

  t.same(await health(), { status: 200, body: { status: 'ok' } }, 'healthy at start')

  await rm(dir, { recursive: true, force: true })
  await writeFile(dir, 'not a directory\n')
  t.same(await health(), { status: 200, body: { status: 'ok' } }, 'the last answer is repeated within the probe interval')
  clock += HEALTH_PROBE_INTERVAL_MS
  const sick = await health()
  t.equal(sick.status, 503, 'unhealthy once probed again')
  t.match(sick.body, { status: 'unhealthy', reason: /cache directory '.+' is not writable \(.+\)\. Make it a writable directory/ })
  t.ok((sick.body as { reason: string }).reason.includes(dir), 'the reason names the directory')
  // Meanwhile a miss the upstream can serve is passed through uncached (issue 12 item 11).
  const passed = await request(proxy.mirrorUrl(upstream.host, '/data/a.tar.gz'))
  t.equal(passed.status, 200, 'misses are passed through meanwhile')
  t.equal(passed.headers['cache-status'], 'dsmirror; fwd=miss; detail=cache-unwritable')
  t.equal(passed.sha256, sha256(body))

  await rm(dir, { force: true })
  clock += HEALTH_PROBE_INTERVAL_MS
  t.same(await health(), { status: 200, body: { status: 'ok' } }, 'healthy again once the path can hold a directory (the layout is recreated)')
  const res = await request(proxy.mirrorUrl(upstream.host, '/data/b.tar.gz'))
  t.equal(res.status, 200)
  t.equal(res.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  t.equal(res.sha256, sha256(body))
})
