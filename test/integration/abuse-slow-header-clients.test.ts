// Slow-header clients (slowloris) get 408 DSM_CLIENT_TIMEOUT after listen.headersTimeout and are
// disconnected, on the HTTP and the HTTPS listener, however steadily they dribble bytes: the
// timeout runs from the start of the request head, not from the last byte. Meanwhile other
// clients are served. headersTimeout is 300 ms here; the default is 20 s (config unit test).
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { readServedCaPem } from '../../certs/serving-tls.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const HEADERS_TIMEOUT_MS = 300
/** Generous for a loaded CI machine, and still far below Node's own 60 s default. */
const DEADLINE_MS = 3000
const DRIBBLE_EVERY_MS = 50

interface SlowResult { status: number, body: string, ms: number, closed: boolean }

/** Sends `head`, then one more header byte every 50 ms until the server answers or closes. */
async function slowClient (socket: Duplex, head: string): Promise<SlowResult> {
  const started = Date.now()
  let data = ''
  socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1') })
  socket.on('error', () => {})
  socket.write(head)
  const dribble = setInterval(() => { if (socket.writable) socket.write('a') }, DRIBBLE_EVERY_MS)
  const deadline = setTimeout(() => { socket.destroy() }, DEADLINE_MS)
  await once(socket, 'close')
  clearInterval(dribble)
  clearTimeout(deadline)
  const [statusLine = ''] = data.split('\r\n')
  return { status: Number(statusLine.split(' ')[1] ?? 0), body: data.slice(data.indexOf('\r\n\r\n') + 4), ms: Date.now() - started, closed: Date.now() - started < DEADLINE_MS }
}

async function plainSocket (port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  return socket
}

t.test('slow request heads are cut off with 408 on both listeners; other clients are served', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/ok.bin', { body: Buffer.from('fine') })
  const proxy = await startProxy({ allowHosts: [upstream.host], https: true, config: { listen: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms` } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)
  const httpsPort = Number(new URL(proxy.httpsOrigin ?? '').port)
  const ca = await readServedCaPem(proxy.config)
  const head = `GET /${upstream.host}/ok.bin HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: `

  const check = (name: string, res: SlowResult): void => {
    t.equal(res.status, 408, `${name}: 408`)
    t.match(res.body, '"code":"DSM_CLIENT_TIMEOUT"', `${name}: DSM_CLIENT_TIMEOUT`)
    t.ok(res.closed, `${name}: the server closed the connection`)
    t.ok(res.ms >= HEADERS_TIMEOUT_MS - 50, `${name}: not before headersTimeout (${res.ms} ms)`)
  }

  // Twenty dribbling clients at once on the HTTP listener ...
  const dribblers = Array.from({ length: 20 }, async () => await slowClient(await plainSocket(port), head))
  // ... one that connects and never sends a byte ...
  const silent = (async () => {
    const socket = await plainSocket(port)
    const started = Date.now()
    const deadline = setTimeout(() => { socket.destroy() }, DEADLINE_MS)
    let data = ''
    socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1') })
    await once(socket, 'close')
    clearTimeout(deadline)
    return { data, ms: Date.now() - started }
  })()
  // ... and one over TLS on the HTTPS listener.
  const overTls = (async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: httpsPort, ca })
    await once(socket, 'secureConnect')
    return await slowClient(socket, head)
  })()

  // While they hang, a normal client is served at once.
  const normal = await rawRequest(port, [`GET /${upstream.host}/ok.bin HTTP/1.1`, 'host: 127.0.0.1'])
  t.equal(normal.status, 200, 'a normal request is served while slow clients hang')
  t.equal(normal.body, 'fine')

  const results = await Promise.all(dribblers)
  results.forEach((res, i) => { check(`dribbling client ${i + 1}`, res) })
  check('dribbling client over TLS', await overTls)
  const quiet = await silent
  t.ok(quiet.ms < DEADLINE_MS, `a client that sends nothing is disconnected too (${quiet.ms} ms)`)
  // headersTimeout runs from the connection's start when no request has begun (Node 20).
  t.match(quiet.data, /^HTTP\/1\.1 408 [^]*"code":"DSM_CLIENT_TIMEOUT"/, 'a silent client gets the same 408')
  t.equal(upstream.count('/ok.bin'), 1, 'no slow request reached the upstream')
  t.comment(`${results.length + 2} slow clients cut off`)
})

t.test('a headersTimeout longer than Node\'s default requestTimeout (300 s) still starts both listeners', async (t) => {
  const proxy = await startProxy({ https: true, config: { listen: { headersTimeout: '10m' } } })
  t.teardown(() => proxy.close({ remove: true }))
  t.equal(proxy.app.server.headersTimeout, 600_000)
  t.equal(proxy.https?.server.headersTimeout, 600_000)
})
