// Connections that never send a request are closed within listen.headersTimeout, on both
// listeners (issue 12 item 9): twenty silent TCP connections to the HTTP listener, twenty to the
// HTTPS listener that never start a TLS handshake, and one that dribbles a ClientHello a byte at
// a time and so never completes it. The HTTP listener answers 408 DSM_CLIENT_TIMEOUT (Node's
// header timer runs from the connection's start); the HTTPS listener cannot answer in HTTP before
// a handshake, so it closes the socket (node:tls handshakeTimeout, an absolute deadline).
// Meanwhile a normal client is served. headersTimeout is 300 ms here; the default is 20 s.
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'

const HEADERS_TIMEOUT_MS = 300
/** Generous for a loaded CI machine; the test stops itself here even when the server never closes. */
const DEADLINE_MS = 3000
const SILENT_CLIENTS = 20
const DRIBBLE_EVERY_MS = 50

interface Held { ms: number, closed: boolean, data: string }

async function plainSocket (port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  // A server that closes the socket may reset it; the close is what the test waits for.
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

/** Waits until the server closes `socket`, or DEADLINE_MS passes (then destroys it: closed false). */
async function heldFor (socket: Socket, dribble?: () => Buffer): Promise<Held> {
  const started = Date.now()
  let data = ''
  socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1') })
  const timer = dribble === undefined ? undefined : setInterval(() => { if (socket.writable) socket.write(dribble()) }, DRIBBLE_EVERY_MS)
  let expired = false
  const deadline = setTimeout(() => { expired = true; socket.destroy() }, DEADLINE_MS)
  // Not events.once: it rejects on 'error', and a server that closes a socket with unread bytes
  // resets it (Node 24 does, for the dribbled ClientHello); the close is what is waited for.
  await new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  clearInterval(timer)
  clearTimeout(deadline)
  return { ms: Date.now() - started, closed: !expired, data }
}

t.test('connections that send nothing, or never finish a TLS handshake, are closed on both listeners', async (t) => {
  const proxy = await startProxy({ https: true, config: { listen: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms` } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)
  const httpsPort = Number(new URL(proxy.httpsOrigin ?? '').port)

  const silentHttp = Array.from({ length: SILENT_CLIENTS }, async () => await heldFor(await plainSocket(port)))
  const silentHttps = Array.from({ length: SILENT_CLIENTS }, async () => await heldFor(await plainSocket(httpsPort)))
  // A TLS record header announcing a 4 KiB handshake message, then its bytes one by one.
  const dribbler = (async () => {
    const socket = await plainSocket(httpsPort)
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x10, 0x00, 0x01, 0x00, 0x0f, 0xfc, 0x03, 0x03]))
    return await heldFor(socket, () => Buffer.from([0x41]))
  })()

  const normal = await rawRequest(port, ['GET /_/healthz HTTP/1.1', 'host: 127.0.0.1'])
  t.equal(normal.status, 200, 'a normal request is served while silent clients hang')

  const check = (name: string, held: Held): void => {
    t.ok(held.closed, `${name}: closed by the server (${held.ms} ms)`)
    t.ok(held.ms >= HEADERS_TIMEOUT_MS - 50, `${name}: not before headersTimeout (${held.ms} ms)`)
  }
  for (const [i, held] of (await Promise.all(silentHttp)).entries()) {
    check(`silent HTTP client ${i + 1}`, held)
    t.match(held.data, /^HTTP\/1\.1 408 [^]*"code":"DSM_CLIENT_TIMEOUT"/, `silent HTTP client ${i + 1}: 408 DSM_CLIENT_TIMEOUT`)
  }
  for (const [i, held] of (await Promise.all(silentHttps)).entries()) {
    check(`silent HTTPS client ${i + 1} (no handshake)`, held)
  }
  check('HTTPS client dribbling its ClientHello', await dribbler)
})
