// DNS rebinding and cross-site requests against dsmirror's own pages (issue 12 item 5).
//
// A page in the developer's own browser is a loopback peer: after its name (rebind.evil.example)
// is re-pointed at 127.0.0.1, its script reads and changes what a loopback client may. What it
// cannot forge is the Host header, which is the name it used. So requests to the proxy's pages
// under /_/ must name this server:
//   - an IP literal: rebinding needs a name the attacker's DNS answers for; a page whose origin is
//     an IP is served by that address itself (and Kubernetes probes send Host: <podIP>:<port>);
//   - localhost and *.localhost: the client resolves them to loopback itself (RFC 6761 §6.3);
//   - a name of the server: tls.hostnames, admin.allowedHosts, a listen host given as a name, and
//     over HTTPS the DNS names of the certificate the connection was served (tls.mode files);
//   - any name, when the request carries the right admin.token: no page can send it unless it
//     already has it, so the token proves more than the Host would.
// /_/healthz, /_/ca.pem and /_/metrics stay open to any Host: orchestrators probe them by address
// or service name, and they tell nothing about what is cached (no URLs, no secrets).
//
// Changes (any method but GET and HEAD) must also come from the server's own origin when the
// client sends an Origin (browsers do, on every such request): a page elsewhere may not post to
// the admin API through the developer's browser (CSRF). Clients that send no Origin (curl, the
// CLI) are judged by the token-or-loopback rule of admin-api.ts alone.
import { isIP } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { DsmirrorConfig } from '../../config/schema.js'
import { authorizeAdmin } from './admin-api.js'
import { AdminHostNotAllowedError, AdminOriginError, type DsmError } from '../errors.js'

/** Pages under /_/ any Host may read: they say nothing about what is cached. */
const OPEN_ROUTES = new Set(['/_/healthz', '/_/ca.pem', '/_/metrics'])
const READ_METHODS = new Set(['GET', 'HEAD'])

export type AdminGuardConfig = Pick<DsmirrorConfig, 'admin' | 'tls' | 'listen'>

/** The names (lower case, `*.suffix` patterns kept) the config gives this server. */
export function configuredNames (config: AdminGuardConfig): string[] {
  const listenNames = [config.listen.http, config.listen.https].flatMap((l) => l === false || isIP(l.host) !== 0 ? [] : [l.host])
  return [...config.tls.hostnames, ...config.admin.allowedHosts, ...listenNames].map((n) => n.toLowerCase())
}

/** Whether `name` (lower case, no port) matches `pattern`: equal, or one label under a `*.suffix`, as in a certificate (RFC 6125 §6.4.3). */
function nameMatches (name: string, pattern: string): boolean {
  if (!pattern.startsWith('*.')) return name === pattern
  const dot = name.indexOf('.')
  return dot > 0 && name.slice(dot + 1) === pattern.slice(2)
}

/** The host name of a Host header without port, brackets or trailing dot; null when it is not one. */
export function hostOf (header: string): string | null {
  // Letters, digits, '-', '_' and dots, or a bracketed IPv6 literal: anything else names no server.
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9_.-]+))(?::\d{1,5})?$/i.exec(header.trim())
  const host = (match?.[1] ?? match?.[2])?.toLowerCase().replace(/\.$/, '')
  return host === undefined || host === '' ? null : host
}

/** The DNS names of the certificate this TLS connection was served, or none. */
function servedCertificateNames (request: FastifyRequest): string[] {
  const socket = request.raw.socket as Partial<TLSSocket>
  if (socket.encrypted !== true || typeof socket.getCertificate !== 'function') return []
  const cert = socket.getCertificate()
  const altNames = cert !== null && 'subjectaltname' in cert ? cert.subjectaltname ?? '' : ''
  return altNames.split(/,\s*/).flatMap((entry) => entry.startsWith('DNS:') ? [entry.slice(4).toLowerCase()] : [])
}

/** Whether the Host names this server (see the rules above). */
export function hostIsAllowed (host: string, names: readonly string[]): boolean {
  if (isIP(host) !== 0) return true
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  return names.some((pattern) => nameMatches(host, pattern))
}

/** Whether a request's route is one of the proxy's own guarded pages. */
function isGuarded (request: FastifyRequest): boolean {
  const route = request.routeOptions.url
  return route !== undefined && (route === '/_/' || route.startsWith('/_/')) && !OPEN_ROUTES.has(route)
}

/** Null when the request may go on, else the error to answer with (403). */
export function checkAdminRequest (request: FastifyRequest, config: AdminGuardConfig, names: readonly string[]): DsmError | null {
  if (!isGuarded(request)) return null
  const hostHeader = request.headers.host
  const host = hostHeader === undefined ? null : hostOf(hostHeader)
  const tokenGiven = config.admin.token !== null &&
    authorizeAdmin({ token: config.admin.token, authorization: request.headers.authorization, loopback: false, what: '' }) === null
  // A request without Host is not from a browser (every browser sends one): nothing to rebind.
  if (hostHeader !== undefined && !tokenGiven) {
    if (host === null || !hostIsAllowed(host, [...names, ...servedCertificateNames(request)])) {
      return new AdminHostNotAllowedError(hostHeader, request.method, request.url)
    }
  }
  const origin = request.headers.origin
  if (READ_METHODS.has(request.method) || origin === undefined) return null
  const scheme = (request.raw.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http'
  if (hostHeader !== undefined && sameOrigin(origin, `${scheme}://${hostHeader.trim()}`)) return null
  return new AdminOriginError(origin, request.method, request.url)
}

/** Origins compared as URLs (scheme and host case, default ports); `null` and garbage never match. */
function sameOrigin (a: string, b: string): boolean {
  if (!URL.canParse(a) || !URL.canParse(b)) return false
  const origin = new URL(a).origin
  return origin !== 'null' && origin === new URL(b).origin
}
