// A real CONNECT proxy on 127.0.0.1 for egress tests: it tunnels to 127.0.0.1 only (anything
// else gets 403, so no test can reach a real host through it even when the code under test is
// wrong), counts every CONNECT, and refuses all of them with `deny`.
import { once } from 'node:events'
import http from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface ConnectProxy {
  /** http://127.0.0.1:<port> */
  url: string
  /** The target (host:port) of every CONNECT received, tunnelled or not. */
  connects: string[]
  /** Plain (non-CONNECT) requests received: an https upstream must never produce one. */
  plainRequests: number
}

/**
 * Starts a CONNECT proxy that tunnels to 127.0.0.1 only (anything else: 403), or refuses all with
 * `deny`. `map` sends a named `host:port` (e.g. a hard-coded `sid.erda.dk:443`) to a port on
 * 127.0.0.1: how a test stands in for a real host's port 443 without binding it.
 */
export async function startConnectProxy (t: Test, opts: { deny?: boolean, map?: Record<string, number> } = {}): Promise<ConnectProxy> {
  const state: ConnectProxy = { url: '', connects: [], plainRequests: 0 }
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
  }
  const server = http.createServer((_req, res) => {
    state.plainRequests++
    res.writeHead(405, { 'content-type': 'text/plain' }).end('this proxy only tunnels\n')
  })
  server.on('connection', track)
  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    state.connects.push(target)
    const mapped = opts.map?.[target.toLowerCase()]
    const match = /^127\.0\.0\.1:(\d{1,5})$/.exec(target)
    if (opts.deny === true || (match === null && mapped === undefined)) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
      return
    }
    const upstream = connect({ host: '127.0.0.1', port: mapped ?? Number(match?.[1]) })
    track(upstream)
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.once('error', () => { client.destroy() })
    client.once('close', () => { upstream.destroy() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy: no TCP address')
  state.url = `http://127.0.0.1:${address.port}`
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return state
}
