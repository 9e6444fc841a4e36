// A misbehaving HTTPS upstream written byte by byte: a node:tls server on 127.0.0.1:0 with the
// test leaf that reads each request head and hands the socket to a script, which writes whatever
// a broken or hostile server would (repeated fields, two Content-Lengths, 64 KiB of headers, a
// body at one byte a second). node:https cannot be made to send most of these, so this helper
// exists beside test/helpers/upstream.ts. Every socket is destroyed by close(), so a script that
// never ends its response still lets the test finish. `{ plain: true }` serves plain HTTP instead.
import net, { type Socket } from 'node:net'
import tls from 'node:tls'
import { getTestPki } from './pki.js'

export interface RawUpstreamRequest {
  /** 'GET /path HTTP/1.1' */
  line: string
  method: string
  path: string
  /** Header names lower-cased; a repeated field keeps its last value. */
  headers: Record<string, string>
}

/** Writes the response for `req` on `socket`; `index` counts requests over the server's life, from 0. */
export type RawScript = (socket: Socket, req: RawUpstreamRequest, index: number) => void | Promise<void>

export interface RawUpstream {
  /** 127.0.0.1:<port> */
  host: string
  port: number
  requests: RawUpstreamRequest[]
  /** Connections accepted (TLS: that completed the handshake). */
  readonly connections: number
  close: () => Promise<void>
}

const MAX_HEAD_BYTES = 64 * 1024

export async function startRawUpstream (script: RawScript, options: { plain?: boolean } = {}): Promise<RawUpstream> {
  const pki = await getTestPki()
  const sockets = new Set<Socket>()
  const requests: RawUpstreamRequest[] = []
  let connections = 0
  const server = options.plain === true ? net.createServer() : tls.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem })
  server.on('tlsClientError', () => {})
  server.on(options.plain === true ? 'connection' : 'secureConnection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) {
        if (buffered.length > MAX_HEAD_BYTES) socket.destroy()
        return
      }
      const head = buffered.subarray(0, end).toString('latin1')
      buffered = buffered.subarray(end + 4)
      const [line = '', ...fields] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const field of fields) {
        const at = field.indexOf(':')
        if (at > 0) headers[field.slice(0, at).trim().toLowerCase()] = field.slice(at + 1).trim()
      }
      const [method = '', path = ''] = line.split(' ')
      const req = { line, method, path, headers }
      requests.push(req)
      // One request at a time per connection: the script decides whether the socket lives on.
      socket.off('data', onData)
      Promise.resolve(script(socket, req, requests.length - 1)).then(() => {
        if (!socket.destroyed) socket.on('data', onData)
      }, () => { socket.destroy() })
    }
    socket.on('data', onData)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('raw upstream: no TCP address')
  return {
    host: `127.0.0.1:${address.port}`,
    port: address.port,
    requests,
    get connections () { return connections },
    close: async () => {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      for (const socket of sockets) socket.destroy()
      await closed
    }
  }
}

/** A response head: status line, the given field lines in order (names may repeat), blank line. */
export function responseHead (status: string, fields: Array<[string, string]>): string {
  return `HTTP/1.1 ${status}\r\n${fields.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`
}
