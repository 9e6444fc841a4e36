// Issue 12 item 8: an operator can stop a download (a trickling upstream, a file nobody wants)
// with DELETE /_/api/downloads/<key>. Every client reading it is aborted, never ended cleanly;
// nothing is cached; a client that asks again starts a new download.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 512 * 1024

t.test('DELETE /_/api/downloads/<key> cancels the download and aborts its clients', async (t) => {
  const body = makeBytes(SIZE, 71)
  const upstream = await startUpstream()
  // Half the body, then nothing (the socket stays open until close()).
  upstream.set('/d/stuck.bin', { body, stallAfter: SIZE / 2 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/d/stuck.bin')

  // Bounded: a proxy that cannot cancel would leave them waiting on the stalled upstream.
  const clients = [request(url, { signal: AbortSignal.timeout(10_000) }), request(url, { signal: AbortSignal.timeout(10_000) })]
  const cache = proxy.app.dsmirror.cache
  for (let i = 0; i < 200 && ([...cache.downloads.values()][0]?.written ?? 0) < SIZE / 2; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const listed = await (await fetch(`${proxy.origin}/_/api/downloads`)).json() as { downloads: Array<{ key: string }> }
  const key = listed.downloads[0]?.key ?? ''
  t.match(key, /^[0-9a-f]{64}$/, 'the download is listed')

  const cancelled = await fetch(`${proxy.origin}/_/api/downloads/${key}`, { method: 'DELETE' })
  t.equal(cancelled.status, 200)
  t.match(await cancelled.json(), { key, cancelled: true })
  for (const res of await Promise.all(clients)) {
    t.equal(res.status, 200, 'the headers had gone out')
    t.equal(res.complete, false, 'the client is aborted, never ended cleanly')
    t.not(res.error, 'AbortError: The operation was aborted', 'by the proxy, not by the time limit')
  }
  t.equal(cache.downloads.size, 0, 'no longer in flight')
  t.equal(proxy.app.dsmirror.store.list().length, 0, 'nothing cached')

  const again = await fetch(`${proxy.origin}/_/api/downloads/${key}`, { method: 'DELETE' })
  t.equal(again.status, 404)
  t.equal((await again.json() as { code: string }).code, 'DSM_ADMIN_NO_DOWNLOAD')
  const bad = await fetch(`${proxy.origin}/_/api/downloads/not-a-key`, { method: 'DELETE' })
  t.equal(bad.status, 400)

  // The upstream recovers: a new request starts a new download.
  upstream.set('/d/stuck.bin', { body })
  const fresh = await request(url)
  t.equal(fresh.complete, true)
  t.equal(fresh.sha256, sha256(body))
})
