// Issue 12 item 1: a body without Content-Length whose chunked terminator comes early looks
// complete. Its end is confirmed upstream (`Range: bytes=N-` + `If-Range` must answer 416
// `bytes */N`) before it is kept, a gzip or zip container is checked, and such a body is never
// kept as immutable. Each upstream here misbehaves in one way; every client response is checked
// against the real object by sha256.
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const FULL = 300_000
const SHORT = 100_000

t.test('a length-less body that ends early', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const { store } = proxy.app.dsmirror
  const entry = (path: string): ReturnType<typeof store.peek> => store.list().find((m) => m.url === `${upstream.origin}${path}`)

  await t.test('ends early once, the confirming request finds more: the rest is fetched and kept, not immutable', async (t) => {
    const body = makeBytes(FULL, 50)
    upstream.set('/a/data.tar.gz', { body, contentLength: 'omit', endAt: [SHORT] })
    const res = await request(proxy.mirrorUrl(upstream.host, '/a/data.tar.gz'))
    t.ok(res.complete, 'complete')
    t.equal(res.sha256, sha256(body), 'the whole object, not the 100,000-byte prefix')
    await proxy.idle()
    const meta = entry('/a/data.tar.gz')
    t.equal(meta?.size, FULL, 'kept at its full size')
    t.equal(meta?.immutable, false, 'not immutable, though *.tar.gz is')
    const confirm = upstream.requests.find((r) => r.path === '/a/data.tar.gz' && r.headers.range === `bytes=${SHORT}-`)
    t.ok(confirm !== undefined && typeof confirm.headers['if-range'] === 'string', 'the end was asked about with Range + If-Range')
  })

  await t.test('no validator to ask with: served, never kept', async (t) => {
    const body = makeBytes(FULL, 51)
    upstream.set('/b/data.tar', { body, contentLength: 'omit', etag: false, lastModified: false, endAt: [SHORT, SHORT] })
    const first = await request(proxy.mirrorUrl(upstream.host, '/b/data.tar'))
    t.equal(first.body.length, SHORT, 'the client gets what the upstream sent, as a plain proxy would')
    await proxy.idle()
    t.equal(entry('/b/data.tar'), undefined, 'nothing kept')
    const second = await request(proxy.mirrorUrl(upstream.host, '/b/data.tar'))
    t.match(second.headers['cache-status'], /fwd=miss/, 'the next request is a miss, never a hit on the prefix')
    t.equal(upstream.count('/b/data.tar', 'GET'), 2)
  })

  await t.test('the upstream confirms a truncated gzip: the container check refuses it', async (t) => {
    const full = gzipSync(makeBytes(FULL, 52))
    // Consistently short: GET and the confirming Range both say the object ends here.
    upstream.set('/c/data.tgz', { body: full.subarray(0, SHORT), contentLength: 'omit' })
    // An abort right after the headers may surface as a rejected request: no clean end either way.
    const res = await request(proxy.mirrorUrl(upstream.host, '/c/data.tgz')).catch(() => null)
    t.notOk(res !== null && res.complete && res.status === 200, 'no clean end on a truncated archive')
    await proxy.idle()
    t.equal(entry('/c/data.tgz'), undefined, 'nothing kept')
  })

  await t.test('a zip without its End Of Central Directory record is refused', async (t) => {
    upstream.set('/d/data.zip', { body: makeBytes(SHORT, 53), contentLength: 'omit' })
    const res = await request(proxy.mirrorUrl(upstream.host, '/d/data.zip')).catch(() => null)
    t.notOk(res !== null && res.complete && res.status === 200, 'no clean end')
    await proxy.idle()
    t.equal(entry('/d/data.zip'), undefined, 'nothing kept')
  })

  await t.test('a whole gzip without Content-Length, confirmed: kept, revalidated like a mutable response', async (t) => {
    const full = gzipSync(makeBytes(FULL, 54))
    upstream.set('/e/data.tar.gz', { body: full, contentLength: 'omit' })
    const res = await request(proxy.mirrorUrl(upstream.host, '/e/data.tar.gz'))
    t.ok(res.complete)
    t.equal(res.sha256, sha256(full))
    await proxy.idle()
    t.equal(entry('/e/data.tar.gz')?.size, full.length, 'kept')
    t.equal(entry('/e/data.tar.gz')?.immutable, false, 'not immutable')
  })
})
