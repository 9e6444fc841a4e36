// Upstream redirects are followed server-side (docs/design.md "URL scheme"): up to 5 hops, each hop
// checked against allowHosts before any connection and never downgraded from https to http; the
// cache key stays the URL the client asked for.
import http from 'node:http'
import type { Socket } from 'node:net'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const SIZE = 256 * 1024

async function setup (t: Test, allowHosts: string[] = []): Promise<{ upstream: Upstream, proxy: TestProxy, url: (path: string) => string }> {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host, ...allowHosts] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  return { upstream, proxy, url: (path) => proxy.mirrorUrl(upstream.host, path) }
}

function assertError (t: Test, res: ClientResponse, status: number, code: string): void {
  t.equal(res.status, status)
  t.match(res.headers['content-type'], /^application\/json/)
  const error = JSON.parse(res.body.toString()) as { statusCode: number, code: string, error: string }
  t.equal(error.statusCode, status)
  t.equal(error.code, code)
  t.type(error.error, 'string')
  t.match(res.headers['cache-status'], new RegExp(`^dsmirror; .*detail=${code}`), 'the error says what the cache did')
}

/** Registers a chain of `hops` redirects /chain<n>/0 -> /chain<n>/1 -> ... -> the object. */
function chain (upstream: Upstream, name: string, hops: number, body: Buffer): string {
  for (let i = 0; i < hops; i++) upstream.set(`/${name}/${i}`, { body: Buffer.alloc(0), redirectTo: `/${name}/${i + 1}` })
  upstream.set(`/${name}/${hops}`, { body })
  return `/${name}/0`
}

t.test('a same-host redirect is followed; the cache key stays the original URL', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 31)
  upstream.set('/files/latest.tar.gz', { body: Buffer.alloc(0), redirectTo: `${upstream.origin}/files/v2/data.tar.gz` })
  upstream.set('/files/v2/data.tar.gz', { body })
  const first = await request(url('/files/latest.tar.gz'))
  t.equal(first.status, 200, 'the client never sees the 302')
  t.equal(first.sha256, sha256(body))
  t.equal(first.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  t.equal(first.headers.location, undefined)
  t.same(upstream.requests.map((r) => `${r.method} ${r.path}`), ['GET /files/latest.tar.gz', 'GET /files/v2/data.tar.gz'])

  const second = await request(url('/files/latest.tar.gz'))
  t.equal(second.headers['cache-status'], 'dsmirror; hit')
  t.equal(second.sha256, sha256(body))
  t.equal(upstream.requests.length, 2, 'a hit: no new upstream request')
})

t.test('five redirects are followed, six are refused', async (t) => {
  const { upstream, url } = await setup(t)
  const body = makeBytes(SIZE, 32)
  const five = await request(url(chain(upstream, 'five', 5, body)))
  t.equal(five.status, 200)
  t.equal(five.sha256, sha256(body))
  t.equal(upstream.requests.length, 6)

  const six = await request(url(chain(upstream, 'six', 6, body)))
  assertError(t, six, 502, 'DSM_UPSTREAM_REDIRECT')
  t.equal(upstream.count('/six/6'), 0, 'the seventh URL is never asked for')
  // Issue 12 item 13: a long chain is not a host to allow; the fix is the redirect limit.
  const sixMessage = (JSON.parse(six.body.toString()) as { error: string }).error
  t.match(sixMessage, /upstream\.maxRedirects/, 'the message names the limit')
  t.notMatch(sixMessage, /allowHosts/, 'and does not send the operator to allowHosts')
})

t.test('a redirect loop is refused', async (t) => {
  const { upstream, url } = await setup(t)
  upstream.set('/loop/a.bin', { body: Buffer.alloc(0), redirectTo: '/loop/b.bin' })
  upstream.set('/loop/b.bin', { body: Buffer.alloc(0), redirectTo: '/loop/a.bin' })
  const res = await request(url('/loop/a.bin'))
  assertError(t, res, 502, 'DSM_UPSTREAM_REDIRECT')
  const message = (JSON.parse(res.body.toString()) as { error: string }).error
  t.match(message, /redirects in a loop/, 'the message says it is a loop (issue 12 item 13)')
  t.match(message, /\/loop\/a\.bin/, 'and names the URL that came round again')
  t.notMatch(message, /allowHosts/, 'allowing a host cannot fix a loop')
  t.ok(upstream.requests.length <= 6, 'bounded by the redirect limit')
  const again = await request(url('/loop/a.bin'))
  t.equal(again.status, 502, 'nothing was cached')
})

t.test('a redirect to a host outside allowHosts is refused before connecting', async (t) => {
  const { upstream, url } = await setup(t)
  const forbidden = await startUpstream()
  t.teardown(async () => { await forbidden.close() })
  forbidden.set('/payload.bin', { body: makeBytes(SIZE, 33) })
  upstream.set('/out/file.bin', { body: Buffer.alloc(0), redirectTo: `${forbidden.origin}/payload.bin` })
  const res = await request(url('/out/file.bin'))
  assertError(t, res, 502, 'DSM_UPSTREAM_REDIRECT')
  t.match(JSON.parse(res.body.toString()).error, forbidden.host, 'the message names the refused target')
  t.equal(forbidden.connections, 0, 'not even a TCP connection to the target')
})

t.test('an https upstream redirecting to http:// is refused, even to an allowed host', async (t) => {
  let connections = 0
  const plain = http.createServer((_req, res) => { res.end('plain') })
  plain.on('connection', (socket: Socket) => { connections++; socket.on('error', () => {}) })
  await new Promise<void>((resolve) => { plain.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { plain.closeAllConnections(); await new Promise((resolve) => plain.close(resolve)) })
  const address = plain.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const plainHost = `127.0.0.1:${address.port}`

  const { upstream, url } = await setup(t, [plainHost])
  upstream.set('/down/file.bin', { body: Buffer.alloc(0), redirectTo: `http://${plainHost}/file.bin` })
  const res = await request(url('/down/file.bin'))
  assertError(t, res, 502, 'DSM_UPSTREAM_REDIRECT')
  t.equal(connections, 0, 'no plaintext connection')
})

t.test('credentials are not carried across origins by a redirect', async (t) => {
  const cdn = await startUpstream()
  const { upstream, url } = await setup(t, [cdn.host])
  t.teardown(() => cdn.close())
  const body = makeBytes(SIZE, 35)
  cdn.set('/lfs/blob', { body })
  upstream.set('/repo/resolve/main/model.bin', { body: Buffer.alloc(0), redirectTo: `${cdn.origin}/lfs/blob` })
  upstream.set('/same/0', { body: Buffer.alloc(0), redirectTo: '/same/1' })
  upstream.set('/same/1', { body })

  const res = await request(url('/repo/resolve/main/model.bin'), { headers: { authorization: 'Bearer hf_secret' } })
  t.equal(res.sha256, sha256(body))
  t.equal(upstream.requests.find((r) => r.path === '/repo/resolve/main/model.bin')?.headers.authorization, 'Bearer hf_secret', 'the origin got the token')
  t.equal(cdn.requests.find((r) => r.path === '/lfs/blob')?.headers.authorization, undefined, 'the other origin did not')

  await request(url('/same/0'), { headers: { authorization: 'Bearer hf_secret' } })
  t.equal(upstream.requests.find((r) => r.path === '/same/1')?.headers.authorization, 'Bearer hf_secret', 'a same-origin hop keeps it')
})
