// An allowed name is not an allowed address: a name in allowHosts whose DNS answer is loopback,
// unspecified or IPv4-mapped loopback is refused with 502 DSM_UPSTREAM_FORBIDDEN_ADDRESS before
// any connection, on the cached path and the pass-through path alike, unless the range is in
// upstream.allowAddresses. A rebinding name (allowed address first, forbidden one next) is
// checked again on the connection that would reach the new address.
//
// The forbidden targets are played by loopback listeners: a canary on 127.0.0.2 and the real
// upstream on 127.0.0.1 at the same port (0.0.0.0 connects there on Linux); names resolve through
// the test resolver (127.x only); `localhost` resolves through the real /etc/hosts.
import t, { type Test } from 'tap'
import { startCanary, type Canary } from '../helpers/canary.js'
import { startConnectProxy } from '../helpers/connect-proxy.js'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

function assertRefused (t: Test, res: ClientResponse, what: RegExp, name: string): void {
  t.equal(res.status, 502, `${name}: 502`)
  t.match(res.headers['cache-status'], /detail=DSM_UPSTREAM_FORBIDDEN_ADDRESS/, `${name}: Cache-Status names the code`)
  if (res.body.length === 0) return // HEAD
  const error = JSON.parse(res.body.toString()) as { code: string, error: string }
  t.equal(error.code, 'DSM_UPSTREAM_FORBIDDEN_ADDRESS', `${name}: DSM_UPSTREAM_FORBIDDEN_ADDRESS`)
  t.match(error.error, what, `${name}: the message names the address and its class`)
  t.match(error.error, 'upstream.allowAddresses', `${name}: the message names the fix`)
}

/** The real upstream on 127.0.0.1 and a canary on 127.0.0.2 at the same port. */
async function targets (t: Test): Promise<{ upstream: Upstream, canary: Canary }> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/ok.bin', { body: Buffer.from('fine') })
  const canary = await startCanary(t, { port: upstream.port })
  return { upstream, canary }
}

t.test('names resolving to loopback, unspecified or mapped addresses open no connection', async (t) => {
  const { upstream, canary } = await targets(t)
  const port = upstream.port
  const resolver = createTestResolver({
    [testName('canary.test')]: ['127.0.0.2'],
    [testName('mapped.test')]: ['::ffff:127.0.0.2'],
    [testName('zero.test')]: ['0.0.0.0'],
    [testName('mixed.test')]: ['127.0.0.2', '::ffff:127.0.0.1', '0.0.0.0']
  }, { systemLocalhost: true })
  const proxy = await startProxy({
    allowHosts: ['*.canary.test', '*.mapped.test', '*.zero.test', '*.mixed.test'].map((h) => `${h}:${port}`).concat(`localhost:${port}`),
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))

  const cases: Array<[string, string, RegExp]> = [
    ['name → 127.0.0.2', `${testName('canary.test')}:${port}`, /127\.0\.0\.2 \(loopback\)/],
    ['name spelled upper-case', `${testName('CANARY.Test').toUpperCase()}:${port}`, /loopback/],
    ['name with a trailing dot', `${testName('canary.test.')}:${port}`, /loopback/],
    ['name → ::ffff:127.0.0.2 (IPv4-mapped)', `${testName('mapped.test')}:${port}`, /::ffff:127\.0\.0\.2 \(loopback\)/],
    ['name → 0.0.0.0 (Linux connects it to the local host)', `${testName('zero.test')}:${port}`, /0\.0\.0\.0 \(unspecified\)/],
    ['name → several forbidden addresses', `${testName('mixed.test')}:${port}`, /127\.0\.0\.2 \(loopback\), ::ffff:127\.0\.0\.1 \(loopback\), 0\.0\.0\.0 \(unspecified\)/],
    ['localhost from /etc/hosts', `localhost:${port}`, /127\.0\.0\.1 \(loopback\)/]
  ]
  for (const [name, host, what] of cases) {
    assertRefused(t, await request(proxy.mirrorUrl(host, '/ok.bin')), what, `GET ${name}`)
    assertRefused(t, await request(proxy.mirrorUrl(host, '/ok.bin'), { method: 'HEAD' }), what, `HEAD ${name}`)
  }
  // Pass-through (reply-from) uses the same dispatcher, so the same guard.
  const post = await request(proxy.mirrorUrl(`${testName('canary.test')}:${port}`, '/api'), { method: 'POST', body: Buffer.from('{}') })
  t.equal(post.status, 502)
  t.match(post.body.toString(), /"code":"DSM_UPSTREAM_FORBIDDEN_ADDRESS"/, 'POST pass-through: refused with the same code')

  t.ok(resolver.calls.length >= cases.length - 1, 'the names were resolved (and refused on the answer)')
  t.equal(canary.connections, 0, 'the canary on 127.0.0.2 saw no connection')
  t.equal(upstream.connections, 0, 'nor did 127.0.0.1 (where 0.0.0.0 and localhost lead)')
})

