// Methods other than GET and HEAD (the Hugging Face API POSTs) go upstream uncached with the
// request body streamed through, through the same allowlist and verified TLS as the cached path
// (docs/design.md "Request path"), and say so with `Cache-Status: dsmirror; fwd=method` (RFC 9211).
import { createHash } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

interface Seen { method: string, path: string, bytes: number, sha256: string, contentType: string | undefined }

interface EchoServer {
  host: string
  seen: Seen[]
  /** Body bytes received so far by the request in progress. */
  receiving: () => number
  connections: () => number
}

/** An https upstream that reads any request body and answers with what it received. */
async function startEcho (t: Test): Promise<EchoServer> {
  const pki = await getTestPki()
  const seen: Seen[] = []
  let receiving = 0
  let connections = 0
  const server = https.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    const hash = createHash('sha256')
    let bytes = 0
    receiving = 0
    req.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; receiving = bytes })
    req.on('end', () => {
      const entry = { method: req.method ?? '', path: req.url ?? '', bytes, sha256: hash.digest('hex'), contentType: req.headers['content-type'] }
      seen.push(entry)
      const body = Buffer.from(JSON.stringify(entry))
      res.writeHead(201, {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'cache-control': 'max-age=3600',
        'x-upstream': 'echo'
      })
      res.end(body)
    })
  })
  server.on('connection', (socket: Socket) => { connections++; socket.on('error', () => {}) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return { host: `127.0.0.1:${address.port}`, seen, receiving: () => receiving, connections: () => connections }
}

function assertError (t: Test, res: ClientResponse, status: number, code: string): void {
  t.equal(res.status, status)
  const error = JSON.parse(res.body.toString()) as { statusCode: number, code: string, error: string }
  t.equal(error.statusCode, status)
  t.equal(error.code, code)
  t.type(error.error, 'string')
  t.match(res.headers['cache-status'], new RegExp(`^dsmirror; .*detail=${code}$`))
}

t.test('POST, PUT, PATCH and DELETE go upstream uncached, bodies intact', async (t) => {
  const echo = await startEcho(t)
  const proxy = await startProxy({ allowHosts: [echo.host] })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const url = proxy.mirrorUrl(echo.host, '/api/models?search=bert')
  const body = makeBytes(3 * 1024 * 1024, 41)
  for (const method of ['POST', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    // Node's client frames a DELETE body only with an explicit Content-Length.
    const res = await request(url, { method, body, headers: { 'content-type': 'application/x-custom', 'content-length': String(body.length) } })
    t.equal(res.status, 201, method)
    t.equal(res.headers['cache-status'], 'dsmirror; fwd=method')
    t.equal(res.headers['x-upstream'], 'echo')
    const got = JSON.parse(res.body.toString()) as Seen
    t.same(got, { method, path: '/api/models?search=bert', bytes: body.length, sha256: sha256(body), contentType: 'application/x-custom' }, `${method}: the upstream got the body unchanged`)
  }
  t.equal(echo.seen.length, 5, 'every request went upstream, the second POST too')
  const get = await request(proxy.mirrorUrl(echo.host, '/api/models?search=bert'))
  t.equal(get.headers['cache-status'], 'dsmirror; fwd=miss; fwd-status=201', 'nothing a POST answered was stored for GET')
})

t.test('a request body is streamed upstream as it arrives', async (t) => {
  const echo = await startEcho(t)
  const proxy = await startProxy({ allowHosts: [echo.host] })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const first = makeBytes(256 * 1024, 42)
  const second = makeBytes(256 * 1024, 43)
  const url = new URL(proxy.mirrorUrl(echo.host, '/api/upload'))
  const response = new Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.write(first)
    // The rest is sent only once the upstream holds the first part: a proxy that buffered the
    // whole body first would wait here forever.
    const started = Date.now()
    const poll = setInterval(() => {
      if (echo.receiving() >= first.length) {
        clearInterval(poll)
        req.end(second)
      } else if (Date.now() - started > 5000) {
        clearInterval(poll)
        req.destroy(new Error('the first part never reached the upstream'))
      }
    }, 5)
  })
  const res = await response
  t.equal(res.status, 201)
  t.equal(res.headers['cache-status'], 'dsmirror; fwd=method')
  t.equal((JSON.parse(res.body) as Seen).sha256, sha256(Buffer.concat([first, second])))
})

t.test('POST to a host outside allowHosts is refused without a connection', async (t) => {
  const echo = await startEcho(t)
  const proxy: TestProxy = await startProxy({ allowHosts: [] })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const res = await request(proxy.mirrorUrl(echo.host, '/api/x'), { method: 'POST', body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } })
  assertError(t, res, 403, 'DSM_HOST_NOT_ALLOWED')
  t.equal(echo.connections(), 0)
})

t.test('POST to an upstream whose certificate does not verify is a DSM_UPSTREAM_TLS', async (t) => {
  const pki = await getTestPki()
  const untrusted = await startUpstream({ tls: pki.otherLeaf })
  const proxy = await startProxy({ allowHosts: [untrusted.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await untrusted.close() })
  const res = await request(proxy.mirrorUrl(untrusted.host, '/api/x'), { method: 'POST', body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } })
  assertError(t, res, 502, 'DSM_UPSTREAM_TLS')
  t.match(res.headers['cache-status'], /fwd=method/)
  t.equal(untrusted.requests.length, 0, 'no request was sent over the unverified connection')
})

t.test('POST to an upstream that is down is a DSM_UPSTREAM_CONNECT', async (t) => {
  const gone = await startUpstream()
  const host = gone.host
  await gone.close()
  const proxy = await startProxy({ allowHosts: [host] })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const res = await request(proxy.mirrorUrl(host, '/api/x'), { method: 'POST', body: Buffer.from('{}') })
  assertError(t, res, 502, 'DSM_UPSTREAM_CONNECT')
})
