// The scriptable upstream (test/helpers/upstream.ts) does what other tests rely on it doing,
// seen through the test client over real TLS on 127.0.0.1, trusting only the test root.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request, type RequestOptions } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { DEFAULT_LAST_MODIFIED, defaultEtag, startUpstream } from '../helpers/upstream.js'

const pki = await getTestPki()
const body = makeBytes(300_000, 7)
const etag = defaultEtag(body)
const up = await startUpstream()
t.teardown(() => up.close())
const trust = (extra: Omit<RequestOptions, 'ca'> = {}): RequestOptions => ({ ca: pki.rootCa.certPem, ...extra })

t.test('makeBytes is deterministic and seed-dependent', async (t) => {
  t.equal(sha256(makeBytes(100_000, 3)), sha256(makeBytes(100_000, 3)))
  t.not(sha256(makeBytes(100_000, 3)), sha256(makeBytes(100_000, 4)))
  t.same(makeBytes(1000, 3), makeBytes(5000, 3).subarray(0, 1000), 'a prefix of a longer run')
  t.equal(makeBytes(0).length, 0)
  // Speed is reported, not asserted: a wall-clock bound fails on a loaded CI machine.
  const start = Date.now()
  t.equal(makeBytes(64 * 1024 * 1024).length, 64 * 1024 * 1024)
  t.comment(`makeBytes: 64 MiB in ${Date.now() - start} ms`)
})

t.test('full GET, HEAD, 404, 405 and counters', async (t) => {
  up.set('/a/full.bin?x=1', { body })
  const before = up.connections
  const res = await request(`${up.origin}/a/full.bin?x=1`, trust())
  t.equal(res.status, 200)
  t.ok(res.complete)
  t.equal(res.sha256, sha256(body))
  t.equal(res.headers['content-length'], String(body.length))
  t.equal(res.headers.etag, etag)
  t.equal(res.headers['last-modified'], DEFAULT_LAST_MODIFIED)
  t.equal(res.headers['accept-ranges'], 'bytes')

  const head = await request(`${up.origin}/a/full.bin?x=1`, trust({ method: 'HEAD' }))
  t.equal(head.status, 200)
  t.equal(head.body.length, 0)
  t.equal(head.headers['content-length'], String(body.length))

  t.equal((await request(`${up.origin}/missing`, trust())).status, 404)
  const post = await request(`${up.origin}/a/full.bin?x=1`, trust({ method: 'POST', body: Buffer.from('x') }))
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')

  t.equal(up.count('/a/full.bin?x=1'), 3)
  t.equal(up.count('/a/full.bin?x=1', 'GET'), 1)
  t.equal(up.count('/a/full.bin?x=1', 'HEAD'), 1)
  t.equal(up.count('/missing', 'GET'), 1)
  t.equal(up.connections - before, 4, 'one connection per request (agent: false)')
  t.equal(up.requests.at(-1)?.method, 'POST')
})

