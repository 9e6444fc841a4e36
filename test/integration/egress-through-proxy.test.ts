// Egress through an HTTP proxy (docs/design.md "Config", upstream.proxy): with a proxy URL, or with
// `env` and HTTPS_PROXY, dsmirror reaches the upstream through one CONNECT tunnel, and the
// upstream's TLS is still verified end to end inside it (the proxy never sees plaintext and
// cannot substitute a certificate); NO_PROXY sends the request direct. The proxy below is a real
// CONNECT proxy on 127.0.0.1 that tunnels to 127.0.0.1 only and counts every CONNECT.
import t from 'tap'
import { startConnectProxy } from '../helpers/connect-proxy.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

function errorCode (body: Buffer): string {
  return (JSON.parse(body.toString()) as { code: string }).code
}

t.test('upstream.proxy: a URL tunnels every upstream connection through the proxy', async (t) => {
  const egress = await startConnectProxy(t)
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const body = Buffer.from('weights through the tunnel')
  upstream.set('/models/r.pth', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { proxy: egress.url } } })
  t.teardown(() => proxy.close({ remove: true }))

  const res = await request(proxy.mirrorUrl(upstream.host, '/models/r.pth'))
  t.equal(res.status, 200)
  t.ok(res.complete)
  t.equal(res.body.toString(), body.toString())
  t.same(egress.connects, [upstream.host], 'one CONNECT, to the upstream host:port')
  t.equal(egress.plainRequests, 0, 'no plaintext request went to the proxy')
  t.equal(upstream.count('/models/r.pth', 'GET'), 1)

  const again = await request(proxy.mirrorUrl(upstream.host, '/models/r.pth'))
  t.equal(again.status, 200)
  t.equal(egress.connects.length, 1, 'a cache hit opens no tunnel')
})

t.test('upstream TLS is verified end to end through the tunnel', async (t) => {
  const pki = await getTestPki()
  const egress = await startConnectProxy(t)
  // The kind of certificate a TLS-intercepting proxy presents: from a CA dsmirror does not trust.
  const intercepted = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(() => intercepted.close())
  intercepted.set('/x.bin', { body: Buffer.from('must not be served') })
  const proxy = await startProxy({ allowHosts: [intercepted.host], config: { upstream: { proxy: egress.url } } })
  t.teardown(() => proxy.close({ remove: true }))

  const res = await request(proxy.mirrorUrl(intercepted.host, '/x.bin'))
  t.equal(res.status, 502)
  t.equal(errorCode(res.body), 'DSM_UPSTREAM_TLS')
  t.match(res.body.toString(), /upstream\.caFiles/)
  t.same(egress.connects, [intercepted.host], 'the handshake that failed ran inside the tunnel')
  t.equal(intercepted.count(), 0, 'no request reached the untrusted upstream')

  const wrongName = await startUpstream({ tls: pki.wrongNameLeaf })
  t.teardown(() => wrongName.close())
  wrongName.set('/x.bin', { body: Buffer.from('x') })
  const byName = await startProxy({ allowHosts: [wrongName.host], config: { upstream: { proxy: egress.url } } })
  t.teardown(() => byName.close({ remove: true }))
  const mismatch = await request(byName.mirrorUrl(wrongName.host, '/x.bin'))
  t.equal(mismatch.status, 502)
  t.equal(errorCode(mismatch.body), 'DSM_UPSTREAM_TLS', 'the host name is checked inside the tunnel too')
  t.match(mismatch.body.toString(), /ERR_TLS_CERT_ALTNAME_INVALID|altname/i)
})

t.test('a proxy that refuses the CONNECT is DSM_UPSTREAM_CONNECT', async (t) => {
  const egress = await startConnectProxy(t, { deny: true })
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/x.bin', { body: Buffer.from('x') })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { proxy: egress.url } } })
  t.teardown(() => proxy.close({ remove: true }))
  const res = await request(proxy.mirrorUrl(upstream.host, '/x.bin'))
  t.equal(res.status, 502)
  t.equal(errorCode(res.body), 'DSM_UPSTREAM_CONNECT')
  t.same(egress.connects, [upstream.host])
  t.equal(upstream.connections, 0, 'nothing went around the proxy')
})

t.test('upstream.proxy: env follows HTTPS_PROXY, and NO_PROXY bypasses it', async (t) => {
  const egress = await startConnectProxy(t)
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/a.bin', { body: Buffer.from('via env proxy') })
  upstream.set('/b.bin', { body: Buffer.from('direct') })

  const viaEnv = await startProxy({
    allowHosts: [upstream.host],
    config: { upstream: { proxy: 'env' } },
    env: { HTTPS_PROXY: egress.url }
  })
  const res = await request(viaEnv.mirrorUrl(upstream.host, '/a.bin'))
  await viaEnv.close({ remove: true })
  t.equal(res.status, 200)
  t.equal(res.body.toString(), 'via env proxy')
  t.same(egress.connects, [upstream.host], 'HTTPS_PROXY: one CONNECT to the upstream')

  const lowerCase = await startProxy({
    allowHosts: [upstream.host],
    config: { upstream: { proxy: 'env' } },
    env: { https_proxy: egress.url }
  })
  const lower = await request(lowerCase.mirrorUrl(upstream.host, '/a.bin'))
  await lowerCase.close({ remove: true })
  t.equal(lower.status, 200)
  t.equal(egress.connects.length, 2, 'https_proxy (lower case) is honoured too')

  const bypass = await startProxy({
    allowHosts: [upstream.host],
    config: { upstream: { proxy: 'env' } },
    env: { HTTPS_PROXY: egress.url, NO_PROXY: '127.0.0.1' }
  })
  t.teardown(() => bypass.close({ remove: true }))
  const direct = await request(bypass.mirrorUrl(upstream.host, '/b.bin'))
  t.equal(direct.status, 200)
  t.equal(direct.body.toString(), 'direct')
  t.equal(egress.connects.length, 2, 'NO_PROXY=127.0.0.1: no CONNECT')
  t.equal(upstream.count('/b.bin', 'GET'), 1, 'the upstream was reached directly')

  const none = await startProxy({
    allowHosts: [upstream.host],
    config: { upstream: { proxy: 'none' } },
    env: { HTTPS_PROXY: egress.url }
  })
  t.teardown(() => none.close({ remove: true }))
  upstream.set('/c.bin', { body: Buffer.from('none') })
  const plain = await request(none.mirrorUrl(upstream.host, '/c.bin'))
  t.equal(plain.status, 200)
  t.equal(egress.connects.length, 2, 'upstream.proxy: none ignores HTTPS_PROXY')
})
