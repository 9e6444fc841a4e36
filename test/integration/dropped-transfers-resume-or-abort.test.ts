// A dropped upstream transfer is resumed with Range + If-Range (or restarted, prefix re-verified,
// when the upstream ignores ranges) and the client still receives the exact bytes; a transfer
// that can never complete aborts every client and leaves nothing in the cache.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const SIZE = 4 * 1024 * 1024

/** Deterministic offsets spread over the body (seeded, so a failure reproduces). */
function offsets (count: number, seed: number): number[] {
  let x = seed
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return 1 + (x % (SIZE - 2))
  })
}

t.test('cuts at 24 offsets are resumed and the bytes are exact', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const cuts = offsets(24, 42)
  for (const [i, cut] of cuts.entries()) {
    const body = makeBytes(SIZE, 100 + i)
    const path = `/cut/${i}.tar`
    // Two drops per object: the first at `cut`, the resumed range again after a few KiB.
    upstream.set(path, { body, cutAt: [cut, 4096] })
    const res = await request(proxy.mirrorUrl(upstream.host, path))
    t.equal(res.status, 200, `cut at ${cut}: status`)
    t.ok(res.complete, `cut at ${cut}: clean end`)
    t.equal(res.sha256, sha256(body), `cut at ${cut}: exact bytes`)
    const ranged = upstream.requests.filter((r) => r.path === path && r.headers.range !== undefined)
    t.ok(ranged.length >= 1, `cut at ${cut}: resumed with Range`)
    t.ok(ranged.every((r) => typeof r.headers['if-range'] === 'string'), `cut at ${cut}: with If-Range`)
  }
})

t.test('an upstream that ignores Range is restarted and still correct', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const body = makeBytes(SIZE, 9)
  upstream.set('/norange.zip', { body, cutAt: [SIZE / 2], ignoreRange: true })
  const res = await request(proxy.mirrorUrl(upstream.host, '/norange.zip'))
  t.ok(res.complete)
  t.equal(res.sha256, sha256(body))
  t.equal(upstream.count('/norange.zip', 'GET'), 2, 'one restart')
})

t.test('a restart that sends different bytes aborts instead of mixing versions', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const first = makeBytes(SIZE, 1)
  const url = proxy.mirrorUrl(upstream.host, '/changing.tar')
  upstream.set('/changing.tar', { body: first, cutAt: [SIZE / 2], ignoreRange: true, etag: false, lastModified: false, throttleBytesPerSec: 16 * 1024 * 1024 })
  const pending = request(url)
  // Replace the object once the first (paced, ~125 ms to the cut) response has begun: the
  // restart after the cut gets other bytes.
  await waitUntil(() => upstream.count('/changing.tar') >= 1, { what: 'the upstream to see /changing.tar' })
  upstream.set('/changing.tar', { body: makeBytes(SIZE, 2), ignoreRange: true, etag: false, lastModified: false })
  const res = await pending
  t.equal(res.complete, false, 'the client sees an aborted transfer')
  t.not(res.sha256, sha256(first))
  const again = await request(url)
  t.ok(again.complete)
  t.equal(again.sha256, sha256(makeBytes(SIZE, 2)), 'nothing of the broken attempt was cached')
})

t.test('an upstream that never finishes aborts the client and caches nothing', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({
    allowHosts: [upstream.host],
    config: { upstream: { retries: 2, timeouts: { idle: '200ms' } } }
  })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const body = makeBytes(SIZE, 3)
  upstream.set('/stuck.tar.gz', { body, stallAfter: SIZE / 4, stallRanged: true })
  const res = await request(proxy.mirrorUrl(upstream.host, '/stuck.tar.gz'))
  t.equal(res.status, 200, 'headers were already sent')
  t.equal(res.complete, false, 'the client sees an aborted transfer, not a clean end')
  t.ok(res.body.length < SIZE)
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing committed')

  upstream.set('/stuck.tar.gz', { body })
  const again = await request(proxy.mirrorUrl(upstream.host, '/stuck.tar.gz'))
  t.ok(again.complete)
  t.equal(again.sha256, sha256(body))
})

t.test('a restart without Content-Length that ends inside the received prefix is not taken for the end', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const full = makeBytes(SIZE, 12)
  const url = proxy.mirrorUrl(upstream.host, '/shrinking.tar')
  upstream.set('/shrinking.tar', { body: full, cutAt: [SIZE / 2], ignoreRange: true, contentLength: 'omit', etag: false, lastModified: false, throttleBytesPerSec: 16 * 1024 * 1024 })
  const pending = request(url)
  await waitUntil(() => upstream.count('/shrinking.tar') >= 1, { what: 'the upstream to see /shrinking.tar' })
  // The restart gets a body shorter than what was already received, ending cleanly (chunked).
  upstream.set('/shrinking.tar', { body: full.subarray(0, SIZE / 4), ignoreRange: true, contentLength: 'omit', etag: false, lastModified: false })
  const res = await pending
  t.equal(res.complete, false, 'the client sees an aborted transfer, not a clean end')
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing committed')
})

t.test('a download that fails before its first byte answers with its DSM code, not an aborted 200', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { retries: 2 } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  upstream.set('/never.tar', { body: makeBytes(SIZE, 13), cutAt: [0, 0, 0, 0] })
  const res = await request(proxy.mirrorUrl(upstream.host, '/never.tar'))
  t.equal(res.status, 502)
  t.ok(res.complete, 'a complete error response')
  t.equal((JSON.parse(res.body.toString()) as { code: string }).code, 'DSM_UPSTREAM_INCOMPLETE')
  t.match(res.headers['cache-status'], /detail=DSM_UPSTREAM_INCOMPLETE/)
})