t.test('upstream.allowAddresses opens a range; the canary proves a connection would be seen', async (t) => {
  const { upstream, canary } = await targets(t)
  const port = upstream.port
  const resolver = createTestResolver({ [testName('canary.test')]: ['127.0.0.2'] }, { systemLocalhost: true })
  const proxy = await startProxy({
    allowHosts: [`localhost:${port}`, `*.canary.test:${port}`],
    lookup: resolver.lookup,
    config: { upstream: { allowAddresses: ['127.0.0.0/8'], retries: 0 } }
  })
  t.teardown(() => proxy.close({ remove: true }))

  const res = await request(proxy.mirrorUrl(`localhost:${port}`, '/ok.bin'))
  t.equal(res.status, 200, 'localhost (127.0.0.1) is served once 127.0.0.0/8 is allowed')
  t.equal(res.body.toString(), 'fine')
  t.equal(upstream.connections, 1)

  // The positive control of every "0 connections" above: with the range allowed, the same
  // request does reach the canary (which hangs up, so the request fails).
  const reached = await request(proxy.mirrorUrl(`${testName('canary.test')}:${port}`, '/ok.bin'))
  t.equal(reached.status, 502)
  t.not(JSON.parse(reached.body.toString()).code, 'DSM_UPSTREAM_FORBIDDEN_ADDRESS')
  t.ok(canary.connections >= 1, 'the canary counts a connection when one is made')
})

t.test('DNS rebinding: a second connection to a name now pointing at a forbidden address is refused', async (t) => {
  const name = testName('rebind.test')
  const upstream = await startUpstream({ tls: await issueTestLeaf({ names: ['*.rebind.test'] }) })
  t.teardown(() => upstream.close())
  const canary = await startCanary(t, { port: upstream.port })
  // Every response closes its connection, so each request resolves the name again.
  upstream.set('/a.bin', { body: Buffer.from('first'), headers: { connection: 'close' } })
  upstream.set('/b.bin', { body: Buffer.from('second'), headers: { connection: 'close' } })
  // The first answer is an address the operator allowed, every later one the canary.
  const resolver = createTestResolver({ [name]: (call) => call === 1 ? ['127.0.0.1'] : ['127.0.0.2'] })
  const proxy = await startProxy({
    allowHosts: [`*.rebind.test:${upstream.port}`],
    lookup: resolver.lookup,
    config: { upstream: { allowAddresses: ['127.0.0.1/32'] } }
  })
  t.teardown(() => proxy.close({ remove: true }))

  const first = await request(proxy.mirrorUrl(`${name}:${upstream.port}`, '/a.bin'))
  t.equal(first.status, 200)
  t.equal(first.body.toString(), 'first')
  const second = await request(proxy.mirrorUrl(`${name}:${upstream.port}`, '/b.bin'))
  assertRefused(t, second, /127\.0\.0\.2 \(loopback\)/, 'after rebinding')
  t.equal(resolver.calls.filter((c) => c === name).length, 2, 'resolved once per connection')
  t.equal(upstream.connections, 1)
  t.equal(canary.connections, 0, 'the rebound address saw no connection')
})

t.test('egress proxy: NO_PROXY hosts are dialled directly and checked; proxied names are the proxy\'s to resolve', async (t) => {
  const { upstream, canary } = await targets(t)
  const port = upstream.port
  const egress = await startConnectProxy(t)
  const direct = testName('canary.test')
  const proxied = testName('via-proxy.test')
  const resolver = createTestResolver({ [direct]: ['127.0.0.2'], [proxied]: ['127.0.0.2'] })
  const proxy = await startProxy({
    allowHosts: [`*.canary.test:${port}`, `*.via-proxy.test:${port}`],
    lookup: resolver.lookup,
    env: { HTTPS_PROXY: egress.url, NO_PROXY: '.canary.test' },
    config: { upstream: { proxy: 'env', retries: 0 } }
  })
  t.teardown(() => proxy.close({ remove: true }))

  assertRefused(t, await request(proxy.mirrorUrl(`${direct}:${port}`, '/ok.bin')), /127\.0\.0\.2 \(loopback\)/, 'a NO_PROXY name')
  t.same(egress.connects, [], 'the NO_PROXY name did not go through the egress proxy')

  // Through the proxy, dsmirror never resolves the name: the proxy does, with its own policy
  // (this test proxy tunnels to 127.0.0.1 only and refuses the rest with 403).
  const res = await request(proxy.mirrorUrl(`${proxied}:${port}`, '/ok.bin'))
  t.equal(res.status, 502)
  t.equal(JSON.parse(res.body.toString()).code, 'DSM_UPSTREAM_CONNECT', 'the egress proxy refused the tunnel')
  t.same(egress.connects, [`${proxied}:${port}`], 'the name went to the proxy unresolved')
  t.notOk(resolver.calls.includes(proxied), 'dsmirror did not resolve the proxied name')
  t.equal(canary.connections, 0)
})
