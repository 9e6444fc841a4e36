// The upstream client: the only module that imports undici (docs/design.md "Layout"). It owns the
// dispatcher (managed CA, keep-alive, timeouts, egress proxy), follows redirects itself so every
// hop is allowlisted and verified with the same CA bundle, and maps every failure once to a
// DSM_UPSTREAM_* error with the cause kept (the @fastify/reply-from `lib/errors.js` pattern).
//
// SSRF: every direct connection resolves its host through a guarded `lookup` (below) that
// drops the addresses the AddressPolicy refuses, so the check is made on the very addresses the
// socket then connects to, for the first request and every redirect hop alike; a DNS answer
// that changes between a check and a connect (DNS rebinding) cannot slip through, because
// there is no second resolution. IP literals are never looked up: they reach this module only
// when the operator wrote them in allowHosts or a mirror URL, which is their choice to make.
// Through an egress proxy the proxy resolves names, so there the guard cannot apply.
import dns, { type LookupAddress, type LookupOptions } from 'node:dns'
import { maxHeaderSize } from 'node:http'
import type { LookupFunction } from 'node:net'
import type { Readable } from 'node:stream'
import { createSecureContext, type SecureContext } from 'node:tls'
import { Agent, EnvHttpProxyAgent, ProxyAgent, type Dispatcher } from 'undici'
import { envProxyFor, envValue } from '../../config/egress-proxy.js'
import { AddressPolicy } from './address-policy.js'
import { H1Client } from './h1-client.js'
import {
  type DsmError, isDsmError, UpstreamBadResponseError, UpstreamConnectError, UpstreamForbiddenAddressError, UpstreamRedirectError, UpstreamTimeoutError, UpstreamTlsError
} from '../errors.js'

export const KEEP_ALIVE_TIMEOUT_MS = 30_000
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

export interface UpstreamOptions {
  /** PEM certificates: the whole trust store (Node's `ca` replaces the built-in roots). */
  ca: readonly string[]
  /** 'env' (HTTPS_PROXY/HTTP_PROXY/NO_PROXY from `env`), 'none', or a proxy URL. */
  proxy: string
  env: Readonly<Record<string, string | undefined>>
  timeouts: { connect: number; headers: number; idle: number }
  maxRedirects: number
  /** Whether a redirect target may be fetched (allowlist + mirror hosts). */
  isAllowed: (url: URL) => boolean
  /** upstream.allowAddresses: non-public ranges that resolved names may still connect to. */
  allowAddresses?: readonly string[]
  /** Name resolution (default dns.lookup); tests inject a resolver that answers 127.x only. */
  lookup?: LookupFunction
}

export interface UpstreamRequest {
  /** POST: the Hugging Face mode's paths-info (a small form or JSON body, hf-protocol.md §1.7). */
  method: 'GET' | 'HEAD' | 'POST'
  headers: Record<string, string>
  body?: Buffer
  signal?: AbortSignal
  /**
   * 'manual' returns a 3xx as it is (its Location unfollowed): the Hugging Face mode reads the
   * Hub's first answer (X-Linked-Etag, X-Repo-Commit on the 302 to the CDN, hf-protocol.md §3).
   * Default 'follow'.
   */
  redirect?: 'follow' | 'manual'
  /**
   * The caller reads the body with eachChunk (download.ts) and copies each chunk before its
   * callback returns: a GET to an origin reached without an egress proxy (one NO_PROXY names
   * included) then goes through the cold path's own client (h1-client.ts, issue 14), whose chunks
   * are views of a reused buffer.
   */
  coldPath?: boolean
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
  /** The URL that answered, after redirects. */
  url: URL
  /**
   * Single-value fields the upstream sent on several lines with different values (issue #13
   * item 1): left out of `headers`; the response must not be stored.
   */
  conflicts?: string[]
}

/** One hop's answer, before redirects are followed and fields combined. */
type HopResponse = Pick<UpstreamResponse, 'status' | 'headers' | 'body'>

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/**
 * A net `lookup` that resolves with `lookup` and hands the socket only the addresses `policy`
 * allows; none left is DSM_UPSTREAM_FORBIDDEN_ADDRESS, before any connection is attempted.
 * Works for both calling forms net uses: `all: true` (autoSelectFamily, RFC 8305) and one address.
 */
