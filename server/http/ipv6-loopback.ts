// Issue 17: a listener on loopback (the default 127.0.0.1) answers on ::1 too where IPv6 is up, so
// a client that resolves `localhost` to ::1 first (Node since 17, curl, Python) reaches it. A
// listening net.Server on [::1]:<same port> hands each accepted socket to the primary server's
// 'connection' event: that server's timeouts, TLS (a tls.Server starts its handshake there),
// connection tracking and closeIdleConnections cover it as any socket it accepted itself.
// Fastify's own `host: 'localhost'` would bind both, but only for the HTTP listener and with the
// address order of the resolver; this keeps both listeners alike and 127.0.0.1 first.
import net from 'node:net'
import tls from 'node:tls'
import type { Logger } from 'pino'

/** Errors that mean "no IPv6 loopback here": skipped quietly. */
const NO_IPV6 = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EINVAL'])

/**
 * Listens on [::1]:port for `primary` when `host` is 127.0.0.1; resolves to the companion server,
 * or null when the host is something else or IPv6 loopback is not available. A port already taken
 * on ::1 is a warning, not a failure: 127.0.0.1 works as configured.
 */
export async function listenOnIpv6Loopback (primary: net.Server, host: string, port: number, log: Logger, onListening: (url: string) => void = () => {}): Promise<net.Server | null> {
  if (host !== '127.0.0.1') return null
  const companion = net.createServer({ pauseOnConnect: false }, (socket) => { primary.emit('connection', socket) })
  try {
    await new Promise<void>((resolve, reject) => {
      companion.once('error', reject)
      companion.listen({ host: '::1', port, ipv6Only: true }, () => {
        companion.off('error', reject)
        resolve()
      })
    })
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (NO_IPV6.has(code)) log.debug({ code, port }, 'no IPv6 loopback: listening on 127.0.0.1 only')
    else log.warn({ code, port }, `[::1]:${port} could not be opened (${code}): listening on 127.0.0.1:${port} only; clients that resolve localhost to ::1 should use 127.0.0.1`)
    return null
  }
  companion.on('error', (err: Error) => { log.warn({ err }, 'the [::1] listener failed') })
  primary.once('close', () => { companion.close() })
  const url = `${primary instanceof tls.Server ? 'https' : 'http'}://[::1]:${port}`
  log.info({ url }, 'also listening on the IPv6 loopback')
  onListening(url)
  return companion
}
