// Objects not matched by cache.immutable follow RFC 9111 (docs/design.md "Cache"): freshness from
// Cache-Control, revalidation with validators and 304s that update the stored headers, Vary,
// Age, no-store / private / Set-Cookie passed through, Authorization not shared unless the
// response allows it, cache.revalidateAfter, stale-if-error within what the response permits,
// and upstream 404s remembered briefly without a body file. Immutable objects are the exception.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, type StartProxyOptions, type TestProxy } from '../helpers/proxy.js'
import { defaultEtag, startUpstream, type Upstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const SIZE = 64 * 1024

async function setup (t: Test, opts: Omit<StartProxyOptions, 'allowHosts'> = {}): Promise<{ upstream: Upstream, proxy: TestProxy, url: (path: string) => string }> {
  const upstream = await startUpstream()
  const proxy = await startProxy({ ...opts, allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  return { upstream, proxy, url: (path) => proxy.mirrorUrl(upstream.host, path) }
}

/** Every file under `dir`, recursively; [] when it does not exist. */
async function filesUnder (dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

t.test('max-age=3600: the second request is a hit with an Age', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 1)
  upstream.set('/api/thing.json', { body, headers: { 'cache-control': 'max-age=3600', 'content-type': 'application/json' } })
  const first = await request(url('/api/thing.json'))
  t.equal(first.status, 200)
  t.equal(first.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  const second = await request(url('/api/thing.json'))
  t.equal(second.status, 200)
  t.equal(second.headers['cache-status'], 'dsmirror; hit')
  t.equal(second.sha256, sha256(body))
  t.equal(second.headers['content-type'], 'application/json')
  t.match(second.headers.age, /^\d+$/, 'Age on a hit (RFC 9111 §5.1)')
  t.equal(upstream.count('/api/thing.json', 'GET'), 1)
})

t.test('freshness does not depend on the Host header the client used', async (t) => {
  const { upstream, url } = await setup(t)
  upstream.set('/api/host.json', { body: makeBytes(SIZE, 2), headers: { 'cache-control': 'max-age=3600' } })
  await request(url('/api/host.json'), { headers: { host: 'mirror-a.example' } })
  const second = await request(url('/api/host.json'), { headers: { host: 'mirror-b.example' } })
  t.equal(second.headers['cache-status'], 'dsmirror; hit', 'the stored response belongs to the upstream URL, not the client Host')
  t.equal(upstream.count('/api/host.json', 'GET'), 1)
})

t.test('must-revalidate only matters once the response is stale', async (t) => {
  const { upstream, url } = await setup(t)
  upstream.set('/api/mr.json', { body: makeBytes(SIZE, 3), headers: { 'cache-control': 'max-age=3600, must-revalidate' } })
  await request(url('/api/mr.json'))
  const second = await request(url('/api/mr.json'))
  t.equal(second.headers['cache-status'], 'dsmirror; hit', 'RFC 9111 §5.2.2.2: a fresh must-revalidate response is reused')
  t.equal(upstream.count('/api/mr.json', 'GET'), 1)
})

for (const cacheControl of ['no-cache', 'max-age=0']) {
  t.test(`${cacheControl}: revalidated with If-None-Match; the 304 updates the stored headers`, async (t) => {
    const { upstream, url } = await setup(t)
    const body = makeBytes(SIZE, 4)
    const etag = defaultEtag(body)
    upstream.set('/api/rev.json', { body, headers: { 'cache-control': cacheControl } })
    t.equal((await request(url('/api/rev.json'))).headers['cache-status'], 'dsmirror; fwd=miss; stored')

    const second = await request(url('/api/rev.json'))
    t.equal(second.status, 200)
    t.equal(second.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=304')
    t.equal(second.sha256, sha256(body), 'body served from the cache')
    t.equal(upstream.count('/api/rev.json', 'GET'), 2)
    const revalidation = upstream.requests.filter((r) => r.path === '/api/rev.json')[1]
    t.equal(revalidation?.headers['if-none-match'], etag, 'the stored ETag is the validator')

    // Same bytes (same ETag), new headers: the helper repeats them in its 304.
    upstream.set('/api/rev.json', { body, headers: { 'cache-control': 'max-age=3600', 'x-updated': 'yes' } })
    const third = await request(url('/api/rev.json'))
    t.equal(third.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=304')
    t.equal(third.headers['x-updated'], 'yes', 'a header from the 304 is served (RFC 9111 §4.3.4)')
    t.equal(third.headers['cache-control'], 'max-age=3600')
    t.equal(third.sha256, sha256(body))

    const fourth = await request(url('/api/rev.json'))
    t.equal(fourth.headers['cache-status'], 'dsmirror; hit', 'the Cache-Control from the 304 made the entry fresh')
    t.equal(fourth.headers['x-updated'], 'yes')
    t.equal(upstream.count('/api/rev.json', 'GET'), 3)
  })
}

t.test('no-store, private and Set-Cookie responses are passed through, never stored', async (t) => {
  const { upstream, proxy, url } = await setup(t)
  const cases: Array<[string, Record<string, string>]> = [
    ['/api/no-store.json', { 'cache-control': 'no-store' }],
    ['/api/private.json', { 'cache-control': 'private, max-age=3600' }],
    ['/api/cookie.json', { 'cache-control': 'max-age=3600', 'set-cookie': 'session=abc; Path=/' }]
  ]
  for (const [path, headers] of cases) {
    const body = makeBytes(SIZE, path.length)
    upstream.set(path, { body, headers })
    for (const n of [1, 2]) {
      const res = await request(url(path))
      t.equal(res.status, 200, `${path} #${n}`)
      t.equal(res.sha256, sha256(body))
      t.match(res.headers['cache-status'], /^dsmirror; fwd=miss; detail=/, `${path} #${n}: not stored, with a reason`)
      t.notMatch(res.headers['cache-status'], /stored/)
      if (headers['set-cookie'] !== undefined) t.same(res.headers['set-cookie'], ['session=abc; Path=/'], 'the cookie reaches its client')
    }
    t.equal(upstream.count(path, 'GET'), 2, `${path}: both requests went upstream`)
  }
  t.same(await filesUnder(join(proxy.config.cache.dir, 'objects')), [], 'nothing written under objects/')
})

t.test('a response to a request with Authorization is shared only when it says public', async (t) => {
  const { upstream, url } = await setup(t)
  upstream.set('/api/secret.json', { body: makeBytes(SIZE, 5), headers: { 'cache-control': 'max-age=3600' } })
  const authed = await request(url('/api/secret.json'), { headers: { authorization: 'Bearer user-a' } })
  t.equal(authed.status, 200)
  t.match(authed.headers['cache-status'], /^dsmirror; fwd=miss; detail=/)
  t.equal(upstream.requests.find((r) => r.path === '/api/secret.json')?.headers.authorization, 'Bearer user-a', 'credentials reach the upstream')
  const anonymous = await request(url('/api/secret.json'))
  t.equal(anonymous.headers['cache-status'], 'dsmirror; fwd=miss; stored', 'RFC 9111 §3.5: not served to another client')
  t.equal(upstream.count('/api/secret.json', 'GET'), 2)

  upstream.set('/api/shared.json', { body: makeBytes(SIZE, 6), headers: { 'cache-control': 'public, max-age=3600' } })
  const first = await request(url('/api/shared.json'), { headers: { authorization: 'Bearer user-a' } })
  t.equal(first.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  const other = await request(url('/api/shared.json'))
  t.equal(other.headers['cache-status'], 'dsmirror; hit', 'public allows sharing')
  t.equal(upstream.count('/api/shared.json', 'GET'), 1)
})

t.test('Vary: Accept: a request with another Accept goes upstream', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 7)
  upstream.set('/api/vary.json', { body, headers: { 'cache-control': 'max-age=3600', vary: 'Accept' } })
  await request(url('/api/vary.json'), { headers: { accept: 'application/json' } })
  const same = await request(url('/api/vary.json'), { headers: { accept: 'application/json' } })
  t.equal(same.headers['cache-status'], 'dsmirror; hit')
  t.equal(upstream.count('/api/vary.json', 'GET'), 1)
  const other = await request(url('/api/vary.json'), { headers: { accept: 'text/csv' } })
  t.equal(other.status, 200)
  t.match(other.headers['cache-status'], /fwd=vary-miss/, 'RFC 9211 §2.2: the Vary mismatch is named')
  t.equal(upstream.count('/api/vary.json', 'GET'), 2, 'the stored variant was not served without asking upstream')
  t.equal(upstream.requests.filter((r) => r.path === '/api/vary.json')[1]?.headers.accept, 'text/csv')
})

t.test('Vary: a client with another Accept does not join an in-flight download', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(512 * 1024, 12)
  // ~0.5 s for the body: the second client arrives while it is still downloading.
  upstream.set('/api/big.json', { body, headers: { 'cache-control': 'max-age=3600', vary: 'Accept' }, throttleBytesPerSec: 1024 * 1024, chunkSize: 16 * 1024 })
  const first = request(url('/api/big.json'), { headers: { accept: 'application/json' } })
  await waitUntil(() => upstream.count('/api/big.json') >= 1, { what: 'the upstream to see /api/big.json' })
  const same = request(url('/api/big.json'), { headers: { accept: 'application/json' } })
  const other = await request(url('/api/big.json'), { headers: { accept: 'text/csv' } })
  t.equal(other.status, 200)
  t.equal(other.headers['cache-status'], 'dsmirror; fwd=vary-miss; detail=in-flight')
  t.equal(other.sha256, sha256(body))
  t.equal(upstream.requests.filter((r) => r.path === '/api/big.json')[1]?.headers.accept, 'text/csv', 'its own upstream request')
  t.equal((await same).headers['cache-status'], 'dsmirror; hit; detail=in-flight', 'a matching Accept shares the download')
  t.equal((await first).sha256, sha256(body))
  t.equal(upstream.count('/api/big.json', 'GET'), 2)
})

t.test('cache.revalidateAfter revalidates objects that are fresh by their headers', async (t) => {
  const { upstream, url } = await setup(t, { config: { cache: { revalidateAfter: '1ms' } } })
  const body = makeBytes(SIZE, 8)
  upstream.set('/api/fresh.json', { body, headers: { 'cache-control': 'max-age=3600' } })
  await request(url('/api/fresh.json'))
  await new Promise((resolve) => setTimeout(resolve, 5))
  const second = await request(url('/api/fresh.json'))
  t.equal(second.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=304')
  t.equal(second.sha256, sha256(body))
  t.equal(upstream.count('/api/fresh.json', 'GET'), 2)
})

t.test('immutable objects are served without revalidation, unless the upstream says otherwise or they may not be stored', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 9)
  upstream.set('/d/archive.tar.gz', { body })
  await request(url('/d/archive.tar.gz'))
  const second = await request(url('/d/archive.tar.gz'))
  t.equal(second.headers['cache-status'], 'dsmirror; hit')
  t.equal(second.sha256, sha256(body))
  t.equal(upstream.count('/d/archive.tar.gz', 'GET'), 1, 'no revalidation for cache.immutable')

  // Issue #13 item 11: the pattern only extends heuristic freshness (RFC 9111 §4.2.2); an
  // explicit no-cache (§5.2.2.4) means validate before every reuse, whatever the file name.
  upstream.set('/d/latest.tar.gz', { body, headers: { 'cache-control': 'no-cache' } })
  await request(url('/d/latest.tar.gz'))
  const validated = await request(url('/d/latest.tar.gz'))
  t.equal(validated.headers['cache-status'], 'dsmirror; fwd=stale; fwd-status=304')
  t.equal(validated.sha256, sha256(body))
  t.equal(upstream.count('/d/latest.tar.gz', 'GET'), 2, 'no-cache wins over cache.immutable')

  upstream.set('/d/secret.tar.gz', { body, headers: { 'cache-control': 'no-store' } })
  await request(url('/d/secret.tar.gz'))
  const again = await request(url('/d/secret.tar.gz'))
  t.match(again.headers['cache-status'], /^dsmirror; fwd=miss; detail=/)
  t.equal(upstream.count('/d/secret.tar.gz', 'GET'), 2, 'no-store wins over cache.immutable')
})

t.test('serveStale: a stale copy is served when the upstream is unreachable', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 10)
  upstream.set('/api/stale.json', { body, headers: { 'cache-control': 'max-age=0' } })
  upstream.set('/api/strict.json', { body, headers: { 'cache-control': 'max-age=0, must-revalidate' } })
  upstream.set('/api/nocache.json', { body, headers: { 'cache-control': 'no-cache' } })
  for (const path of ['/api/stale.json', '/api/strict.json', '/api/nocache.json']) await request(url(path))
  await upstream.close()

  const stale = await request(url('/api/stale.json'))
  t.equal(stale.status, 200)
  t.equal(stale.sha256, sha256(body))
  t.match(stale.headers['cache-status'], /^dsmirror; fwd=stale; .*detail=DSM_UPSTREAM_CONNECT/)

  // RFC 9111 §4.2.4: no stale response where no-cache or must-revalidate forbids it.
  for (const path of ['/api/strict.json', '/api/nocache.json']) {
    const refused = await request(url(path))
    t.equal(refused.status, 502, path)
    t.equal(JSON.parse(refused.body.toString()).code, 'DSM_UPSTREAM_CONNECT')
    t.match(refused.headers['cache-status'], /detail=DSM_UPSTREAM_CONNECT/)
  }
})

