// HEAD and conditional requests (RFC 9110 §9.3.2, §13) on cached objects and on in-flight
// downloads alike: HEAD gives the real Content-Length and validators without a body;
// If-None-Match (weak comparison, lists, `*`) and If-Modified-Since give 304, If-None-Match wins.
// HEAD on a miss is forwarded as a HEAD and never starts a download.
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { DEFAULT_LAST_MODIFIED, defaultEtag, startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const SIZE = 2 * 1024 * 1024
const EARLIER = 'Tue, 31 Dec 2024 23:59:59 GMT'
const LATER = 'Thu, 01 Jan 2026 00:00:00 GMT'

async function checkConditionals (t: Test, url: string, body: Buffer, when: string, cacheStatus: string): Promise<void> {
  const etag = defaultEtag(body)
  const head = await request(url, { method: 'HEAD' })
  t.equal(head.status, 200, `${when}: HEAD`)
  t.equal(head.headers['content-length'], String(SIZE), `${when}: HEAD has the real Content-Length`)
  t.equal(head.headers.etag, etag)
  t.equal(head.headers['last-modified'], DEFAULT_LAST_MODIFIED)
  t.equal(head.headers['accept-ranges'], 'bytes')
  t.equal(head.headers['cache-status'], cacheStatus)
  t.equal(head.body.length, 0, `${when}: HEAD has no body`)

  const notModified = [
    ['strong', etag],
    ['weak form of a strong tag', `W/${etag}`],
    ['list', `"other", ${etag}, "another"`],
    ['list without spaces', `"other",W/${etag}`],
    ['star', '*']
  ]
  for (const [name, value] of notModified) {
    const res = await request(url, { headers: { 'if-none-match': value as string } })
    t.equal(res.status, 304, `${when}: If-None-Match ${name}`)
    t.equal(res.headers.etag, etag)
    t.equal(res.headers['cache-status'], cacheStatus)
    t.equal(res.body.length, 0)
    t.notOk(res.headers['content-length'] !== undefined && res.headers['content-length'] !== '0', 'no body length on a 304')
  }
  for (const [name, date] of [['equal', DEFAULT_LAST_MODIFIED], ['later', LATER]] as const) {
    const res = await request(url, { headers: { 'if-modified-since': date } })
    t.equal(res.status, 304, `${when}: If-Modified-Since ${name}`)
    t.equal(res.headers['cache-status'], cacheStatus)
  }
  const inmWins304 = await request(url, { headers: { 'if-none-match': etag, 'if-modified-since': EARLIER } })
  t.equal(inmWins304.status, 304, `${when}: a matching If-None-Match ignores an earlier If-Modified-Since`)
  const headConditional = await request(url, { method: 'HEAD', headers: { 'if-none-match': etag } })
  t.equal(headConditional.status, 304, `${when}: conditional HEAD`)
  t.equal(headConditional.headers['cache-status'], cacheStatus)
}

/** The conditionals that fail, and so send the whole body (on a download: once it has arrived). */
async function checkFullBodies (t: Test, url: string, body: Buffer, when: string): Promise<void> {
  const other = await request(url, { headers: { 'if-none-match': '"other", W/"another"' } })
  t.equal(other.status, 200, `${when}: If-None-Match not matching`)
  t.equal(other.sha256, sha256(body))
  const earlier = await request(url, { headers: { 'if-modified-since': EARLIER } })
  t.equal(earlier.status, 200, `${when}: If-Modified-Since earlier`)
  t.equal(earlier.sha256, sha256(body))
  const inmWins = await request(url, { headers: { 'if-none-match': '"other"', 'if-modified-since': LATER } })
  t.equal(inmWins.status, 200, `${when}: If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3)`)
  t.equal(inmWins.sha256, sha256(body))
}

t.test('HEAD and conditional requests on a cached object', async (t) => {
  const body = makeBytes(SIZE, 21)
  const upstream = await startUpstream()
  upstream.set('/c/file.bin', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/c/file.bin')
  t.equal((await request(url)).status, 200)
  await checkConditionals(t, url, body, 'hit', 'dsmirror; hit')
  await checkFullBodies(t, url, body, 'hit')
  t.equal(upstream.requests.length, 1, 'everything answered from the cache')
})

t.test('HEAD and conditional requests on an in-flight download', async (t) => {
  const body = makeBytes(SIZE, 22)
  const upstream = await startUpstream()
  // ~2 s for the body: the checks below run while it is still arriving.
  upstream.set('/c/slow.bin', { body, throttleBytesPerSec: 1024 * 1024, chunkSize: 32 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/c/slow.bin')
  const first = request(url)
  await waitUntil(() => upstream.count('/c/slow.bin') >= 1, { what: 'the upstream to see /c/slow.bin' })
  // The download is registered before its response headers are in; wait until it streams.
  await waitUntil(() => [...proxy.app.dsmirror.cache.downloads.values()][0]?.state === 'streaming', { what: 'the download to stream' })
  await checkConditionals(t, url, body, 'in flight', 'dsmirror; hit; detail=in-flight')
  t.equal([...proxy.app.dsmirror.cache.downloads.values()][0]?.state, 'streaming', 'all of it answered while the body was arriving')
  await checkFullBodies(t, url, body, 'in flight')
  t.equal((await first).sha256, sha256(body))
  t.equal(upstream.requests.length, 1, 'one upstream transfer')
})

t.test('If-None-Match: * matches an object without an ETag; tags may hold commas', async (t) => {
  const body = makeBytes(1024, 26)
  const upstream = await startUpstream()
  upstream.set('/c/untagged.bin', { body, etag: false })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/c/untagged.bin')
  await request(url)
  const star = await request(url, { headers: { 'if-none-match': '*' } })
  t.equal(star.status, 304, 'RFC 9110 §13.1.2: * matches any current representation')
  t.equal(star.headers['cache-status'], 'dsmirror; hit')
  const tag = await request(url, { headers: { 'if-none-match': '"something"' } })
  t.equal(tag.status, 200, 'a tag cannot match an object without one')

  // An opaque-tag may contain a comma (RFC 9110 §8.8.3): a list is split on tags, not commas.
  upstream.set('/c/comma.bin', { body, etag: '"v1,2"' })
  const commaUrl = proxy.mirrorUrl(upstream.host, '/c/comma.bin')
  await request(commaUrl)
  t.equal((await request(commaUrl, { headers: { 'if-none-match': '"x", "v1,2"' } })).status, 304)
  t.equal((await request(commaUrl, { headers: { 'if-none-match': '"v1", "2"' } })).status, 200)
})

t.test('HEAD on a miss is forwarded as a HEAD and starts no download', async (t) => {
  const body = makeBytes(SIZE, 23)
  const upstream = await startUpstream()
  upstream.set('/c/big.tar.gz', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/c/big.tar.gz')
  const head = await request(url, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers['content-length'], String(SIZE), 'the upstream Content-Length')
  t.equal(head.headers.etag, defaultEtag(body))
  t.equal(head.headers['cache-status'], 'dsmirror; fwd=miss')
  t.equal(head.body.length, 0)
  t.equal(upstream.count('/c/big.tar.gz', 'HEAD'), 1)
  t.equal(upstream.count('/c/big.tar.gz', 'GET'), 0, 'a HEAD never becomes a GET')
  t.equal(proxy.app.dsmirror.cache.downloads.size, 0, 'no download was started')

  const missing = await request(proxy.mirrorUrl(upstream.host, '/c/missing.bin'), { method: 'HEAD' })
  t.equal(missing.status, 404)
  t.equal(missing.headers['cache-status'], 'dsmirror; fwd=miss')

  const get = await request(url)
  t.equal(get.headers['cache-status'], 'dsmirror; fwd=miss; stored', 'the HEAD stored nothing')
  t.equal(get.sha256, sha256(body))
})

t.test('HEAD on a stale entry revalidates with a HEAD, never a GET', async (t) => {
  const body = makeBytes(SIZE, 24)
  const upstream = await startUpstream()
  upstream.set('/api/stale.json', { body, headers: { 'cache-control': 'no-cache' } })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/api/stale.json')
  await request(url)
  upstream.set('/api/stale.json', { body, headers: { 'cache-control': 'no-cache', 'x-version': '2' } })
  const head = await request(url, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers['content-length'], String(SIZE))
  t.equal(head.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=304')
  t.equal(head.headers['x-version'], '2', 'the 304 to the HEAD updated the stored headers')
  t.equal(upstream.count('/api/stale.json', 'HEAD'), 1)
  t.equal(upstream.requests.find((r) => r.method === 'HEAD')?.headers['if-none-match'], defaultEtag(body))
  t.equal(upstream.count('/api/stale.json', 'GET'), 1, 'only the first GET')

  // A changed object: the HEAD's 200 is passed on and nothing is downloaded.
  const changed = makeBytes(SIZE + 1, 25)
  upstream.set('/api/stale.json', { body: changed, headers: { 'cache-control': 'no-cache' } })
  const head2 = await request(url, { method: 'HEAD' })
  t.equal(head2.status, 200)
  t.equal(head2.headers['content-length'], String(SIZE + 1))
  t.equal(head2.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=200')
  t.equal(upstream.count('/api/stale.json', 'GET'), 1)
  t.equal(proxy.app.dsmirror.cache.downloads.size, 0)
})
