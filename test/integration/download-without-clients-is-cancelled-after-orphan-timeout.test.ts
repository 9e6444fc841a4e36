// Issue 12 item 8: a download outlives its client (torchvision closes its first response unread),
// but one that nobody reads for cache.orphanTimeout is cancelled: it would otherwise hold its
// socket and cache space for as long as the upstream cares to send. A client that joins within
// the grace keeps it going; an admin prefetch, which nobody reads by design, is never an orphan.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 1024 * 1024
const POLL_MS = 20
const LIMIT_MS = 10_000

async function until (check: () => boolean): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < LIMIT_MS; await sleep(POLL_MS)) if (check()) return true
  return false
}

t.test('a download whose only client left is cancelled after cache.orphanTimeout', async (t) => {
  const upstream = await startUpstream()
  // About 4 s for the whole body: far longer than the 200 ms grace.
  upstream.set('/o/left.bin', { body: makeBytes(SIZE, 61), throttleBytesPerSec: 256 * 1024, chunkSize: 16 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { orphanTimeout: '200ms' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  const { res, req } = await openResponse(proxy.mirrorUrl(upstream.host, '/o/left.bin'))
  await new Promise((resolve) => res.once('data', resolve))
  const download = proxy.app.dsmirror.cache.downloads.values().next().value
  req.destroy()
  t.ok(download, 'the download was in flight')
  t.ok(await until(() => download?.state === 'failed'), 'it is cancelled')
  t.equal((download?.failure() as { code?: string } | null)?.code, 'DSM_DOWNLOAD_CANCELLED')
  t.match(download?.failure()?.message, /cache\.orphanTimeout/, 'the reason names the setting')
  t.ok(await until(() => proxy.app.dsmirror.cache.downloads.size === 0), 'no longer in flight')
  t.equal(proxy.app.dsmirror.store.list().length, 0, 'nothing cached')
})

t.test('a client that joins within the grace keeps the download going', async (t) => {
  const body = makeBytes(SIZE, 62)
  const upstream = await startUpstream()
  upstream.set('/o/probe.bin', { body, throttleBytesPerSec: 2 * 1024 * 1024, chunkSize: 16 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { orphanTimeout: '2s' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/o/probe.bin')

  // torchvision: a probe closed after the headers, then the real GET.
  const probe = await openResponse(url)
  probe.req.destroy()
  const real = await request(url)
  t.equal(real.complete, true)
  t.equal(real.sha256, sha256(body))
  t.equal(upstream.count('/o/probe.bin', 'GET'), 1, 'one upstream transfer')
})

t.test('an admin prefetch is never cancelled as an orphan', async (t) => {
  const body = makeBytes(SIZE, 63)
  const upstream = await startUpstream()
  // About 1 s: five times the grace.
  upstream.set('/o/prefetch.bin', { body, throttleBytesPerSec: 1024 * 1024, chunkSize: 16 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { orphanTimeout: '200ms' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  // A client reads a little and leaves while the prefetch follows the same download.
  const { res, req } = await openResponse(proxy.mirrorUrl(upstream.host, '/o/prefetch.bin'))
  await new Promise((resolve) => res.once('data', resolve))
  const started = await fetch(`${proxy.origin}/_/api/prefetch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls: [`/${upstream.host}/o/prefetch.bin`] })
  })
  t.equal(started.status, 202)
  req.destroy()
  await proxy.idle()
  const hit = await request(proxy.mirrorUrl(upstream.host, '/o/prefetch.bin'))
  t.equal(hit.headers['cache-status'], 'dsmirror; hit', 'the prefetch completed and was cached')
  t.equal(hit.sha256, sha256(body))
})
