// Range requests are answered from the cache and from an in-flight download alike: single,
// suffix, open-ended, several ranges (multipart/byteranges), unsatisfiable (416) and If-Range.
import t, { type Test } from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { parseMultipart } from '../helpers/multipart.js'
import { startProxy } from '../helpers/proxy.js'
import { defaultEtag, startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const SIZE = 2 * 1024 * 1024

async function checkRanges (t: Test, url: string, body: Buffer, etag: string, when: string): Promise<void> {
  const single = await request(url, { headers: { range: 'bytes=100-199' } })
  t.equal(single.status, 206, `${when}: single`)
  t.equal(single.headers['content-range'], `bytes 100-199/${SIZE}`)
  t.equal(single.headers['content-length'], '100')
  t.same(single.body, body.subarray(100, 200))

  const suffix = await request(url, { headers: { range: 'bytes=-500' } })
  t.equal(suffix.status, 206, `${when}: suffix`)
  t.same(suffix.body, body.subarray(SIZE - 500))

  const open = await request(url, { headers: { range: `bytes=${SIZE - 1000}-` } })
  t.equal(open.status, 206, `${when}: open-ended`)
  t.same(open.body, body.subarray(SIZE - 1000))

  const multi = await request(url, { headers: { range: 'bytes=0-9,1000-1009,-5' } })
  t.equal(multi.status, 206, `${when}: multipart`)
  t.match(multi.headers['content-type'], /^multipart\/byteranges; boundary=/)
  t.equal(Number(multi.headers['content-length']), multi.body.length, `${when}: multipart length is exact`)
  const parts = parseMultipart(multi.body, String(multi.headers['content-type']))
  t.same(parts.map((p) => p.range), [`bytes 0-9/${SIZE}`, `bytes 1000-1009/${SIZE}`, `bytes ${SIZE - 5}-${SIZE - 1}/${SIZE}`])
  t.same(parts.map((p) => p.bytes), [body.subarray(0, 10), body.subarray(1000, 1010), body.subarray(SIZE - 5)])

  const unsatisfiable = await request(url, { headers: { range: `bytes=${SIZE}-` } })
  t.equal(unsatisfiable.status, 416, `${when}: unsatisfiable`)
  t.equal(unsatisfiable.headers['content-range'], `bytes */${SIZE}`)
  t.match(unsatisfiable.body.toString(), /DSM_RANGE_NOT_SATISFIABLE/)

  const ifRangeMatch = await request(url, { headers: { range: 'bytes=0-9', 'if-range': etag } })
  t.equal(ifRangeMatch.status, 206, `${when}: If-Range matching`)
  const ifRangeStale = await request(url, { headers: { range: 'bytes=0-9', 'if-range': '"an-old-version"' } })
  t.equal(ifRangeStale.status, 200, `${when}: If-Range not matching serves the whole body`)
  t.equal(ifRangeStale.body.length, SIZE)
}

t.test('ranges on a cached object', async (t) => {
  const body = makeBytes(SIZE, 5)
  const upstream = await startUpstream()
  upstream.set('/r/file.bin', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/r/file.bin')
  const warm = await request(url)
  t.equal(warm.status, 200)
  await checkRanges(t, url, body, defaultEtag(body), 'hit')
  t.equal(upstream.count('/r/file.bin', 'GET'), 1, 'every range came from the cache')
})

t.test('ranges on an in-flight download', async (t) => {
  const body = makeBytes(SIZE, 6)
  const upstream = await startUpstream()
  // ~1 s for the body: the ranges below are asked for while it is still arriving.
  upstream.set('/r/slow.bin', { body, throttleBytesPerSec: 2 * 1024 * 1024, chunkSize: 32 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/r/slow.bin')
  const first = request(url)
  await waitUntil(() => upstream.count('/r/slow.bin') >= 1, { what: 'the upstream to see /r/slow.bin' })
  const early = await request(url, { headers: { range: 'bytes=0-99' } })
  t.equal(early.status, 206)
  t.equal(early.headers['cache-status'], 'dsmirror; hit; detail=in-flight', 'served while the download runs')
  t.same(early.body, body.subarray(0, 100))
  await checkRanges(t, url, body, defaultEtag(body), 'in flight')
  t.equal((await first).body.length, SIZE)
  t.equal(upstream.count('/r/slow.bin', 'GET'), 1, 'one upstream transfer served every range')
})
