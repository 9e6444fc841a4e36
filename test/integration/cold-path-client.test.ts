// Issue 14: the cold path's own HTTPS client (server/upstream/h1-client.ts). Its bodies reach the
// download as views of one reused read buffer per connection (what removes the fresh memory per
// TLS record), so what is tested here is that nothing is lost for it: whole bodies in every
// framing and with backpressure, kept-alive connections reused only when clean, every failure
// an error with the code mapUpstreamError maps, and TLS verified like every other upstream path.
import { once } from 'node:events'
import diagnostics from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import tls, { TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { getTestPki } from '../helpers/pki.js'
import { responseHead, startRawUpstream, type RawScript } from '../helpers/raw-upstream.js'
import { H1Client, type H1Response } from '../../server/upstream/h1-client.js'
import { createUpstreamSecureContext, mapUpstreamError, Upstream } from '../../server/upstream/upstream.js'

const TIMEOUTS = { connect: 5000, headers: 5000, idle: 5000 }

async function client (t: Test, timeouts = TIMEOUTS): Promise<H1Client> {
  const pki = await getTestPki()
  const c = new H1Client({
    secureContext: createUpstreamSecureContext([pki.rootCa.certPem]),
    // Only IP literals are used here, which are never looked up.
    lookup: () => { throw new Error('no lookup expected') },
    timeouts,
    keepAliveMs: 30_000,
    maxHeaderBytes: 16 * 1024
  })
  t.teardown(() => { c.close() })
  return c
}

async function raw (t: Test, script: RawScript, options: { plain?: boolean } = {}): Promise<Awaited<ReturnType<typeof startRawUpstream>>> {
  const upstream = await startRawUpstream(script, options)
  t.teardown(() => upstream.close())
  return upstream
}

/** Reads `res.body` with each(), copying each view, and notes the memory every view lived in. */
async function readAll (res: H1Response, onChunk?: (n: number) => void | Promise<void>): Promise<{ body: Buffer, buffers: Set<ArrayBufferLike>, calls: number }> {
  const pieces: Buffer[] = []
  const buffers = new Set<ArrayBufferLike>()
  let calls = 0
  await res.body.each((view) => {
    buffers.add(view.buffer)
    pieces.push(Buffer.from(view))
    return onChunk?.(calls++)
  })
  return { body: Buffer.concat(pieces), buffers, calls }
}

async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err: unknown) {
    return err
  }
  throw new Error('expected a rejection')
}

const BIG = makeBytes(4 * 1024 * 1024, 1401)

/** Writes `body` with Content-Length in 64 KiB writes; the connection stays open. */
function sendWithLength (socket: Socket, body: Buffer, extra: Array<[string, string]> = []): void {
  socket.write(responseHead('200 OK', [['content-length', String(body.length)], ...extra]))
  for (let at = 0; at < body.length; at += 65536) socket.write(body.subarray(at, at + 65536))
}

/** Declares BIG's length, sends its first 100,000 bytes, then drops the connection. */
function sendCutShort (socket: Socket): void {
  socket.write(responseHead('200 OK', [['content-length', String(BIG.length)]]))
  socket.write(BIG.subarray(0, 100_000), () => { socket.destroy() })
}

t.test('a body arrives whole as views of one reused buffer, and the connection is kept alive', async (t) => {
  const upstream = await raw(t, (socket) => { sendWithLength(socket, BIG) })
  const c = await client(t)
  const url = new URL(`https://${upstream.host}/big.bin`)
  for (const round of [1, 2]) {
    const res = await c.get(url, { 'accept-encoding': 'identity' })
    t.equal(res.status, 200)
    t.equal(res.headers['content-length'], String(BIG.length))
    const { body, buffers } = await readAll(res)
    t.equal(sha256(body), sha256(BIG), `round ${round}: exact bytes`)
    t.equal(buffers.size, 1, `round ${round}: every view of the body is in the connection's one read buffer`)
  }
  t.equal(upstream.connections, 1, 'the second GET reused the connection')
  t.equal(upstream.requests[0]?.headers.host, upstream.host, 'Host is sent')
  t.equal(upstream.requests[0]?.headers['accept-encoding'], 'identity', 'the given headers are sent')
})

