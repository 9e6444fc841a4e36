// A client of dsmirror's forward-proxy mode, written at the socket level so a test sees exactly
// what the proxy answered: the CONNECT response (status, headers, body), then a TLS handshake
// inside the tunnel with the settings under test (CA, SNI, ALPN), then HTTP/1.1 over it. Every
// handshake verifies the proxy's leaf against the CA given (never rejectUnauthorized: false).
import { connect, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import tls, { type TLSSocket } from 'node:tls'
import type { Test } from 'tap'

export interface ConnectAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** The socket, open after a 200 (closed by the server otherwise). */
  socket: Socket
}

/** Sends `CONNECT authority` (plus `headers`, and `early` bytes right behind it) and reads the answer head. */
export async function sendConnect (t: Test, port: number, authority: string, opts: { headers?: string[], early?: Buffer, timeoutMs?: number } = {}): Promise<ConnectAnswer> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const head = [`CONNECT ${authority} HTTP/1.1`, `host: ${authority}`, ...(opts.headers ?? [])].join('\r\n') + '\r\n\r\n'
  socket.write(opts.early === undefined ? head : Buffer.concat([Buffer.from(head), opts.early]))
  let buffered = Buffer.alloc(0)
  const raw = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no CONNECT answer within ${opts.timeoutMs ?? 5000} ms`)) }, opts.timeoutMs ?? 5000)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const text = buffered.toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = Number(/content-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0)
      if (buffered.length < end + 4 + length) return
      cleanup()
      resolve(text.slice(0, end + 4 + length))
    }
    const onClose = (): void => { cleanup(); resolve(buffered.toString('latin1')) }
    const cleanup = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
    }
    socket.on('data', onData)
    socket.once('close', onClose)
  })
  const [headText = '', body = ''] = raw.split('\r\n\r\n')
  const [statusLine = '', ...lines] = headText.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const at = line.indexOf(':')
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, socket }
}

/** TLS inside an open tunnel; resolves once the handshake is done, rejects with Node's error. */
export async function tlsInTunnel (socket: Socket, opts: { ca: string, servername?: string, ALPNProtocols?: string[], host: string }): Promise<TLSSocket> {
  return await new Promise<TLSSocket>((resolve, reject) => {
    const secure = tls.connect({
      socket,
      ca: opts.ca,
      ...(opts.servername === undefined ? {} : { servername: opts.servername }),
      ...(opts.ALPNProtocols === undefined ? {} : { ALPNProtocols: opts.ALPNProtocols }),
      // The name the client means is the CONNECT host, whatever SNI it sent.
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(opts.host, cert)
    }, () => {
      secure.off('error', reject)
      resolve(secure)
    })
    secure.once('error', reject)
  })
}

/** One HTTP/1.1 request on an established (TLS) socket; reads until the response's Content-Length is in. */
export async function httpOver (socket: TLSSocket, lines: string[], timeoutMs = 5000): Promise<{ status: number, headers: Record<string, string>, body: Buffer }> {
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  let buffered = Buffer.alloc(0)
  const { head, body } = await new Promise<{ head: string, body: Buffer }>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no response within ${timeoutMs} ms`)) }, timeoutMs)
    const done = (): boolean => {
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) return false
      const headText = buffered.subarray(0, end).toString('latin1')
      const length = Number(/content-length:\s*(\d+)/i.exec(headText)?.[1] ?? 0)
      if (buffered.length < end + 4 + length) return false
      cleanup()
      resolve({ head: headText, body: buffered.subarray(end + 4, end + 4 + length) })
      return true
    }
    const onData = (chunk: Buffer): void => { buffered = Buffer.concat([buffered, chunk]); done() }
    const onClose = (): void => { if (!done()) { cleanup(); reject(new Error(`closed after ${buffered.length} bytes`)) } }
    const cleanup = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
    }
    socket.on('data', onData)
    socket.once('close', onClose)
  })
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const at = line.indexOf(':')
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body }
}

/**
 * A client that sends its ClientHello right behind the CONNECT, before the 200 arrives (as some
 * clients do to save a round trip): the TLS client writes through a Duplex that forwards to the
 * raw socket at once and, on the way back, drops the CONNECT answer head. Resolves with the TLS
 * socket and the CONNECT status.
 */
export async function connectWithEarlyHello (t: Test, port: number, authority: string, opts: { ca: string, host: string }): Promise<{ status: number, secure: TLSSocket }> {
  const raw = connect({ host: '127.0.0.1', port })
  raw.on('error', () => {})
  t.teardown(() => { raw.destroy() })
  await new Promise<void>((resolve, reject) => { raw.once('connect', resolve); raw.once('error', reject) })
  raw.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`)
  let status = 0
  let pending: Buffer | null = Buffer.alloc(0)
  const pipe = new Duplex({
    read () {},
    write (chunk: Buffer, _encoding, callback) { raw.write(chunk, callback) },
    final (callback) { raw.end(); callback() },
    destroy (err, callback) { raw.destroy(); callback(err) }
  })
  raw.on('data', (chunk: Buffer) => {
    if (pending === null) { pipe.push(chunk); return }
    pending = Buffer.concat([pending, chunk])
    const end = pending.indexOf('\r\n\r\n')
    if (end === -1) return
    status = Number(pending.subarray(0, end).toString('latin1').split(' ')[1] ?? 0)
    const rest = pending.subarray(end + 4)
    pending = null
    if (rest.length > 0) pipe.push(rest)
  })
  raw.once('close', () => { pipe.push(null) })
  const secure = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: pipe as unknown as Socket, ca: opts.ca, servername: opts.host, checkServerIdentity: (_name, cert) => tls.checkServerIdentity(opts.host, cert) }, () => { s.off('error', reject); resolve(s) })
    s.once('error', reject)
  })
  return { status, secure }
}
