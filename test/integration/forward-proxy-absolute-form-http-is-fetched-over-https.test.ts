// Issue 12 item 3: absolute-form plain HTTP through the proxy (`http_proxy`, `GET http://host/p`,
// what torchvision's http:// dataset URLs send) is fetched over https and cached under the https
// key, so the mirror form hits the same entry; plain http goes upstream only for hosts in
// forwardProxy.plainHttpHosts, cached under the http:// URL (another object). Off when
// forwardProxy.enabled is false (then refused as before).
import { once } from 'node:events'
import http from 'node:http'
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('http:// forward requests: upgraded to https by default, plain for plainHttpHosts', async (t) => {
  const host = testName('data.test')
  const plainHost = testName('plain.test')
  const upstream = await startUpstream({ tls: await issueTestLeaf({ names: [host] }) })
  t.teardown(() => upstream.close())
  const body = makeBytes(100_000, 3)
  upstream.set('/mnist/train.gz', { body })

  let plainRequests = 0
  const plainServer = http.createServer((req, res) => {
    plainRequests++
    res.writeHead(200, { 'content-length': '5', 'cache-control': 'max-age=3600' }).end('plain')
  })
  plainServer.listen(0, '127.0.0.1')
  await once(plainServer, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { plainServer.close(() => { resolve() }) }))
  const plainPort = (plainServer.address() as { port: number }).port

  const resolver = createTestResolver({ [host]: ['127.0.0.1'], [plainHost]: ['127.0.0.1'] })
  const proxy = await startProxy({
    allowHosts: [`*.data.test:${upstream.port}`, `*.plain.test:${plainPort}`],
    config: { forwardProxy: { enabled: true, plainHttpHosts: [`*.plain.test:${plainPort}`] }, upstream: { allowAddresses: ['127.0.0.1/32'] } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)

  // The test upstream is not on 443, so its "https counterpart" is spelled with its port: an
  // explicit port other than 80 is not upgraded...
  const notUpgraded = await rawRequest(port, [`GET http://${host}:${upstream.port}/mnist/train.gz HTTP/1.1`, `host: ${host}:${upstream.port}`])
  t.equal(notUpgraded.status, 400, 'an explicit non-80 port has no https counterpart: refused')
  t.match(notUpgraded.body, 'DSM_BAD_PATH')

  // ... so the upgrade is shown with a mirror whose URL is the https host: http://<mirror host>/p
  // → https://<mirror host>/p, the key the mirror form uses.
  const viaProxy = await rawRequest(port, [`GET http://${host}/mnist/train.gz HTTP/1.1`, `host: ${host}`, 'proxy-connection: keep-alive'])
  t.equal(viaProxy.status, 403, 'upgraded to https://host/ (port 443), which allowHosts does not name here')
  t.match(viaProxy.body, 'DSM_HOST_NOT_ALLOWED')

  const plain = await rawRequest(port, [`GET http://${plainHost}:${plainPort}/x.txt HTTP/1.1`, `host: ${plainHost}:${plainPort}`])
  t.equal(plain.status, 200, 'plainHttpHosts: fetched over http')
  t.equal(plain.body, 'plain')
  t.equal(plainRequests, 1)
  await proxy.idle()
  const plainAgain = await rawRequest(port, [`GET http://${plainHost}:${plainPort}/x.txt HTTP/1.1`, `host: ${plainHost}:${plainPort}`])
  t.match(plainAgain.headers['cache-status'], /; hit/, 'and cached')
  t.equal(plainRequests, 1)
  const mirrorForm = await request(proxy.mirrorUrl(`${plainHost}:${plainPort}`, '/x.txt'))
  t.not(mirrorForm.status, 200, 'the mirror form means https: the plain object is another one')
  t.equal(plainRequests, 1, 'and never reaches the plain server')
})

t.test('the upgrade shares the mirror form\'s entry (port 443 via the test resolver and allowHosts)', async (t) => {
  // allowHosts names the host on 443; the resolver sends 443 nowhere reachable, so this part
  // checks the key only: both forms produce one upstream request against the same URL.
  const host = testName('keys.test')
  const resolver = createTestResolver({ [host]: ['127.0.0.1'] })
  const proxy = await startProxy({ allowHosts: ['*.keys.test'], config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'], retries: 0 } }, lookup: resolver.lookup })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)
  const viaProxy = await rawRequest(port, [`GET http://${host}/a/b.bin HTTP/1.1`, `host: ${host}`])
  const mirror = await rawRequest(port, [`GET /${host}/a/b.bin HTTP/1.1`, 'host: 127.0.0.1'])
  t.equal(viaProxy.status, mirror.status, 'the same answer')
  t.match(viaProxy.headers['cache-status'], 'DSM_UPSTREAM', 'an upstream error: https://host:443 was fetched')
  t.equal(viaProxy.headers['cache-status'], mirror.headers['cache-status'])
  t.equal(resolver.calls.filter((c) => c === host).length >= 1, true, 'the name was resolved for https://host/')
})

t.test('disabled: absolute-form is refused as before', async (t) => {
  const proxy = await startProxy({ allowHosts: ['data.example'], config: { forwardProxy: { enabled: false } } })
  t.teardown(() => proxy.close({ remove: true }))
  const res = await rawRequest(Number(new URL(proxy.origin).port), ['GET http://data.example/x HTTP/1.1', 'host: data.example'])
  t.equal(res.status, 400)
  t.match(res.body, 'DSM_BAD_PATH')
})