export function guardLookup (lookup: LookupFunction, policy: AddressPolicy): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    lookup(hostname, { ...options, all: true }, (err, answer, family) => {
      if (err !== null) {
        callback(err, options.all === true ? [] : '')
        return
      }
      const addresses: LookupAddress[] = Array.isArray(answer) ? answer : [{ address: answer, family: family ?? 4 }]
      const checked = addresses.map((a) => ({ ...a, ...policy.check(a.address) }))
      const allowed = checked.filter((a) => a.allowed).map(({ address, family }) => ({ address, family }))
      const first = allowed[0]
      if (first === undefined) {
        const refused = checked.map((a) => `${a.address} (${a.class})`).join(', ') || 'no address'
        const example = checked[0] === undefined ? '10.0.0.0/8' : `${checked[0].address}/${checked[0].family === 6 ? 128 : 32}`
        callback(new UpstreamForbiddenAddressError(hostname, refused, example), options.all === true ? [] : '')
        return
      }
      if (options.all === true) callback(null, allowed)
      else callback(null, first.address, first.family)
    })
  }
}

/**
 * The TLS context of every upstream connection, built once per bundle (issue 12 item 7): given
 * only `ca`, tls.connect builds a context from the whole bundle for each connection (26.8 ms
 * of CPU for 155 certificates, against 1.9 ms with this one reused; an upstream that closes
 * its connections capped misses near 35/s and grew RSS to 1.7 GiB of native memory).
 * Verification is unchanged: the chain is checked against this context's roots and the name by
 * tls.checkServerIdentity, on every connection.
 */
export function createUpstreamSecureContext (ca: readonly string[]): SecureContext {
  return createSecureContext({ ca: [...ca] })
}

function upstreamLookup (opts: UpstreamOptions): LookupFunction {
  return guardLookup(opts.lookup ?? (dns.lookup as LookupFunction), new AddressPolicy(opts.allowAddresses ?? []))
}

function createDispatcher (opts: UpstreamOptions, secureContext: SecureContext): Dispatcher {
  const tls = { secureContext }
  const lookup = upstreamLookup(opts)
  const common = {
    // `lookup` is handed through undici's connector to net/tls.connect, which resolves with it.
    connect: { ...tls, timeout: opts.timeouts.connect, lookup },
    headersTimeout: opts.timeouts.headers,
    bodyTimeout: opts.timeouts.idle,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS
  }
  if (opts.proxy === 'none') return new Agent(common)
  // Through a proxy the origin's TLS runs inside the CONNECT tunnel: requestTls carries the
  // managed CA there, proxyTls for an https:// proxy.
  const proxied = { ...common, requestTls: { ...tls, timeout: opts.timeouts.connect }, proxyTls: tls }
  if (opts.proxy !== 'env') return new ProxyAgent({ ...proxied, uri: opts.proxy })
  // Explicit values (empty = none) so undici never reads process.env behind the CLI's back.
  return new EnvHttpProxyAgent({
    ...proxied,
    httpProxy: envValue(opts.env, 'HTTP_PROXY'),
    httpsProxy: envValue(opts.env, 'HTTPS_PROXY'),
    noProxy: envValue(opts.env, 'NO_PROXY')
  })
}

/**
 * Which origins the dispatcher reaches without an egress proxy, the ones the cold path's client
 * may take (it speaks to origins only): `proxy: none` all, a proxy URL none, `env` those its
 * variables send direct (config/egress-proxy.ts, undici's rules, NO_PROXY included).
 */
function reachedDirectly (opts: UpstreamOptions): (url: URL) => boolean {
  if (opts.proxy === 'none') return () => true
  if (opts.proxy !== 'env') return () => false
  return (url) => envProxyFor(opts.env, url) === ''
}

/** The cold path's client; `reachedDirectly` says which origins it may take. */
function createColdClient (opts: UpstreamOptions, secureContext: SecureContext): H1Client {
  return new H1Client({ secureContext, lookup: upstreamLookup(opts), timeouts: opts.timeouts, keepAliveMs: KEEP_ALIVE_TIMEOUT_MS, maxHeaderBytes: maxHeaderSize })
}

export class Upstream {
  readonly #opts: UpstreamOptions
  #secureContext: SecureContext
  #dispatcher: Dispatcher
  #cold: H1Client
  readonly #direct: (url: URL) => boolean

  constructor (opts: UpstreamOptions) {
    this.#opts = opts
    this.#direct = reachedDirectly(opts)
    this.#secureContext = createUpstreamSecureContext(opts.ca)
    this.#dispatcher = createDispatcher(opts, this.#secureContext)
    this.#cold = createColdClient(opts, this.#secureContext)
  }

  /** The one TLS context every upstream connection uses; replaced by setCa. */
  get secureContext (): SecureContext {
    return this.#secureContext
  }

  /** The dispatcher for pass-through requests (@fastify/reply-from), same CA/proxy/timeouts. */
  get dispatcher (): Dispatcher {
    return this.#dispatcher
  }