t.test('chunked and close-delimited bodies; only a cleanly framed response leaves a reusable connection', async (t) => {
  const upstream = await raw(t, (socket, req) => {
    if (req.path === '/chunked') {
      socket.write(responseHead('200 OK', [['transfer-encoding', 'chunked']]))
      for (let at = 0; at < BIG.length; at += 100_000) {
        const piece = BIG.subarray(at, at + 100_000)
        socket.write(`${piece.length.toString(16)};ext=1\r\n`)
        socket.write(piece)
        socket.write('\r\n')
      }
      socket.write('0\r\nx-trailer: 1\r\n\r\n')
    } else if (req.path === '/close') {
      socket.write(responseHead('200 OK', []))
      socket.end(BIG)
    } else if (req.path === '/extra') {
      socket.write(responseHead('200 OK', [['content-length', '2']]) + 'okSURPLUS')
    } else {
      sendWithLength(socket, Buffer.from('small'))
    }
  })
  const c = await client(t)
  const at = (path: string): URL => new URL(`https://${upstream.host}${path}`)
  t.equal(sha256((await readAll(await c.get(at('/chunked'), {}))).body), sha256(BIG), 'chunked: exact bytes')
  await readAll(await c.get(at('/small'), {}))
  t.equal(upstream.connections, 1, 'a chunked response leaves the connection reusable')
  t.equal(sha256((await readAll(await c.get(at('/close'), {}))).body), sha256(BIG), 'close-delimited: exact bytes, ended by the close')
  await readAll(await c.get(at('/small'), {}))
  t.equal(upstream.connections, 2, 'after a close-delimited body a new connection is opened')
  t.equal((await readAll(await c.get(at('/extra'), {}))).body.toString(), 'ok', 'the body is what Content-Length says')
  await readAll(await c.get(at('/small'), {}))
  t.equal(upstream.connections, 3, 'bytes after a response: that connection is not reused')
})

t.test('backpressure: never called while its promise is pending, and a paused reader is not timed out', async (t) => {
  const upstream = await raw(t, (socket) => { sendWithLength(socket, BIG) })
  const c = await client(t, { ...TIMEOUTS, idle: 300 })
  const res = await c.get(new URL(`https://${upstream.host}/big.bin`), {})
  let pending = false
  let overlapped = false
  const { body } = await readAll(res, async (n) => {
    if (pending) overlapped = true
    if (n % 8 !== 0) return
    pending = true
    // Longer than the idle timeout once: a reader that is slow is not an upstream that is silent.
    await new Promise((resolve) => setTimeout(resolve, n === 8 ? 600 : 2))
    pending = false
  })
  t.notOk(overlapped, 'no call while a returned promise was pending')
  t.equal(sha256(body), sha256(BIG), 'exact bytes')
})

t.test('a body still working through its backlog never pauses the connection once another request has it', async (t) => {
  const upstream = await raw(t, (socket, req) => {
    if (req.path !== '/a') {
      sendWithLength(socket, Buffer.from(`answer ${req.path}`))
      return
    }
    // Ten chunks and the last in one write: one read, so all but the first wait in the backlog.
    const chunks = Array.from({ length: 10 }, (_, i) => `3e8\r\n${String(i).repeat(1000)}\r\n`).join('')
    socket.write(responseHead('200 OK', [['transfer-encoding', 'chunked']]) + chunks + '0\r\n\r\n')
  })
  const c = await client(t, { connect: 5000, headers: 1000, idle: 1000 })
  const at = (path: string): URL => new URL(`https://${upstream.host}${path}`)
  let open = (): void => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  const a = await c.get(at('/a'), {})
  const readingA = readAll(a, async (n) => { await (n === 0 ? gate : new Promise((resolve) => setTimeout(resolve, 1))) })
  // /a is complete (its backlog still unread): /b takes the connection, and gives it back.
  t.equal((await readAll(await c.get(at('/b'), {}))).body.toString(), 'answer /b')
  open()
  t.equal((await readingA).body.length, 10_000, '/a: every byte, from the backlog')
  t.equal((await readAll(await c.get(at('/c'), {}))).body.toString(), 'answer /c', 'the connection /a gave up still reads for /c')
  t.equal(upstream.connections, 1, 'all three on one connection')
})