t.test('serveStale: false gives the upstream error', async (t) => {
  const { upstream, url } = await setup(t, { config: { cache: { serveStale: false } } })
  upstream.set('/api/stale.json', { body: makeBytes(SIZE, 11), headers: { 'cache-control': 'max-age=0' } })
  await request(url('/api/stale.json'))
  await upstream.close()
  const res = await request(url('/api/stale.json'))
  t.equal(res.status, 502)
  t.match(res.headers['content-type'], /^application\/json/)
  const error = JSON.parse(res.body.toString()) as { statusCode: number, code: string, error: string }
  t.equal(error.statusCode, 502)
  t.equal(error.code, 'DSM_UPSTREAM_CONNECT')
  t.type(error.error, 'string')
  t.match(res.headers['cache-status'], /^dsmirror; fwd=stale; detail=DSM_UPSTREAM_CONNECT$/)
})

t.test('an upstream 404 is passed through and remembered briefly, never stored as a body', async (t) => {
  const { upstream, proxy, url } = await setup(t)
  upstream.set('/api/gone.json', { body: Buffer.from('not here\n'), status: 404 })
  const first = await request(url('/api/gone.json'))
  t.equal(first.status, 404)
  t.equal(first.body.toString(), 'not here\n')
  t.equal(first.headers['cache-status'], 'dsmirror; fwd=miss; fwd-status=404')
  const second = await request(url('/api/gone.json'))
  t.equal(second.status, 404)
  t.equal(second.body.toString(), 'not here\n')
  t.equal(second.headers['cache-status'], 'dsmirror; hit; detail=negative')
  t.equal(upstream.count('/api/gone.json'), 1, 'answered within negativeTtl without the upstream')
  t.same(await filesUnder(join(proxy.config.cache.dir, 'objects')), [], 'nothing written under objects/')
})

