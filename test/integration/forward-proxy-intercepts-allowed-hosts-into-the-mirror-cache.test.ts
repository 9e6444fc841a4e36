// Issue 12 item 1: CONNECT to an allowed host is answered 200, then TLS with a leaf minted for
// that host by the interception CA (SAN = the host, ALPN http/1.1); the decrypted requests run
// through the mirror pipeline, so `https://host/path` through the proxy and `/host/path` in
// mirror form share one cache entry: the upstream sees the file once.
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { connectWithEarlyHello, httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { request } from '../helpers/http-client.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('CONNECT → minted leaf → mirror pipeline, one cache entry with the mirror form', async (t) => {
  const host = testName('data.test')
  const upstream = await startUpstream({ tls: await issueTestLeaf({ names: [host] }) })
  t.teardown(() => upstream.close())
  const body = makeBytes(300_000, 7)
  upstream.set('/files/weights.pth', { body })
  const authority = `${host}:${upstream.port}`
  const resolver = createTestResolver({ [host]: ['127.0.0.1'] })
  const proxy = await startProxy({
    allowHosts: [`*.data.test:${upstream.port}`],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'] } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const port = Number(new URL(proxy.origin).port)

  const tunnel = await sendConnect(t, port, authority)
  t.equal(tunnel.status, 200, 'CONNECT answered 200')
  t.equal(tunnel.headers['content-length'], undefined, 'no Content-Length on a 2xx to CONNECT (RFC 9110 §9.3.6)')
  t.equal(resolver.calls.length, 0, 'nothing resolved (or connected) at CONNECT time')
  const secure = await tlsInTunnel(tunnel.socket, { ca: fp.ca.certPem, servername: host, host, ALPNProtocols: ['h2', 'http/1.1'] })
  t.equal(secure.alpnProtocol, 'http/1.1', 'ALPN: http/1.1 chosen over h2')
  const leaf = secure.getPeerX509Certificate() as X509Certificate
  t.equal(leaf.subjectAltName, `DNS:${host}`, 'the leaf names the CONNECT host only')
  t.ok(leaf.checkIssued(fp.ca.cert), 'issued by the interception CA')

  const first = await httpOver(secure, ['GET /files/weights.pth HTTP/1.1', `host: ${authority}`])
  t.equal(first.status, 200)
  t.equal(sha256(first.body), sha256(body), 'the bytes are the upstream file')
  t.match(first.headers['cache-status'], /fwd=miss/, 'a miss the first time')
  const second = await httpOver(secure, ['GET /files/weights.pth HTTP/1.1', `host: ${authority}`])
  t.match(second.headers['cache-status'], /; hit/, 'a hit on the same tunnel')
  secure.destroy()
  await proxy.idle()

  const mirror = await request(proxy.mirrorUrl(authority, '/files/weights.pth'))
  t.equal(mirror.status, 200)
  t.match(mirror.headers['cache-status'], /; hit/, 'the mirror form hits the entry the proxy made')
  t.equal(mirror.sha256, sha256(body))
  t.equal(upstream.count('/files/weights.pth', 'GET'), 1, 'the upstream saw the file once')

  // A client that pipelines its ClientHello right behind the CONNECT (Node hands it over as `head`).
  const { status, secure: again } = await connectWithEarlyHello(t, port, authority, { ca: fp.ca.certPem, host })
  t.equal(status, 200)
  const third = await httpOver(again, ['GET /files/weights.pth HTTP/1.1', `host: ${host}:${upstream.port}`])
  t.match(third.headers['cache-status'], /; hit/)
  again.destroy()
  t.equal(fp.leaves.minted, 1, 'one leaf for the host, reused by the second tunnel')
})