t.test('a callback that fails after the body ended as a stream still rejects each()', async (t) => {
  const upstream = await raw(t, (socket) => {
    const chunks = Array.from({ length: 3 }, (_, i) => `3e8\r\n${String(i).repeat(1000)}\r\n`).join('')
    socket.write(responseHead('200 OK', [['transfer-encoding', 'chunked']]) + chunks + '0\r\n\r\n')
  })
  const c = await client(t)
  const res = await c.get(new URL(`https://${upstream.host}/x`), {})
  // The whole body arrives, as a stream, before each(): each() then reads it out and the stream
  // ends (and is destroyed) while the callback still waits on its first piece.
  await new Promise((resolve) => setTimeout(resolve, 100))
  const failure = new Error('the disk refused the piece')
  const reading = res.body.each(async () => {
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.ok(res.body.destroyed, 'the stream ended and was destroyed meanwhile')
    throw failure
  })
  const outcome = await Promise.race([reading.then(() => 'resolved', (err: unknown) => err), new Promise((resolve) => setTimeout(() => { resolve('still pending after 3 s') }, 3000))])
  t.equal(outcome, failure, 'rejected with the callback\'s error')
})

t.test('a first piece read as a stream, the rest with each(): nothing lost, nothing twice', async (t) => {
  const upstream = await raw(t, (socket) => { sendWithLength(socket, BIG) })
  const c = await client(t)
  const res = await c.get(new URL(`https://${upstream.host}/big.bin`), {})
  await once(res.body, 'readable')
  const first = res.body.read() as Buffer
  const rest = await readAll(res)
  t.equal(sha256(Buffer.concat([first, rest.body])), sha256(BIG), 'exact bytes')

  const plain = await c.get(new URL(`https://${upstream.host}/big.bin`), {})
  const pieces: Buffer[] = []
  for await (const piece of plain.body) pieces.push(piece as Buffer)
  t.equal(sha256(Buffer.concat(pieces)), sha256(BIG), 'read as a stream alone: exact bytes')
})

t.test('a body cut short is an error, never a clean end', async (t) => {
  const upstream = await raw(t, (socket, req) => {
    if (req.path === '/length') {
      sendCutShort(socket)
    } else {
      socket.write(responseHead('200 OK', [['transfer-encoding', 'chunked']]) + '10\r\n0123456789abcdef\r\n', () => { socket.end() })
    }
  })
  const c = await client(t)
  for (const path of ['/length', '/chunked']) {
    const url = new URL(`https://${upstream.host}${path}`)
    const err = await rejection(readAll(await c.get(url, {})))
    t.match(err, { code: 'ECONNRESET' }, `${path}: rejected`)
    t.equal(mapUpstreamError(err, url).code, 'DSM_UPSTREAM_CONNECT', `${path}: DSM_UPSTREAM_CONNECT`)
  }
})

t.test('a head or a body that does not come in time is DSM_UPSTREAM_TIMEOUT', async (t) => {
  const upstream = await raw(t, (socket, req) => {
    if (req.path === '/stall-body') socket.write(responseHead('200 OK', [['content-length', '100']]) + 'only part')
    // '/stall-head': never answers.
  })
  const c = await client(t, { connect: 5000, headers: 200, idle: 200 })
  const head = new URL(`https://${upstream.host}/stall-head`)
  const headErr = await rejection(c.get(head, {}))
  t.match(headErr, { code: 'ETIMEDOUT', message: /no response head within 200 ms/ })
  t.equal(mapUpstreamError(headErr, head).code, 'DSM_UPSTREAM_TIMEOUT')
  const body = new URL(`https://${upstream.host}/stall-body`)
  const bodyErr = await rejection(readAll(await c.get(body, {})))
  t.match(bodyErr, { code: 'ETIMEDOUT', message: /no body bytes for 200 ms/ })
  t.equal(mapUpstreamError(bodyErr, body).code, 'DSM_UPSTREAM_TIMEOUT')
})