t.test('a remembered 404 is not shared with credentials, nor remembered when it says no-store', async (t) => {
  const { upstream, url } = await setup(t)
  upstream.set('/api/private-repo.json', { body: Buffer.from('not found\n'), status: 404 })
  t.equal((await request(url('/api/private-repo.json'))).status, 404)
  const withToken = await request(url('/api/private-repo.json'), { headers: { authorization: 'Bearer hf_token' } })
  t.equal(withToken.headers['cache-status'], 'dsmirror; fwd=miss; fwd-status=404', 'a request with Authorization asks the upstream itself')
  t.equal(upstream.count('/api/private-repo.json'), 2)
  t.equal((await request(url('/api/private-repo.json'))).headers['cache-status'], 'dsmirror; hit; detail=negative')

  upstream.set('/api/authed-404.json', { body: Buffer.from('no\n'), status: 404 })
  await request(url('/api/authed-404.json'), { headers: { authorization: 'Bearer hf_token' } })
  t.equal((await request(url('/api/authed-404.json'))).headers['cache-status'], 'dsmirror; fwd=miss; fwd-status=404', 'an answer to credentials is not remembered for others')

  upstream.set('/api/volatile.json', { body: Buffer.from('no\n'), status: 404, headers: { 'cache-control': 'no-store' } })
  await request(url('/api/volatile.json'))
  t.equal((await request(url('/api/volatile.json'))).headers['cache-status'], 'dsmirror; fwd=miss; fwd-status=404', 'no-store applies to a 404 too')
  t.equal(upstream.count('/api/volatile.json'), 2)
})