  /** Swaps the trust store; in-flight requests finish on the old dispatcher. */
  async setCa (ca: readonly string[]): Promise<void> {
    const old = this.#dispatcher
    this.#secureContext = createUpstreamSecureContext(ca)
    this.#dispatcher = createDispatcher({ ...this.#opts, ca }, this.#secureContext)
    this.#cold.close()
    this.#cold = createColdClient({ ...this.#opts, ca }, this.#secureContext)
    await old.close()
  }

  /** GET or HEAD `url`, following redirects (each hop allowlisted). Throws mapped DSM errors. */
  async request (url: URL, req: UpstreamRequest): Promise<UpstreamResponse> {
    let current = url
    let headers = req.headers
    const visited = [url.href]
    for (let hop = 0; ; hop++) {
      let res: HopResponse
      try {
        res = await this.#hop(current, req, headers)
      } catch (err: unknown) {
        throw mapUpstreamError(err, current)
      }
      const conflicts = singletonConflicts(res.headers)
      const responseHeaders = combineFieldLines(res.headers)
      const location = responseHeaders.location
      if (!REDIRECT_STATUSES.has(res.status) || typeof location !== 'string' || req.redirect === 'manual') {
        return { status: res.status, headers: responseHeaders, body: res.body, url: current, ...(conflicts.length > 0 ? { conflicts } : {}) }
      }
      res.body.resume()
      const next = new URL(location, current)
      // A loop and a long chain have their own fixes; neither is a host to add to allowHosts.
      if (visited.includes(next.href)) {
        throw new UpstreamRedirectError(url.host, `it redirects in a loop (${[...visited, next.href].join(' -> ')})`,
          'The upstream is misconfigured: report it, or point dsmirror at the final URL.')
      }
      if (hop >= this.#opts.maxRedirects) {
        throw new UpstreamRedirectError(url.host, `more than ${this.#opts.maxRedirects} redirects (last to ${location})`,
          'Raise upstream.maxRedirects if the chain is legitimate, or point dsmirror at the final URL.')
      }
      visited.push(next.href)
      // Never downgrade: an https upstream may only redirect to https.
      const schemeOk = next.protocol === 'https:' || (next.protocol === 'http:' && url.protocol === 'http:')
      if (!schemeOk || next.username !== '' || next.password !== '' || !this.#opts.isAllowed(next)) {
        throw new UpstreamRedirectError(url.host, `redirect to '${next.origin}' is not allowed`, "Add the redirect target's host to allowHosts if it is trusted.")
      }
      // Credentials are for the origin they were given to: a Hugging Face token must not reach
      // the CDN or S3 it redirects to (presigned S3 URLs even reject an Authorization header).
      // Same rule as fetch (WHATWG Fetch §4.4 step 13) and undici's redirect handler.
      if (next.origin !== current.origin) headers = withoutCredentials(headers)
      current = next
    }
  }

  /** One request, no redirect followed: the cold path's client where it applies, undici elsewhere. */
  async #hop (url: URL, req: UpstreamRequest, headers: Record<string, string>): Promise<HopResponse> {
    if (req.coldPath === true && req.method === 'GET' && this.#direct(url)) {
      return await this.#cold.get(url, headers, req.signal)
    }
    const res = await this.#dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: req.method,
      headers,
      ...(req.body === undefined ? {} : { body: req.body }),
      signal: req.signal
    })
    return { status: res.statusCode, headers: res.headers, body: res.body }
  }

  async close (): Promise<void> {
    this.#cold.close()
    await this.#dispatcher.close()
  }
}

/** Fields whose lines are not combined: RFC 9110 §5.3 names Set-Cookie (RFC 6265 §3). */
const LIST_ONLY_FIELDS = new Set(['set-cookie', 'set-cookie2'])

/**
 * Fields defined as one value (RFC 9110 §5.5; Content-Length is the HTTP parser's, which refuses
 * two different ones): the same value on several lines is that value; different values are an
 * error the field is dropped for (issue #13 item 1), never forwarded as a list.
 */
const SINGLETON_FIELDS = new Set([
  'age', 'content-location', 'content-range', 'content-type', 'date', 'etag', 'expires', 'last-modified', 'location', 'retry-after'
])

/** Single-value fields sent on several lines with different values. */
export function singletonConflicts (headers: Readonly<Record<string, string | string[] | undefined>>): string[] {
  return Object.entries(headers)
    .filter(([name, value]) => Array.isArray(value) && SINGLETON_FIELDS.has(name.toLowerCase()) && new Set(value.map((v) => v.trim())).size > 1)
    .map(([name]) => name.toLowerCase())
}

