// /_/metrics is well-formed Prometheus text, and a scripted sequence of misses, hits, a client
// joining a download in flight and refused or failed requests moves each counter by exactly
// what it implies (docs/design.md "Operations"). Two apps in one process count apart: each has its
// own registry.
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { parsePrometheus, type Exposition } from '../helpers/prometheus.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const POLL_MS = 20

async function scrape (proxy: TestProxy): Promise<Exposition> {
  const res = await request(`${proxy.origin}/_/metrics`)
  if (res.status !== 200) throw new Error(`/_/metrics answered ${res.status}`)
  return parsePrometheus(res.body.toString())
}

/** Responses of every outcome but `local` (scrapes are local, and count themselves). */
function remoteRequests (m: Exposition): number {
  return m.samples.filter((s) => s.name === 'dsmirror_requests_total' && s.labels.outcome !== 'local').reduce((n, s) => n + s.value, 0)
}

/** A response is counted when the server side closes it, a moment after the client has it. */
async function scrapeWhen (proxy: TestProxy, done: (m: Exposition) => boolean): Promise<Exposition> {
  return await waitUntil(async () => {
    const m = await scrape(proxy)
    return done(m) ? m : undefined
  }, { what: 'the metrics to count every response', pollMs: POLL_MS })
}

t.test('every outcome moves its counters by exactly what happened', async (t) => {
  const a = makeBytes(64 * 1024, 61)
  const b = makeBytes(32 * 1024, 62)
  const c = makeBytes(512 * 1024, 63)
  const upstream = await startUpstream()
  const gone = await startUpstream()
  upstream.set('/m/a.bin', { body: a })
  upstream.set('/m/b.bin', { body: b })
  // About a second, so the second client surely finds it in flight even on a busy machine.
  upstream.set('/m/c.bin', { body: c, throttleBytesPerSec: 512 * 1024, chunkSize: 32 * 1024 })
  await gone.close()
  const proxy = await startProxy({ allowHosts: [upstream.host, gone.host] })
  const other = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await other.close({ remove: true }); await upstream.close() })
  const url = (path: string): string => proxy.mirrorUrl(upstream.host, path)

  const before = await scrape(proxy)
  t.equal(before.types.get('dsmirror_requests_total'), 'counter')
  t.equal(before.types.get('dsmirror_upstream_ttfb_seconds'), 'histogram')
  t.equal(before.types.get('dsmirror_downloads_in_flight'), 'gauge')
  t.ok(before.samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'default process metrics')
  t.equal(before.value('dsmirror_requests_total', { outcome: 'hit' }), 0, 'outcomes start at 0')

  const responses: Array<{ res: ClientResponse, outcome: string }> = []
  const send = async (outcome: string, target: string, opts: Parameters<typeof request>[1] = {}): Promise<ClientResponse> => {
    const res = await request(target, opts)
    t.ok(res.complete, `${outcome} ${target} complete`)
    responses.push({ res, outcome })
    return res
  }
  t.match((await send('miss', url('/m/a.bin'))).headers['cache-status'], /fwd=miss; stored/)
  await proxy.idle()
  await send('hit', url('/m/a.bin'))
  await send('hit', url('/m/a.bin'))
  await send('hit', url('/m/a.bin'), { method: 'HEAD' })
  await send('miss', url('/m/b.bin'))
  await proxy.idle()
  t.equal((await send('hit', url('/m/b.bin'), { headers: { range: 'bytes=0-99' } })).body.length, 100)

  // A second client while the first is still downloading joins it.
  const first = send('miss', url('/m/c.bin'))
  await waitUntil(() => proxy.app.dsmirror.cache.downloads.size > 0, { what: 'a download in flight' })
  t.equal((await send('coalesced', url('/m/c.bin'))).headers['cache-status'], 'dsmirror; hit; detail=in-flight')
  await first
  await proxy.idle()

  t.equal((await send('error', proxy.mirrorUrl('127.0.0.1:1', '/x.bin'))).status, 403)
  t.equal((await send('error', proxy.mirrorUrl(gone.host, '/x.bin'))).status, 502)
  t.equal((await send('error', `${proxy.origin}/_/no-such-page`)).status, 404)
  t.equal((await send('error', url('/m/a.bin'), { headers: { range: 'bytes=999999-' } })).status, 416)

  const after = await scrapeWhen(proxy, (m) => remoteRequests(m) - remoteRequests(before) >= responses.length)
  const delta = (name: string, labels: Record<string, string> = {}): number => (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0)
  for (const outcome of ['hit', 'coalesced', 'miss', 'error']) {
    const mine = responses.filter((r) => r.outcome === outcome)
    t.equal(delta('dsmirror_requests_total', { outcome }), mine.length, `requests{outcome="${outcome}"}`)
    t.equal(delta('dsmirror_served_bytes_total', { outcome }), mine.reduce((n, r) => n + r.res.body.length, 0), `served bytes{outcome="${outcome}"}`)
  }
  t.equal(delta('dsmirror_requests_total', { outcome: 'bypass' }), 0)
  t.equal(delta('dsmirror_requests_total', { outcome: 'stale' }), 0)
  t.equal(delta('dsmirror_upstream_bytes_total'), a.length + b.length + c.length, 'upstream bytes: each body once')
  t.equal(delta('dsmirror_downloads_total'), 4, 'a, b, c and the failed attempt at the closed upstream')
  t.equal(delta('dsmirror_coalesced_clients_total'), 1)
  t.equal(delta('dsmirror_upstream_ttfb_seconds_count'), 3, 'a TTFB for each download that got a response')
  for (const code of ['DSM_HOST_NOT_ALLOWED', 'DSM_UPSTREAM_CONNECT', 'DSM_NOT_FOUND', 'DSM_RANGE_NOT_SATISFIABLE']) {
    t.equal(delta('dsmirror_errors_total', { code }), 1, `errors{code="${code}"}`)
  }
  t.equal(after.value('dsmirror_cache_entries'), 3)
  t.equal(after.value('dsmirror_cache_bytes'), a.length + b.length + c.length)
  t.equal(after.value('dsmirror_downloads_in_flight'), 0)
  t.equal(after.value('dsmirror_download_clients'), 0)
  t.equal(upstream.count('/m/c.bin', 'GET'), 1, 'the joined client did not go upstream')

  const untouched = await scrape(other)
  t.equal(remoteRequests(untouched), 0, 'another app in the same process counted nothing')
})

