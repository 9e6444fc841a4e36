// The HTTPS listener (listen.https) beside Fastify's own HTTP server. A Fastify instance owns one
// server, so this one hands its requests to the same app with `app.routing` (Fastify's documented
// way to serve extra servers): same routes, hooks and error handler on both listeners.
//
// TLS 1.2 at least, Node's default cipher list (no RC4, DES, 3DES, export or anonymous suites).
// A renewed leaf or reloaded files take effect through setSecureContext: new handshakes get the
// new certificate, connections already open keep going undisturbed.
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { SecureContextOptions } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { DsmirrorConfig } from '../../config/schema.js'
import { createServingTls, type ServedPair, type ServingTls, type ServingTlsOptions } from '../../certs/serving-tls.js'
import { recordListenerUrl } from './listener-urls.js'
import { connectionsCheckingInterval } from './client-errors.js'

export const TLS_MIN_VERSION = 'TLSv1.2'

export interface HttpsListenerDeps extends Pick<ServingTlsOptions, 'now' | 'minLeafLifetimeMs' | 'reloadDebounceMs'> {
  logger: Logger
}

export interface HttpsListener {
  /** https://<address>:<port> */
  url: string
  server: https.Server
  tls: ServingTls
  /** Stops accepting, lets open responses finish; also run from the app's onClose. */
  close: () => Promise<void>
}

/**
 * Starts the HTTPS listener for `app`, or returns null when listen.https is false or tls.mode is
 * off. Must be called before the app is listening (it adds close hooks, which Fastify allows only
 * until the app is ready). Rejects with the DSM_CERT_* error of an unusable certificate or key.
 */
export async function startHttpsListener (app: FastifyInstance, config: DsmirrorConfig, deps: HttpsListenerDeps): Promise<HttpsListener | null> {
  const address = config.listen.https
  if (address === false || config.tls.mode === 'off') return null
  const log = deps.logger.child({ module: 'https' })
  const tls = await createServingTls(config, { ...deps, log })
  if (tls === null) return null

  let closing = false
  let closed: Promise<void> | undefined
  const server = https.createServer({
    ...secureOptions(tls.current()),
    // The timeouts Fastify gave its own server, so both listeners behave alike.
    keepAliveTimeout: app.server.keepAliveTimeout,
    requestTimeout: app.server.requestTimeout,
    headersTimeout: config.listen.headersTimeout,
    connectionsCheckingInterval: connectionsCheckingInterval(config.listen.headersTimeout),
    // Node's header timer starts only once the handshake is done, and its handshake deadline is
    // 120 s by default: a connection that sends nothing, or dribbles its ClientHello, would hold a
    // socket that long (issue 12 item 9). handshakeTimeout is absolute, not reset by activity.
    handshakeTimeout: config.listen.headersTimeout
  }, (req, res) => {
    // A keep-alive connection that finishes a response after close() began would otherwise idle
    // until keepAliveTimeout; close it as soon as it is idle.
    res.once('close', () => {
      if (closing) setImmediate(() => { server.closeIdleConnections() })
    })
    app.routing(req, res)
  })
  server.setTimeout(app.server.timeout)
  // node:https re-emits every 'tlsClientError' as 'clientError' and destroys the socket only when
  // nobody listens. A socket whose handshake never finished cannot carry an HTTP answer (the
  // handler's reply would wait for a handshake that never comes, holding the socket: issue 12
  // item 9), so it is closed here; after the handshake, the same DSM-coded 400/408/431 as the
  // HTTP listener (server/http/client-errors.ts).
  const secured = new WeakSet<object>()
  server.on('secureConnection', (socket) => { secured.add(socket) })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (secured.has(socket)) app.dsmirror.clientErrorHandler(err, socket)
    else socket.destroy()
  })
  // Handshake failures (an old TLS version, a client that does not trust the CA) are the
  // client's problem; they are worth a debug line, not an error.
  server.on('tlsClientError', (err: Error, socket) => {
    log.debug({ code: (err as NodeJS.ErrnoException).code, reason: err.message, remote: socket.remoteAddress }, 'TLS handshake refused')
  })
  tls.on('change', (pair) => {
    server.setSecureContext(secureOptions(pair))
    log.info(tls.describe(), 'serving a new TLS certificate to new connections')
  })

  const close = async (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true
      tls.close()
      if (!server.listening) {
        resolve()
        return
      }
      server.close(() => { resolve() })
      server.closeIdleConnections()
    })
    await closed
  }
  try {
    // preClose: stop accepting while Fastify stops its own server; onClose: wait for open
    // responses, before app.ts's onClose closes the cache they read from.
    app.addHook('preClose', async () => { void close() })
    app.addHook('onClose', close)
    await app.ready()
  } catch (err: unknown) {
    tls.close()
    throw err
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: address.host, port: address.port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err: unknown) {
    tls.close()
    throw err
  }
  const { address: host, port } = server.address() as AddressInfo
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  recordListenerUrl(app, url)
  log.info({ url, ...tls.describe() }, 'HTTPS listener started')
  return { url, server, tls, close }
}

/** The whole option set every time: setSecureContext builds a context from what it is given. */
function secureOptions (pair: ServedPair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION }
}