/**
 * Issue 12 item 6: a field sent on several lines arrives from undici as an array, which
 * http-cache-semantics (and every `typeof value === 'string'` reader here) cannot handle: two
 * Cache-Control lines made a URL unfetchable. RFC 9110 §5.3 lets a recipient combine the lines
 * into one, comma-separated, in order; done once here, where every upstream response enters,
 * so nothing downstream (parsing, storing, forwarding) ever sees an array but Set-Cookie.
 */
export function combineFieldLines (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[] | undefined> {
  const combined: Record<string, string | string[] | undefined> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value) && SINGLETON_FIELDS.has(name.toLowerCase())) {
      const distinct = [...new Set(value.map((v) => v.trim()))]
      if (distinct.length === 1) combined[name] = distinct[0]
      continue
    }
    combined[name] = Array.isArray(value) && !LIST_ONLY_FIELDS.has(name.toLowerCase()) ? value.join(', ') : value
  }
  return combined
}

const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

function withoutCredentials (headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())))
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'HOSTNAME_MISMATCH', 'CERT_CHAIN_TOO_LONG',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO'
])
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])
/**
 * The upstream answered, but not in HTTP (issue 12 item 13): undici's response errors
 * (UND_ERR_RES_CONTENT_LENGTH_MISMATCH for two Content-Length values, ...), a head larger than
 * it accepts (UND_ERR_HEADERS_OVERFLOW) and llhttp's parse errors (HPE_*). Reporting these as
 * "could not reach" sent operators to check a network that works.
 */
const BAD_RESPONSE_CODE = /^(UND_ERR_RES_|UND_ERR_HEADERS_OVERFLOW$|HPE_)/
/** undici's HTTPParserError does not always carry an HPE_ code (an invalid status code has none). */
const BAD_RESPONSE_NAMES = new Set(['HTTPParserError', 'ResponseContentLengthMismatchError', 'HeadersOverflowError'])

interface ChainedError { code?: unknown; message?: unknown; name?: unknown }

function errorChain (err: unknown): ChainedError[] {
  const chain: ChainedError[] = []
  let current: unknown = err
  while (typeof current === 'object' && current !== null && chain.length < 5) {
    chain.push(current as ChainedError)
    current = (current as { cause?: unknown }).cause
  }
  return chain
}

// Name-constraint violations (X509_V_ERR_PERMITTED_VIOLATION and friends) have no code of their
// own in Node: they arrive as code 'UNSPECIFIED' and are recognised by their words.
const TLS_WORDS = /certificate|subtree violation|self[- ]signed|issuer|name constraint/i
/** Codes whose message may be read for TLS words: none at all, or OpenSSL's catch-all. */
const WORDY_CODES = new Set(['', 'UNSPECIFIED'])

/** Maps any error from talking to `url` to one DSM_UPSTREAM_* error, keeping it as `cause`. */
export function mapUpstreamError (err: unknown, url: URL): DsmError {
  const chain = errorChain(err)
  // A DSM error raised inside the connection (the address guard) may arrive wrapped.
  const own = chain.find(isDsmError)
  if (own !== undefined) return own
  const codes = chain.map((e) => (typeof e.code === 'string' ? e.code : ''))
  // The detail is the first error that carries a code (a wrapper's 'fetch failed' says nothing).
  const details = chain.map((e) => [e.code, e.message].filter((v) => typeof v === 'string' && v !== '').join(': '))
  const detail = details[codes.findIndex((c) => c !== '')] ?? details.find((s) => s !== '') ?? String(err)
  // Words are read only where no specific code says what happened, and with the host name cut
  // out: 'getaddrinfo ENOTFOUND certificate.example.org' is a DNS failure, not a TLS one.
  const tlsWords = chain.some((e, i) => WORDY_CODES.has(codes[i] ?? '') && typeof e.message === 'string' &&
    TLS_WORDS.test(e.message.split(url.hostname).join(' ')))
  let mapped: DsmError
  if (tlsWords || codes.some((c) => TLS_CODES.has(c) || c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_'))) {
    mapped = new UpstreamTlsError(url.host, detail, url.hostname)
  } else if (codes.some((c) => TIMEOUT_CODES.has(c))) {
    mapped = new UpstreamTimeoutError(url.host, detail)
  } else if (codes.some((c) => BAD_RESPONSE_CODE.test(c)) || chain.some((e) => typeof e.name === 'string' && BAD_RESPONSE_NAMES.has(e.name))) {
    mapped = new UpstreamBadResponseError(url.href, detail)
  } else {
    mapped = new UpstreamConnectError(url.host, detail)
  }
  mapped.cause = err
  return mapped
}