t.test('Range: a-b, a-, -n, 416, several ranges ignored', async (t) => {
  up.set('/r.bin', { body })
  const get = async (range: string, extra: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof request>>> =>
    await request(`${up.origin}/r.bin`, trust({ headers: { range, ...extra } }))

  let res = await get('bytes=100-199')
  t.equal(res.status, 206)
  t.equal(res.headers['content-range'], `bytes 100-199/${body.length}`)
  t.equal(res.headers['content-length'], '100')
  t.same(res.body, body.subarray(100, 200))

  res = await get('bytes=299000-')
  t.equal(res.status, 206)
  t.same(res.body, body.subarray(299_000))

  res = await get('bytes=-500')
  t.equal(res.status, 206)
  t.equal(res.headers['content-range'], `bytes ${body.length - 500}-${body.length - 1}/${body.length}`)
  t.same(res.body, body.subarray(body.length - 500))

  res = await get('bytes=0-9999999')
  t.equal(res.status, 206, 'an end past the object is clamped')
  t.equal(res.sha256, sha256(body))

  res = await get(`bytes=${body.length}-`)
  t.equal(res.status, 416)
  t.equal(res.headers['content-range'], `bytes */${body.length}`)

  res = await get('bytes=0-1,5-6')
  t.equal(res.status, 200, 'multiple ranges fall back to the full body')
  t.equal(res.sha256, sha256(body))

  res = await get('bytes=10-19', { 'if-range': etag })
  t.equal(res.status, 206, 'If-Range with the current etag applies the range')
  res = await get('bytes=10-19', { 'if-range': '"stale"' })
  t.equal(res.status, 200, 'If-Range with another etag gets the full body')
  t.equal(res.sha256, sha256(body))
  res = await get('bytes=10-19', { 'if-range': DEFAULT_LAST_MODIFIED })
  t.equal(res.status, 206, 'If-Range with the current date applies the range')
  res = await get('bytes=10-19', { 'if-range': 'Thu, 02 Jan 2025 00:00:00 GMT' })
  t.equal(res.status, 200, 'If-Range with another date gets the full body')
})

t.test('ignoreRange answers 200 with the full body', async (t) => {
  up.set('/ignore.bin', { body, ignoreRange: true })
  const res = await request(`${up.origin}/ignore.bin`, trust({ headers: { range: 'bytes=0-9' } }))
  t.equal(res.status, 200)
  t.equal(res.sha256, sha256(body))
})

t.test('answer206ToGet answers a plain GET with 206 and the whole body; a Range still gets its range', async (t) => {
  up.set('/partial.bin', { body, answer206ToGet: true })
  const res = await request(`${up.origin}/partial.bin`, trust())
  t.equal(res.status, 206)
  t.equal(res.headers['content-range'], `bytes 0-${body.length - 1}/${body.length}`)
  t.equal(res.sha256, sha256(body))
  const ranged = await request(`${up.origin}/partial.bin`, trust({ headers: { range: 'bytes=10-19' } }))
  t.equal(ranged.status, 206)
  t.equal(ranged.headers['content-range'], `bytes 10-19/${body.length}`)
  t.same(ranged.body, body.subarray(10, 20))
})

t.test('conditional requests get 304', async (t) => {
  up.set('/c.bin', { body, headers: { 'cache-control': 'max-age=60' } })
  let res = await request(`${up.origin}/c.bin`, trust({ headers: { 'if-none-match': etag } }))
  t.equal(res.status, 304)
  t.equal(res.body.length, 0)
  t.equal(res.headers.etag, etag)
  t.equal(res.headers['cache-control'], 'max-age=60')
  res = await request(`${up.origin}/c.bin`, trust({ headers: { 'if-none-match': `"other", W/${etag}` } }))
  t.equal(res.status, 304, 'If-None-Match uses the weak comparison')
  res = await request(`${up.origin}/c.bin`, trust({ headers: { 'if-none-match': '"other"' } }))
  t.equal(res.status, 200)
  res = await request(`${up.origin}/c.bin`, trust({ headers: { 'if-modified-since': DEFAULT_LAST_MODIFIED } }))
  t.equal(res.status, 304)
  res = await request(`${up.origin}/c.bin`, trust({ headers: { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' } }))
  t.equal(res.status, 200)

  up.set('/novalidators.bin', { body, etag: false, lastModified: false })
  res = await request(`${up.origin}/novalidators.bin`, trust({ headers: { 'if-none-match': '*', 'if-modified-since': DEFAULT_LAST_MODIFIED } }))
  t.equal(res.status, 200)
  t.equal(res.headers.etag, undefined)
  t.equal(res.headers['last-modified'], undefined)
})

t.test('cutAt cuts the Nth GET after that many body bytes', async (t) => {
  up.set('/cut.bin', { body, cutAt: [1000, 150_000] })
  const first = await request(`${up.origin}/cut.bin`, trust())
  t.equal(first.status, 200)
  t.notOk(first.complete)
  t.type(first.error, 'string')
  t.equal(first.body.length, 1000)
  t.same(first.body, body.subarray(0, 1000))

  // The cut counts bytes of this response's body, so a Range GET is cut relative to its start.
  const second = await request(`${up.origin}/cut.bin`, trust({ headers: { range: 'bytes=100000-' } }))
  t.equal(second.status, 206)
  t.notOk(second.complete)
  t.equal(second.body.length, 150_000)
  t.same(second.body, body.subarray(100_000, 250_000))

  const head = await request(`${up.origin}/cut.bin`, trust({ method: 'HEAD' }))
  t.ok(head.complete, 'HEAD is not a GET: not counted for cutAt')

  const third = await request(`${up.origin}/cut.bin`, trust())
  t.ok(third.complete, 'GETs beyond the list are whole')
  t.equal(third.sha256, sha256(body))
})

t.test('stallAfter sends a prefix then nothing; close() ends the stalled socket', async (t) => {
  const stallUp = await startUpstream()
  stallUp.set('/stall.bin', { body, stallAfter: 5000 })
  const { res } = await openResponse(`${stallUp.origin}/stall.bin`, trust())
  t.equal(res.statusCode, 200)
  const received: Buffer[] = []
  let total = 0
  await new Promise<void>((resolve) => {
    res.on('data', (chunk: Buffer) => {
      received.push(chunk)
      total += chunk.length
      if (total >= 5000) resolve()
    })
  })
  // Nothing more arrives while stalled.
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.equal(total, 5000)
  t.same(Buffer.concat(received), body.subarray(0, 5000))
  const ended = new Promise<boolean>((resolve) => { res.on('close', () => { resolve(res.complete) }) })
  res.on('error', () => {})
  await stallUp.close()
  t.equal(await ended, false, 'the stalled response never completes')
})

t.test('stallRanged sends 206 headers and then nothing', async (t) => {
  const stallUp = await startUpstream()
  stallUp.set('/sr.bin', { body, stallRanged: true })
  const whole = await request(`${stallUp.origin}/sr.bin`, trust())
  t.ok(whole.complete, 'a request without Range is served')
  const { res } = await openResponse(`${stallUp.origin}/sr.bin`, trust({ headers: { range: 'bytes=10-19' } }))
  t.equal(res.statusCode, 206)
  t.equal(res.headers['content-length'], '10')
  let got = 0
  res.on('data', (chunk: Buffer) => { got += chunk.length })
  res.on('error', () => {})
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(got, 0)
  await stallUp.close()
})

t.test('throttle paces the body', async (t) => {
  const small = makeBytes(40_000, 2)
  up.set('/slow.bin', { body: small, throttleBytesPerSec: 200_000, chunkSize: 4000 })
  const start = Date.now()
  const res = await request(`${up.origin}/slow.bin`, trust())
  const ms = Date.now() - start
  t.ok(res.complete)
  t.equal(res.sha256, sha256(small))
  // 40 kB at 200 kB/s: about 200 ms (the last chunk is not waited for: 180 ms minimum).
  t.ok(ms >= 170, `took ${ms} ms`)
})

t.test('contentLength lies and omission', async (t) => {
  up.set('/long.bin', { body: body.subarray(0, 1000), contentLength: 2000 })
  const long = await request(`${up.origin}/long.bin`, trust())
  t.notOk(long.complete, 'a body shorter than its Content-Length is incomplete')
  t.equal(long.body.length, 1000)

  up.set('/short.bin', { body: body.subarray(0, 1000), contentLength: 500 })
  const short = await request(`${up.origin}/short.bin`, trust())
  t.equal(short.headers['content-length'], '500')
  t.equal(short.body.length, 500, 'the client reads only what Content-Length announced')

  up.set('/chunked.bin', { body, contentLength: 'omit' })
  const chunked = await request(`${up.origin}/chunked.bin`, trust())
  t.equal(chunked.headers['content-length'], undefined)
  t.equal(chunked.headers['transfer-encoding'], 'chunked')
  t.ok(chunked.complete)
  t.equal(chunked.sha256, sha256(body))
})

t.test('redirectTo answers 302 with Location', async (t) => {
  up.set('/old', { body: Buffer.alloc(0), redirectTo: '/r.bin' })
  up.set('/away', { body: Buffer.alloc(0), redirectTo: 'https://elsewhere.example/x' })
  const rel = await request(`${up.origin}/old`, trust())
  t.equal(rel.status, 302)
  t.equal(rel.headers.location, '/r.bin')
  const abs = await request(`${up.origin}/away`, trust())
  t.equal(abs.headers.location, 'https://elsewhere.example/x')
})

t.test('status override and custom headers', async (t) => {
  up.set('/err', { body: Buffer.from('boom'), status: 503, headers: { 'retry-after': '1', 'content-type': 'text/plain' } })
  const res = await request(`${up.origin}/err`, trust({ headers: { range: 'bytes=0-0' } }))
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '1')
  t.equal(res.headers['content-type'], 'text/plain')
  t.equal(res.body.toString(), 'boom')
})

t.test('TLS: only clients that trust the test root get through', async (t) => {
  up.set('/tls.bin', { body })
  await t.rejects(request(`${up.origin}/tls.bin`, { ca: pki.otherCa.certPem }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
  const other = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(() => other.close())
  other.set('/x', { body })
  t.equal((await request(`${other.origin}/x`, { ca: pki.otherCa.certPem })).status, 200)
  await t.rejects(request(`${other.origin}/x`, trust()), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
  const wrong = await startUpstream({ tls: pki.wrongNameLeaf })
  t.teardown(() => wrong.close())
  await t.rejects(request(`${wrong.origin}/x`, trust()), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  const expired = await startUpstream({ tls: pki.expiredLeaf })
  t.teardown(() => expired.close())
  await t.rejects(request(`${expired.origin}/x`, trust()), { code: 'CERT_HAS_EXPIRED' })
  const chain = await startUpstream({ tls: pki.chainLeaf })
  t.teardown(() => chain.close())
  chain.set('/x', { body })
  t.equal((await request(`${chain.origin}/x`, trust())).status, 200, 'the server sends the intermediate')
  const alone = await startUpstream({ tls: pki.chainLeafAlone })
  t.teardown(() => alone.close())
  await t.rejects(request(`${alone.origin}/x`, trust()), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a server that omits the intermediate')
  const future = await startUpstream({ tls: pki.notYetValidLeaf })
  t.teardown(() => future.close())
  await t.rejects(request(`${future.origin}/x`, trust()), { code: 'CERT_NOT_YET_VALID' })
})

t.test('openResponse lets a client give up mid-body', async (t) => {
  up.set('/big.bin', { body: makeBytes(8 * 1024 * 1024, 9) })
  const { res, req } = await openResponse(`${up.origin}/big.bin`, trust())
  t.equal(res.statusCode, 200)
  const first = await new Promise<Buffer>((resolve) => { res.once('data', resolve) })
  t.ok(first.length > 0)
  res.on('error', () => {})
  req.destroy()
  t.ok(req.destroyed)
})

t.test('request(): an abort signal mid-body resolves incomplete; before the response it rejects', async (t) => {
  const stallUp = await startUpstream()
  t.teardown(() => stallUp.close())
  stallUp.set('/stalled.bin', { body, stallAfter: 10_000 })
  // The body stalls after 10 kB, so any abort after the headers is mid-body. How long the headers
  // take depends on machine load: a try whose abort came first rejects and the next waits longer.
  let res: Awaited<ReturnType<typeof request>> | undefined
  for (const delayMs of [50, 100, 200, 400, 800]) {
    try {
      res = await request(`${stallUp.origin}/stalled.bin`, trust({ signal: AbortSignal.timeout(delayMs) }))
      break
    } catch (err: unknown) {
      t.match(err, { name: /AbortError|TimeoutError/ }, 'aborted before the headers: retry')
    }
  }
  t.equal(res?.status, 200)
  t.equal(res?.complete, false)
  t.type(res?.error, 'string')
  const got = res?.body ?? Buffer.alloc(0)
  t.ok(got.length <= 10_000)
  t.same(got, body.subarray(0, got.length), 'what arrived is a prefix of the body')
  await t.rejects(request(`${stallUp.origin}/stalled.bin`, trust({ signal: AbortSignal.abort() })), { name: 'AbortError' })
})
