// /_/api/status (the snapshot the status page renders) reports the cache and its downloads as
// they are: entries largest-first and newest-first, cache use, hit ratio and bytes saved, and a
// download in flight with its bytes, size and clients.
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const KIB = 1024
const POLL_MS = 20

interface Snapshot {
  cache: { bytes: number, entries: number, maxSize: number }
  served: { hitRatio: number | null, fromCache: number, fromUpstream: number, bytesSaved: number }
  largest: Array<{ url: string, size: number }>
  recent: Array<{ url: string, size: number }>
  downloads: Array<{ url: string, written: number, size: number | null, clients: number }>
}

async function snapshot (proxy: TestProxy): Promise<Snapshot> {
  return JSON.parse((await request(`${proxy.origin}/_/api/status`)).body.toString()) as Snapshot
}

t.test('entries, cache use, hit ratio and a download in flight', async (t) => {
  const upstream = await startUpstream()
  const sizes = { '/s/one.bin': 30 * KIB, '/s/two.bin': 10 * KIB, '/s/three.bin': 20 * KIB }
  for (const [path, size] of Object.entries(sizes)) upstream.set(path, { body: makeBytes(size, size) })
  const stalled = makeBytes(100 * KIB, 99)
  upstream.set('/s/stalled.bin', { body: stalled, stallAfter: 40 * KIB })
  // A clock that moves 1 s per reading, so every entry has its own fetchedAt.
  let clock = Date.UTC(2026, 0, 1)
  const proxy = await startProxy({ allowHosts: [upstream.host], now: () => (clock += 1000) })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = (path: string): string => proxy.mirrorUrl(upstream.host, path)

  const empty = await snapshot(proxy)
  t.equal(empty.served.hitRatio, null, 'no ratio before any request')
  t.same(empty.largest, [])

  for (const path of Object.keys(sizes)) {
    t.equal((await request(url(path))).status, 200)
    await proxy.idle()
  }
  t.equal((await request(url('/s/one.bin'))).headers['cache-status'], 'dsmirror; hit')
  // The hit's response closes a moment after the client has it.
  let s = await waitUntil(async () => { const now = await snapshot(proxy); return now.served.fromCache > 0 ? now : undefined }, { what: 'the hit to be counted', pollMs: POLL_MS })
  const origin = upstream.origin
  t.same(s.largest.map((e) => e.url), [`${origin}/s/one.bin`, `${origin}/s/three.bin`, `${origin}/s/two.bin`], 'largest first')
  t.same(s.recent.map((e) => e.url), [`${origin}/s/three.bin`, `${origin}/s/two.bin`, `${origin}/s/one.bin`], 'newest first')
  t.match(s.cache, { bytes: 60 * KIB, entries: 3 })
  t.match(s.served, { fromCache: 1, fromUpstream: 3, hitRatio: 0.25, bytesSaved: 30 * KIB })

  const { req, res } = await openResponse(url('/s/stalled.bin'))
  res.resume()
  t.teardown(() => { req.destroy() })
  s = await waitUntil(async () => { const now = await snapshot(proxy); return now.downloads[0]?.written === 40 * KIB ? now : undefined }, { what: 'the stalled download to have 40 KiB', pollMs: POLL_MS })
  t.match(s.downloads, [{ url: `${origin}/s/stalled.bin`, written: 40 * KIB, size: stalled.length, clients: 1 }], 'the download in flight, its bytes, size and one client')
})
