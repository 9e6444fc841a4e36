// A canary: a plain TCP listener on a loopback address that plays a forbidden target (a private
// server, a metadata service) and counts every connection it is offered, before any TLS or
// HTTP. An abuse test passes only when its canaries count 0 (127.0.0.2 is loopback too: Linux
// routes all of 127/8 to lo, so the canary is real and nothing leaves the machine).
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface Canary {
  host: string
  port: number
  /** host:port as it appears in a URL ([::1]:port for IPv6). */
  authority: string
  readonly connections: number
}

/** Listens on `host` (default 127.0.0.2) at `port` (default: any free one); closed at teardown. */
export async function startCanary (t: Test, opts: { host?: string, port?: number } = {}): Promise<Canary> {
  const host = opts.host ?? '127.0.0.2'
  let connections = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
    socket.destroy()
  })
  server.listen(opts.port ?? 0, host)
  await once(server, 'listening')
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('canary: no TCP address')
  return {
    host,
    port: address.port,
    authority: `${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    get connections () { return connections }
  }
}
