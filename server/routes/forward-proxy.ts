// The forward-proxy front door (issue 12; research/forward-proxy.md §1, §2, §4): `HTTPS_PROXY`
// alone makes unchanged programs cache through dsmirror.
//
//   CONNECT host:port   allowed (allowHosts, covered by the interception CA) → 200, then TLS with
//                       a leaf minted for host; the decrypted requests become mirror-form
//                       (`/<host>[:port]<path>`) in Fastify's rewriteUrl, so they run through the
//                       same routing, allowlist, cache, logging and metrics as `/<host>/<path>` and
//                       share its cache entries. In forwardProxy.tunnelHosts → a blind tunnel.
//                       Anything else → 403 DSM_HOST_NOT_ALLOWED, and nothing is connected.
//   GET http://host/p   absolute-form: rewritten to `/<host>/p`, fetched over https under the
//                       https key; over plain http only for forwardProxy.plainHttpHosts.
//
// Fastify's hooks do not run for CONNECT (Node emits 'connect', not 'request'), so auth, policy,
// logging and metrics of the CONNECT itself are done here. The decrypted socket is handed to
// Fastify's own *listening* server (`app.server.emit('connection')`): only a listening
// http.Server tracks connections, so headersTimeout, keep-alive and app.close() then cover
// tunnels too (a never-listening server left a slowloris open 8 s and stalled close 20 s).
import dns from 'node:dns'
import { connect as netConnect, isIP, type LookupFunction, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { LeafContexts } from '../../certs/leaf-contexts.js'
import { isInterceptable } from '../../certs/interception-ca.js'
import { renderCacheStatus } from '../cache/cache-status.js'
import { BadPathError, type DsmError, HostNotAllowedError, isDsmError, ProxyAuthRequiredError, ProxyMisdirectedError, ProxyTunnelFailedError } from '../errors.js'
import { AddressPolicy } from '../upstream/address-policy.js'
import { type Allowlist, canonicalHost } from '../upstream/allowlist.js'
import { guardLookup } from '../upstream/upstream.js'

/** RFC 7235 §4.1 / RFC 7617 §2.1: the challenge a 407 carries. */
export const PROXY_AUTHENTICATE = 'Basic realm="dsmirror", charset="UTF-8"'
/** A CONNECT whose leaf or tunnel is not ready by then is refused; minting takes ~7 ms. */
const CONNECT_SETUP_TIMEOUT_MS = 10_000

export type ConnectResult = 'intercepted' | 'tunnelled' | 'refused' | 'auth'

/** Why a client's TLS handshake inside a tunnel failed, for metrics and the status page. */
export type TlsFailureReason = 'unknown CA' | 'SNI mismatch' | 'no common protocol' | 'TLS version' | 'other'

export interface Tunnel {
  host: string
  port: number
  id: number
}

export interface ForwardProxyObserver {
  countConnect?: (result: ConnectResult) => void
  tunnelOpened?: (kind: 'intercepted' | 'tunnelled') => void
  tunnelClosed?: (kind: 'intercepted' | 'tunnelled') => void
  countTlsFailure?: (reason: TlsFailureReason, host: string) => void
  /** Every refusal with a DSM code (metrics errors by code, /_/ recent errors). */
  refused?: (error: DsmError, target: string) => void
}

export interface ForwardProxyOptions {
  /** allowHosts and the mirrors' hosts: what may be intercepted (and fetched). */
  allowlist: Allowlist
  /** The interception CA's permitted subtrees (certs/interception-ca.ts). */
  permittedNames: readonly string[]
  leaves: LeafContexts
  tunnelAllowlist: Allowlist
  plainHttpAllowlist: Allowlist
  /** forwardProxy.auth users (null: none). */
  users: Readonly<Record<string, string>> | null
  /** The upstream address policy: blind tunnels are held to it as every upstream connection is. */
  allowAddresses: readonly string[]
  lookup?: LookupFunction
  connectTimeoutMs: number
  /**
   * The Hugging Face mode (issue 12 item 4): a tunnel to the host of huggingface.endpoint gets
   * the Hub front door (`/<path>` → `/<mount>/<path>`), not the generic mirror route, so resolve
   * answers carry the bytes (no signed CDN URL, a new cache key each time) and Xet is stripped.
   * Null when huggingface.mount is false.
   */
  hub?: { host: string, port: number, mount: string } | null
  log: Logger
  observer?: ForwardProxyObserver
}

/** The forwarded scheme of an absolute-form request (`GET http://...`), by raw request. */
type ForwardScheme = 'https' | 'http'

export class ForwardProxy {
  readonly #opts: ForwardProxyOptions
  /** Decrypted tunnel sockets → their CONNECT target (rewriteUrl and the Host check read it). */
  readonly #tunnels = new WeakMap<object, Tunnel>()
  readonly #forwarded = new WeakMap<IncomingMessage, ForwardScheme>()
  /** Tunnel sockets whose TLS handshake completed. */
  readonly #secured = new WeakSet<object>()
  /** Tunnel sockets whose handshake failure was already counted. */
  readonly #failed = new WeakSet<object>()
  /** Blind tunnels: not HTTP connections, so app.close() must end them itself. */
  readonly #spliced = new Set<Socket>()
  readonly #credentials: Buffer[]
  readonly #lookup: LookupFunction
  #ids = 0

  constructor (opts: ForwardProxyOptions) {
    this.#opts = opts
    // Compared as SHA-256 digests, so timingSafeEqual gets equal lengths and the time taken says
    // nothing about the length or prefix of a password.
    this.#credentials = Object.entries(opts.users ?? {}).map(([user, password]) => digest(`Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`))
    this.#lookup = guardLookup(opts.lookup ?? (dns.lookup as LookupFunction), new AddressPolicy(opts.allowAddresses))
  }

  /**
   * Fastify's rewriteUrl: tunnel requests and absolute-form `http://` requests become mirror-form.
   * Anything else is left as is (absolute-form `https://`, authority-form, `*` are then refused
   * by routes/mirror.ts refuseProxyForms).
   */
  readonly rewriteUrl = (req: IncomingMessage): string => {
    const url = req.url ?? '/'
    const tunnel = this.#tunnels.get(req.socket)
    if (tunnel !== undefined) {
      if (!url.startsWith('/')) return url
      if (this.#isHub(tunnel)) return `/${this.#opts.hub?.mount ?? ''}${url}`
      return `/${authorityOf(tunnel)}${url}`
    }
    // RFC 9112 §3.2.2: the target's authority names the origin, whatever Host says.
    const abs = /^http:\/\/([^/?#]*)(.*)$/i.exec(url)
    if (abs === null) return url
    const authority = abs[1] ?? ''
    const rest = abs[2] ?? ''
    const target = canonicalHost(authority)
    // userinfo, %-encoding and other spellings: left in place for mirror-target to refuse.
    if (target === null) return `/${authority}${rest}`
    const path = rest.startsWith('/') ? rest : `/${rest}`
    const explicitPort = /:(\d+)$/.exec(authority)?.[1]
    const port = explicitPort === undefined || explicitPort === '80' ? null : Number(explicitPort)
    // plainHttpHosts: a portless entry is the host's default http port, `host:port` that port.
    if (this.#opts.plainHttpAllowlist.allows(target.hostname, port ?? 443)) {
      this.#forwarded.set(req, 'http')
      return `/${target.hostname}${port === null ? '' : `:${port}`}${path}`
    }
    // Upgraded: `http://host/p` is fetched as `https://host/p` (the mirror form's URL and key).
    // Another explicit port than 80 has no https counterpart to upgrade to: left for refusal.
    if (port !== null) return url
    this.#forwarded.set(req, 'https')
    return `/${target.hostname}${path}`
  }

  /** The scheme an absolute-form request is fetched with, or null for any other request. */
  forwardScheme (req: IncomingMessage): ForwardScheme | null {
    return this.#forwarded.get(req) ?? null
  }

  /** The tunnel a request arrived through, or undefined for requests on the listener itself. */
  tunnelOf (req: IncomingMessage): Tunnel | undefined {
    return this.#tunnels.get(req.socket)
  }

  /**
   * Whether a request came through a tunnel to the Hub endpoint's host: the Hub mode then answers
   * with the Hub's own paths (redirects, Link), as the client sees `https://<hub>/<path>`.
   */
  isHubTunnel (req: IncomingMessage): boolean {
    const tunnel = this.#tunnels.get(req.socket)
    return tunnel !== undefined && this.#isHub(tunnel)
  }

  #isHub (tunnel: Tunnel): boolean {
    const hub = this.#opts.hub
    return hub !== undefined && hub !== null && tunnel.host === hub.host && tunnel.port === hub.port
  }

  /** Wires the proxy into an app built with `rewriteUrl`: CONNECT, Host and auth checks, shutdown. */
  attach (app: FastifyInstance): void {
    app.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => { void this.#onConnect(app, req, socket, head) })
    app.addHook('onRequest', async (request) => {
      const tunnel = this.#tunnels.get(request.raw.socket)
      if (tunnel !== undefined) {
        // The upstream is the CONNECT authority, never a Host header naming another host.
        const named = canonicalHost(request.headers.host ?? '')
        if (named === null || named.hostname !== tunnel.host || named.port !== tunnel.port) {
          throw new ProxyMisdirectedError(authorityOf(tunnel), request.headers.host ?? '(none)')
        }
        return
      }
      if (this.#forwarded.has(request.raw) && !this.#authorized(request.headers['proxy-authorization'])) {
        throw new ProxyAuthRequiredError(request.headers['proxy-authorization'] === undefined ? 'no Proxy-Authorization header' : 'wrong credentials')
      }
    })
    app.addHook('onSend', async (request, reply) => {
      if (reply.statusCode === 407 && this.#forwarded.has(request.raw)) void reply.header('proxy-authenticate', PROXY_AUTHENTICATE)
    })
    app.addHook('preClose', async () => {
      for (const socket of this.#spliced) socket.destroy()
    })
  }

  #authorized (header: string | undefined): boolean {
    if (this.#credentials.length === 0) return true
    if (header === undefined) return false
    const given = digest(header.trim().replace(/^basic\s+/i, 'Basic '))
    let match = false
    // Every entry is compared, so the time does not tell which user matched.
    for (const expected of this.#credentials) match = timingSafeEqual(given, expected) || match
    return match
  }

  async #onConnect (app: FastifyInstance, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Nothing else listens on the raw socket until it is wrapped; a reset must not crash the process.
    socket.on('error', () => {})
    const authority = req.url ?? ''
    const log = this.#opts.log
    if (!this.#authorized(req.headers['proxy-authorization'])) {
      this.#refuse(socket, new ProxyAuthRequiredError(req.headers['proxy-authorization'] === undefined ? 'no Proxy-Authorization header' : 'wrong credentials'), authority, 'auth')
      return
    }
    let target: { hostname: string, port: number }
    try {
      target = parseConnectTarget(authority)
    } catch (err: unknown) {
      this.#refuse(socket, err as DsmError, authority, 'refused')
      return
    }
    const { hostname, port } = target
    try {
      if (this.#opts.allowlist.allows(hostname, port) && isInterceptable(hostname, this.#opts.permittedNames)) {
        await this.#intercept(app, socket, head, { host: hostname, port, id: ++this.#ids })
        this.#opts.observer?.countConnect?.('intercepted')
        log.info({ connect: authority, result: 'intercepted' }, 'CONNECT')
      } else if (this.#opts.tunnelAllowlist.allows(hostname, port) && isIP(hostname.replace(/^\[|\]$/g, '')) === 0) {
        await this.#splice(socket, head, hostname, port)
        this.#opts.observer?.countConnect?.('tunnelled')
        log.info({ connect: authority, result: 'tunnelled' }, 'CONNECT')
      } else {
        this.#refuse(socket, new HostNotAllowedError(authority), authority, 'refused')
      }
    } catch (err: unknown) {
      const error = isDsmError(err) ? err : new ProxyTunnelFailedError(authority, err instanceof Error ? err.message : String(err))
      this.#refuse(socket, error, authority, 'refused')
    }
  }

  async #intercept (app: FastifyInstance, socket: Duplex, head: Buffer, tunnel: Tunnel): Promise<void> {
    const leaf = await withTimeout(this.#opts.leaves.get(tunnel.host), CONNECT_SETUP_TIMEOUT_MS, 'minting the leaf')
    if (socket.destroyed) return
    // RFC 9110 §9.3.6: a 2xx to CONNECT has no Content-Length or Transfer-Encoding.
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    // A client may send its ClientHello right behind the CONNECT; Node hands those bytes over as
    // `head`, already read off the socket.
    if (head.length > 0) socket.unshift(head)
    const tlsSocket = new TLSSocket(socket as Socket, {
      isServer: true,
      secureContext: leaf.secureContext,
      // HTTP/1.1 only: Node's http server speaks it; h2+http/1.1 clients pick it.
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, callback) => {
        // The leaf is for the CONNECT authority; a client asking for another name is refused
        // rather than served a certificate it will reject anyway.
        if (servername.toLowerCase().replace(/\.$/, '') === tunnel.host) callback(null, leaf.secureContext)
        else callback(Object.assign(new Error(`SNI '${servername}' is not the CONNECT host '${tunnel.host}'`), { code: 'ERR_DSM_SNI_MISMATCH' }))
      }
    })
    this.#tunnels.set(tlsSocket, tunnel)
    // Server-side TLSSockets emit 'secure' when the handshake is done (what tls.Server listens to).
    tlsSocket.once('secure', () => { this.#secured.add(tlsSocket) })
    // Until a server-side TLSSocket's control is released, Node emits its handshake errors (a
    // client's "unknown CA" alert, the SNI refusal above) only as '_tlsError', which tls.Server
    // turns into 'tlsClientError' and a destroy (lib/_tls_wrap.js onSocketTLSError); a socket
    // wrapped without a tls.Server has nobody doing that, so the error would never surface and
    // the socket would wait for headersTimeout. Measured on Node 20.20: no 'error', no 'clientError'.
    tlsSocket.once('_tlsError', (err: NodeJS.ErrnoException) => { this.#handshakeFailed(tlsSocket, tunnel, err) })
    // With TLS 1.3 a client rejecting the leaf (alert 48, unknown CA) sends its alert in place of
    // its Finished, and Node 20 reports nothing on the server side: the socket just ends. A client
    // that sent a ClientHello, was sent the certificate and hung up before finishing the handshake
    // has refused it; almost always because it does not trust the interception CA.
    tlsSocket.once('close', () => {
      if (this.#secured.has(tlsSocket) || this.#failed.has(tlsSocket) || (socket as Socket).bytesRead === 0) return
      this.#handshakeFailed(tlsSocket, tunnel, Object.assign(new Error('the client ended the TLS handshake after receiving the certificate'), { code: 'ERR_DSM_CLIENT_ABORTED_HANDSHAKE' }))
    })
    this.#opts.observer?.tunnelOpened?.('intercepted')
    tlsSocket.once('close', () => { this.#opts.observer?.tunnelClosed?.('intercepted') })
    app.server.emit('connection', tlsSocket)
  }

  /**
   * A blind tunnel: connected through the same address guard as every upstream connection (the
   * name is resolved and checked, then the checked address is dialled), answered 200 only once
   * the upstream accepted, then bytes both ways; either side's end or error ends both (RFC 9110
   * §9.3.6).
   */
  async #splice (socket: Duplex, head: Buffer, host: string, port: number): Promise<void> {
    const upstream = netConnect({ host, port, lookup: this.#lookup, timeout: this.#opts.connectTimeoutMs })
    await new Promise<void>((resolve, reject) => {
      upstream.once('connect', () => { upstream.setTimeout(0); resolve() })
      upstream.once('timeout', () => { upstream.destroy(); reject(new ProxyTunnelFailedError(`${host}:${port}`, 'connect timed out')) })
      upstream.once('error', (err: NodeJS.ErrnoException) => {
        reject(isDsmError(err) ? err : new ProxyTunnelFailedError(`${host}:${port}`, err.code ?? err.message))
      })
    })
    upstream.on('error', () => {})
    if (socket.destroyed) {
      upstream.destroy()
      return
    }
    this.#spliced.add(upstream)
    this.#opts.observer?.tunnelOpened?.('tunnelled')
    upstream.once('close', () => {
      this.#spliced.delete(upstream)
      this.#opts.observer?.tunnelClosed?.('tunnelled')
      socket.destroy()
    })
    socket.once('close', () => { upstream.destroy() })
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) upstream.write(head)
    socket.pipe(upstream)
    upstream.pipe(socket)
  }

  #refuse (socket: Duplex, error: DsmError, authority: string, result: ConnectResult): void {
    this.#opts.observer?.countConnect?.(result)
    this.#opts.observer?.refused?.(error, authority)
    this.#opts.log.info({ connect: authority.slice(0, 300), result, code: error.code }, 'CONNECT refused')
    if (socket.destroyed || !socket.writable) {
      socket.destroy()
      return
    }
    const body = JSON.stringify({ statusCode: error.statusCode, code: error.code, error: error.message })
    const reason = { 400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 502: 'Bad Gateway' }[error.statusCode] ?? 'Error'
    const challenge = error.statusCode === 407 ? `proxy-authenticate: ${PROXY_AUTHENTICATE}\r\n` : ''
    socket.once('finish', () => { socket.destroy() })
    socket.end(`HTTP/1.1 ${error.statusCode} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-status: ${renderCacheStatus({ error: error.code })}\r\n${challenge}connection: close\r\n\r\n${body}`)
  }

  /**
   * 'clientError' of a decrypted tunnel socket: a failed TLS handshake (the client does not trust
   * the interception CA, asked for another name, offered only h2). Counted by reason; the socket
   * is destroyed, never answered with an HTTP 400 written into a half-done TLS session. Returns
   * false for sockets that are not tunnels (the listener's own handler answers those).
   */
  #handshakeFailed (socket: Duplex, tunnel: Tunnel, err: NodeJS.ErrnoException): void {
    if (this.#failed.has(socket)) return
    this.#failed.add(socket)
    const reason = tlsFailureReason(err)
    this.#opts.observer?.countTlsFailure?.(reason, tunnel.host)
    this.#opts.log.warn({ connect: authorityOf(tunnel), reason, err: err.code ?? err.message },
      reason === 'unknown CA'
        ? 'a client of the forward proxy does not trust the interception CA: run dsmirror trust install, or eval "$(dsmirror trust env --proxy)" in its shell'
        : 'TLS handshake inside a forward-proxy tunnel failed')
    if (!socket.destroyed) socket.destroy()
  }

  readonly handleTunnelError = (err: NodeJS.ErrnoException, socket: Duplex): boolean => {
    const tunnel = this.#tunnels.get(socket)
    if (tunnel === undefined) return false
    if (!this.#secured.has(socket) && isTlsHandshakeError(err)) {
      this.#handshakeFailed(socket, tunnel, err)
      return true
    }
    // Before the handshake there is no HTTP to answer in: the 408 of a client that never sent its
    // ClientHello would wait in the TLS layer forever, and the socket with it.
    if (!this.#secured.has(socket)) {
      socket.destroy()
      return true
    }
    return false
  }
}

function isTlsHandshakeError (err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? ''
  return code.startsWith('ERR_SSL_') || code === 'ERR_DSM_SNI_MISMATCH' || code === 'ECONNRESET' || /SSL|TLS/.test(err.message)
}

function tlsFailureReason (err: NodeJS.ErrnoException): TlsFailureReason {
  const code = err.code ?? ''
  if (/UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR|ERR_DSM_CLIENT_ABORTED_HANDSHAKE/.test(code)) return 'unknown CA'
  if (code === 'ERR_DSM_SNI_MISMATCH' || /CALLBACK_FAILED|SSL_HANDSHAKE_FAILURE.*SNI/.test(code)) return 'SNI mismatch'
  if (/NO_APPLICATION_PROTOCOL/.test(code)) return 'no common protocol'
  if (/VERSION|PROTOCOL_VERSION/.test(code)) return 'TLS version'
  return 'other'
}

/** `host:port` as a URL authority (IPv6 bracketed, 443 dropped): the mirror form's first segment. */
function authorityOf (tunnel: Tunnel): string {
  return tunnel.port === 443 ? tunnel.host : `${tunnel.host}:${tunnel.port}`
}

/**
 * A CONNECT request target: authority-form `host:port` only (RFC 9110 §9.3.6), the port
 * required; no userinfo, path or percent-encoding. IP literals are refused: the interception CA
 * excludes every address and no SNI names them.
 */
export function parseConnectTarget (authority: string): { hostname: string, port: number } {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(authority)) {
    throw new BadPathError(authority.slice(0, 200), 'a CONNECT target is host:port')
  }
  const target = canonicalHost(authority)
  if (target === null) throw new BadPathError(authority.slice(0, 200), 'a CONNECT target is host:port')
  if (target.hostname.startsWith('[') || isIP(target.hostname) !== 0) throw new HostNotAllowedError(authority)
  return target
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`${what} took more than ${ms} ms`)) }, ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}