t.test('a kept-alive connection the upstream dropped is retried once on a new one; a new one is not', async (t) => {
  let dropNext = true
  const upstream = await raw(t, (socket, req, index) => {
    if (req.path === '/always-drop') {
      socket.destroy()
      return
    }
    // The second request on the first connection finds it gone, as when an idle timeout races it.
    if (index === 1 && dropNext) {
      dropNext = false
      socket.destroy()
      return
    }
    sendWithLength(socket, Buffer.from(`answer ${index}`))
  })
  const c = await client(t)
  const url = new URL(`https://${upstream.host}/x`)
  t.equal((await readAll(await c.get(url, {}))).body.toString(), 'answer 0')
  t.equal((await readAll(await c.get(url, {}))).body.toString(), 'answer 2', 'the dropped request was sent again on a new connection')
  t.equal(upstream.connections, 2)
  const drop = new URL(`https://${upstream.host}/always-drop`)
  const err = await rejection(c.get(drop, {}))
  t.equal(mapUpstreamError(err, drop).code, 'DSM_UPSTREAM_CONNECT', 'a new connection closing before an answer fails the request')
})

t.test('an abort mid-body rejects with its reason and drops the connection', async (t) => {
  const upstream = await raw(t, (socket) => { socket.write(responseHead('200 OK', [['content-length', '1000']]) + 'part') })
  const c = await client(t)
  const controller = new AbortController()
  const res = await c.get(new URL(`https://${upstream.host}/x`), {}, controller.signal)
  const reason = new Error('cancelled by the test')
  const reading = readAll(res)
  controller.abort(reason)
  t.equal(await rejection(reading), reason)
})