t.test('evictions and cache size follow cache.maxSize', async (t) => {
  const upstream = await startUpstream()
  const size = 40 * 1024
  for (const n of [1, 2, 3]) upstream.set(`/e/${n}.bin`, { body: makeBytes(size, 70 + n) })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: 100 * 1024 } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  for (const n of [1, 2, 3]) {
    t.equal((await request(proxy.mirrorUrl(upstream.host, `/e/${n}.bin`))).status, 200)
    await proxy.idle()
  }
  const m = await scrape(proxy)
  t.equal(m.value('dsmirror_cache_evictions_total'), 1, 'the third body evicted the first')
  t.equal(m.value('dsmirror_cache_entries'), 2)
  t.equal(m.value('dsmirror_cache_bytes'), 2 * size)
  t.equal(m.value('dsmirror_cache_max_bytes'), 100 * 1024)
})

t.test('a download that fails after its response started counts one error, with no status', async (t) => {
  const body = makeBytes(256 * 1024, 75)
  const upstream = await startUpstream()
  upstream.set('/f/bad.bin', { body })
  // A digest the body cannot match: the failure comes at the end, after the response started.
  const checksums = { [`${upstream.origin}/f/bad.bin`]: `sha256:${'0'.repeat(64)}` }
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { checksums } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const before = await scrape(proxy)

  const res = await request(proxy.mirrorUrl(upstream.host, '/f/bad.bin'))
  t.equal(res.status, 200)
  t.notOk(res.complete, 'the client was aborted, not handed a wrong file')
  const after = await scrapeWhen(proxy, (m) => remoteRequests(m) - remoteRequests(before) >= 1)
  const delta = (name: string, labels: Record<string, string> = {}): number => (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0)
  t.equal(delta('dsmirror_errors_total', { code: 'DSM_CHECKSUM_MISMATCH' }), 1)
  t.equal(delta('dsmirror_requests_total', { outcome: 'miss' }), 1, 'the aborted response is still counted')
  t.equal(delta('dsmirror_served_bytes_total', { outcome: 'miss' }), res.body.length, 'with the bytes it really sent')
  const status = JSON.parse((await request(`${proxy.origin}/_/api/status`)).body.toString()) as { errors: Array<{ code: string, status: number | null, url: string }> }
  t.match(status.errors, [{ code: 'DSM_CHECKSUM_MISMATCH', status: null, url: `${upstream.origin}/f/bad.bin` }], 'a recent error without a status')
})