t.test('TLS is verified: another CA, a wrong name and an invalid request header are refused', async (t) => {
  const pki = await getTestPki()
  const c = await client(t)
  for (const [what, leaf] of [['a leaf from a CA not in the bundle', pki.otherLeaf], ['a leaf for another name', pki.wrongNameLeaf]] as const) {
    const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => { s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n') })
    server.on('tlsClientError', () => {})
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.teardown(() => { server.close() })
    const url = new URL(`https://127.0.0.1:${(server.address() as { port: number }).port}/x`)
    const err = await rejection(c.get(url, {}))
    t.equal(mapUpstreamError(err, url).code, 'DSM_UPSTREAM_TLS', `${what}: DSM_UPSTREAM_TLS`)
  }
  await t.rejects(c.get(new URL('https://127.0.0.1:1/x'), { 'x-bad': 'a\r\nInjected: 1' }), /invalid request header/, 'a header value with CRLF is never sent')
})

t.test('an http:// origin: TCP read the same way, kept alive, a short body an error', async (t) => {
  const upstream = await raw(t, (socket, req) => {
    if (req.path === '/short') {
      sendCutShort(socket)
    } else {
      sendWithLength(socket, BIG)
    }
  }, { plain: true })
  const c = await client(t)
  const url = new URL(`http://${upstream.host}/big.bin`)
  for (const round of [1, 2]) {
    const res = await c.get(url, {})
    // TCP hands the head and the first body bytes over in one read: those are kept (copied) until
    // each() is called; everything after lands in the read buffer.
    const memory: ArrayBufferLike[] = []
    const pieces: Buffer[] = []
    await res.body.each((view) => { memory.push(view.buffer); pieces.push(Buffer.from(view)) })
    t.equal(sha256(Buffer.concat(pieces)), sha256(BIG), `round ${round}: exact bytes`)
    t.equal(new Set(memory.slice(1)).size, 1, `round ${round}: every view after the first in the connection's one read buffer`)
  }
  t.equal(upstream.connections, 1, 'the second GET reused the connection')
  t.equal(upstream.requests[0]?.headers.host, upstream.host, 'Host names the origin')
  const short = new URL(`http://${upstream.host}/short`)
  const err = await rejection(readAll(await c.get(short, {})))
  t.equal(mapUpstreamError(err, short).code, 'DSM_UPSTREAM_CONNECT', 'cut short: rejected, never a clean end')
  await t.rejects(c.get(new URL('ftp://127.0.0.1/x'), {}), TypeError, 'other schemes are refused')
})

t.test('Upstream uses this client only for cold-path GETs to origins it reaches directly', async (t) => {
  const pki = await getTestPki()
  const upstream = await raw(t, (socket) => { sendWithLength(socket, Buffer.from('hello')) })
  const seen: unknown[] = []
  const onConnected = (message: unknown): void => { seen.push(message) }
  diagnostics.subscribe('dsmirror:cold-path:connected', onConnected)
  t.teardown(() => { diagnostics.unsubscribe('dsmirror:cold-path:connected', onConnected) })
  const options = { ca: [pki.rootCa.certPem], env: {}, timeouts: TIMEOUTS, maxRedirects: 3, isAllowed: () => true }
  const direct = new Upstream({ ...options, proxy: 'none' })
  t.teardown(() => direct.close())
  const url = new URL(`https://${upstream.host}/x`)
  const plain = await direct.request(url, { method: 'GET', headers: {} })
  plain.body.resume()
  t.equal(seen.length, 0, 'a GET that is not the cold path goes through undici')
  const cold = await direct.request(url, { method: 'GET', headers: {}, coldPath: true })
  t.equal((await readAll({ status: cold.status, headers: {}, body: cold.body as H1Response['body'] })).body.toString(), 'hello')
  t.equal(seen.length, 1, 'the cold path connects with its own client')

  const plainUpstream = await raw(t, (socket) => { sendWithLength(socket, Buffer.from('plain')) }, { plain: true })
  const httpUrl = new URL(`http://${plainUpstream.host}/x`)
  const overHttp = await direct.request(httpUrl, { method: 'GET', headers: {}, coldPath: true })
  t.equal((await readAll({ status: overHttp.status, headers: {}, body: overHttp.body as H1Response['body'] })).body.toString(), 'plain')
  t.equal(seen.length, 2, 'an http:// origin too')
  t.notOk((seen[1] as { socket: unknown }).socket instanceof TLSSocket, 'over TCP, no TLS')
  const viaHttpProxy = new Upstream({ ...options, proxy: 'env', env: { HTTP_PROXY: 'http://127.0.0.1:1' } })
  t.teardown(() => viaHttpProxy.close())
  await t.rejects(viaHttpProxy.request(httpUrl, { method: 'GET', headers: {}, coldPath: true }), { code: 'DSM_UPSTREAM_CONNECT' }, 'HTTP_PROXY set: undici, which reaches the (absent) proxy')
  t.equal(seen.length, 2, 'and not the cold path client')

  const proxied = new Upstream({ ...options, proxy: 'env', env: { HTTPS_PROXY: 'http://127.0.0.1:1' } })
  t.teardown(() => proxied.close())
  await t.rejects(proxied.request(url, { method: 'GET', headers: {}, coldPath: true }), { code: 'DSM_UPSTREAM_CONNECT' }, 'through an egress proxy: undici, which reaches the (absent) proxy')
  t.equal(seen.length, 2, 'and not the cold path client')

  // NO_PROXY: undici goes direct, and so may the cold path (config/egress-proxy.ts, undici's rules).
  const bypassed = new Upstream({ ...options, proxy: 'env', env: { HTTPS_PROXY: 'http://127.0.0.1:1', NO_PROXY: '127.0.0.1' } })
  t.teardown(() => bypassed.close())
  const viaNoProxy = await bypassed.request(url, { method: 'GET', headers: {}, coldPath: true })
  t.equal((await readAll({ status: viaNoProxy.status, headers: {}, body: viaNoProxy.body as H1Response['body'] })).body.toString(), 'hello')
  t.equal(seen.length, 3, 'an origin NO_PROXY names: the cold path client')
  const notBypassed = new Upstream({ ...options, proxy: 'env', env: { HTTPS_PROXY: 'http://127.0.0.1:1', NO_PROXY: `127.0.0.1:${upstream.port + 1}` } })
  t.teardown(() => notBypassed.close())
  await t.rejects(notBypassed.request(url, { method: 'GET', headers: {}, coldPath: true }), { code: 'DSM_UPSTREAM_CONNECT' }, 'NO_PROXY names another port: the proxy')
  t.equal(seen.length, 3)
})
