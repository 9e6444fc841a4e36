// The cached request path for GET and HEAD (docs/design.md "Request path"):
//   hit ──────────────> serve the committed body
//   in flight ────────> tail the growing temp file of the one download
//   miss / stale ─────> start (or join) the one download for the key, then serve it as it grows
// Every response says what happened in a Cache-Status header (RFC 9211).
import type { FastifyReply, FastifyRequest } from 'fastify'
import CachePolicy from 'http-cache-semantics'
import { LRUCache } from 'lru-cache'
import picomatch from 'picomatch'
import type { Logger } from 'pino'
import { canonicalUrl, cacheKey } from './cache-key.js'
import { failedWith, setCacheStatus, type CacheStatus } from './cache-status.js'
import type { CacheStore, EntryMeta } from './cache-store.js'
import { Download, type DownloadOptions, type ExpectedDigest } from './download.js'
import { DownloadCancelledError, isDsmError, OnlyIfCachedError } from '../errors.js'
import type { MirrorTarget } from '../routes/mirror-target.js'
import { connectionOptions, immutablePatternMayApply, newPolicy, policyRequestHeaders, storablePolicyObject, varyNames, type SemanticsOptions } from './http-semantics.js'
import { freshenedByNotModified } from './not-modified.js'
import { inFlightObject, sendObject, storedObject } from './serve-object.js'
import { forwardedHeaders } from './stored-headers.js'
import { mapUpstreamError, type Upstream, type UpstreamResponse } from '../upstream/upstream.js'

export const MAX_NEGATIVE_ENTRIES = 10_000
/**
 * Client request headers not sent upstream on the cached path (issue #13 item 2); every other
 * end-to-end field is. Hop-by-hop fields (RFC 9110 §7.6.1) and those the client names in
 * Connection; what the cache does itself (Range: it fetches whole bodies; conditionals: it
 * validates with its own validators, a miss's are added apart; Cache-Control and Pragma: it acts
 * on them, RFC 9111 §5.2.1; Accept-Encoding: it stores identity bytes); Host and the message
 * framing; Cookie: never on the shared path (only Authorization is forwarded, and responses to it
 * are shared only when they say so, RFC 9111 §3.5).
 */
const NOT_FORWARDED_REQUEST_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'content-length', 'expect', 'http2-settings',
  'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
  'cache-control', 'pragma', 'accept-encoding', 'cookie', 'cookie2'
])
/**
 * The client's conditionals, sent as they came when nothing is stored (RFC 9111 §4.3.2; issue #13
 * item 5): its validators, and the preconditions only the origin can evaluate (If-Match,
 * If-Unmodified-Since, RFC 9110 §13.1.1, §13.1.4), so a 412 is the origin's to give.
 */
const MISS_CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since']
const NEGATIVE_STATUSES = new Set([404, 410])
const STALE_IF_ERROR_CODES = new Set(['DSM_UPSTREAM_CONNECT', 'DSM_UPSTREAM_TIMEOUT', 'DSM_UPSTREAM_TLS'])
/**
 * Response directives that forbid serving the stored response stale, even when the upstream is
 * unreachable (RFC 9111 §4.2.4; s-maxage implies proxy-revalidate for a shared cache, §5.2.2.10).
 */
const NO_STALE_DIRECTIVES = ['no-cache', 'must-revalidate', 'proxy-revalidate', 's-maxage']

/**
 * Why a stored response cannot be used as is, as the RFC 9211 §2.2 `fwd` parameter: `stale` (not
 * fresh, or older than cache.revalidateAfter), `vary-miss` (stored for other Vary header values),
 * `request` (fresh, but the request's Cache-Control / Pragma asked for validation).
 */
type Forward = 'miss' | 'stale' | 'vary-miss' | 'request'

export interface MirrorCacheOptions {
  store: CacheStore
  upstream: Upstream
  immutable: readonly string[]
  revalidateAfter: number
  serveStale: boolean
  negativeTtl: number
  checksums: Readonly<Record<string, string>>
  retries: number
  retryDelay: number
  /** upstream.timeouts.minRate and minRateWindow (server/cache/download.ts). */
  minRate?: { bytesPerSecond: number; windowMs: number }
  /** cache.orphanTimeout: ms a download may run with no client before it is cancelled; 0 never. */
  orphanTimeout?: number
  log: Logger
  now: () => number
  /** Told about downloads and their clients (metrics, status page); optional. */
  observer?: CacheObserver
  /** cache.cdnCacheControl: honour CDN-Cache-Control (RFC 9213); default false. */
  cdnCacheControl?: boolean
  /** Cross-replica single flight (issue 19, server/cluster/single-flight.ts); absent: this replica decides alone. */
  cluster?: MissFlights
}

/** How a miss's download reaches its upstream when replicas share a store: the lease's leader downloads, followers stream from it. */
export interface MissFlights {
  flight: (key: string, upstream: Upstream) => Pick<Upstream, 'request'> & { watch: (download: Download) => void }
}

/** What the cache reports as it works, for metrics and the status page (server/metrics.ts). */
export interface CacheObserver {
  /** A new upstream download, before it starts (not a client joining one). */
  downloadStarted: (download: Download) => void
  /** A client began (+1) or stopped (-1) reading a download. */
  clientsChanged: (download: Download, delta: 1 | -1) => void
}

/** What `prefetch` did: `done` resolves true once the body is cached and durable, false if it is not (never rejects). */
export interface PrefetchStart {
  key: string
  state: 'cached' | 'started' | 'in-flight'
  done: Promise<boolean>
}

interface NegativeEntry {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
  /** The response's policy (storablePolicyObject), for Vary, request directives and Age; absent for nothing but tests. */
  policy?: Record<string, unknown>
  /** The response gave its own freshness: it decides reuse, not cache.negativeTtl (issue #13 item 8). */
  explicit?: boolean
}

export class MirrorCache {
  readonly #opts: MirrorCacheOptions
  readonly #downloads = new Map<string, Download>()
  readonly #persisting = new Set<Promise<void>>()
  readonly #negative: LRUCache<string, NegativeEntry>
  readonly #isImmutable: (basename: string) => boolean
  readonly #checksums = new Map<string, ExpectedDigest>()
  /** Clients reading (or about to read) each download, for cache.orphanTimeout. */
  readonly #clients = new Map<Download, number>()
  readonly #orphanTimers = new Map<Download, NodeJS.Timeout>()
  /** Downloads an admin prefetch started or follows: nobody reads them, and they are not orphans. */
  readonly #prefetched = new WeakSet<Download>()
  readonly #semantics: SemanticsOptions

  constructor (opts: MirrorCacheOptions) {
    this.#opts = opts
    this.#semantics = { cdnCacheControl: opts.cdnCacheControl ?? false }
    this.#negative = new LRUCache({ max: MAX_NEGATIVE_ENTRIES, ttl: Math.max(1, opts.negativeTtl) })
    this.#isImmutable = picomatch([...opts.immutable], { nocase: true, dot: true })
    for (const [url, digest] of Object.entries(opts.checksums)) {
      const [algorithm, hex] = digest.split(':') as ['md5' | 'sha256', string]
      this.#checksums.set(canonicalUrl(url), { algorithm, hex: hex.toLowerCase() })
    }
  }

  /** In-flight downloads, for status pages and shutdown. */
  get downloads (): ReadonlyMap<string, Download> {
    return this.#downloads
  }

  async handle (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget): Promise<FastifyReply> {
    const key = cacheKey(target.url)
    // A 404 remembered from an anonymous request says nothing about what credentials may see
    // (a private Hugging Face repository answers 404 without a token).
    const negative = request.headers.authorization === undefined ? this.#negative.get(key) : undefined
    if (negative !== undefined) {
      if (this.#negativeUsable(negative, request, target)) return this.#sendBuffered(reply, negative, { hit: true, detail: 'negative' })
      // Asked again: whatever the upstream answers now replaces it (a 200 must not be shadowed by it).
      this.#negative.delete(key)
    }
    const onlyIfCached = requestDirectives(request).has('only-if-cached')

    const meta = await this.#opts.store.get(key)
    const inFlight = this.#downloads.has(key)
    if (meta !== undefined) {
      const fwd = this.#freshness(meta, request, target)
      if (fwd === null) return await this.#serveHit(request, reply, target, meta, { hit: true })
      // RFC 9111 §5.2.1.7: nothing usable without the origin, and the client forbids asking it.
      if (onlyIfCached && !inFlight) return this.#notCached(reply, target, fwd)
      // A HEAD never starts a download, not even a revalidation that may turn into one.
      if (request.method === 'HEAD' && !inFlight) return await this.#revalidateHead(request, reply, target, meta, fwd)
      return await this.#fetch(request, reply, target, key, meta, fwd)
    }
    if (inFlight) return await this.#fetch(request, reply, target, key, null, 'miss')
    if (onlyIfCached) return this.#notCached(reply, target, 'miss')
    if (request.method === 'HEAD') return await this.#forwardHead(reply, target, request)
    return await this.#fetch(request, reply, target, key, null, 'miss')
  }

  /**
   * Warms the cache for `target` without a client to answer (admin prefetch): starts the one
   * download for its key, or follows the one in flight. A cached entry is left as it is, fresh or
   * not: the next client request revalidates it as usual.
   */
  async prefetch (target: MirrorTarget): Promise<PrefetchStart> {
    const key = cacheKey(target.url)
    if (!this.#downloads.has(key) && await this.#opts.store.peek(key) !== undefined) return { key, state: 'cached', done: Promise.resolve(true) }
    // Looked up after the store answered: a download may have started meanwhile.
    let download = this.#downloads.get(key)
    const initiator = download === undefined
    if (download === undefined) {
      const url = target.url
      download = this.#newDownload(key, url, {
        headers: { 'accept-encoding': 'identity' },
        // As an anonymous client would ask: the policy and Vary are judged for no request headers.
        policyRequest: { url: url.pathname + url.search, method: 'GET', headers: { host: url.host } },
        revalidate: null
      })
    }
    this.#prefetched.add(download)
    this.#clearOrphanTimer(download)
    return { key, state: initiator ? 'started' : 'in-flight', done: this.#prefetchDone(download, initiator) }
  }

  /**
   * Counts another replica's follower reading `download` through the peer listener as one of its
   * clients (cache.orphanTimeout), until the returned release is called (once; a second is harmless).
   */
  holdForPeer (download: Download): () => void {
    this.#clientsChanged(download, 1)
    let held = true
    return () => {
      if (!held) return
      held = false
      this.#clientsChanged(download, -1)
    }
  }

  /** Cancels the download in flight for `key` (DELETE /_/api/downloads/<key>); undefined when there is none. */
  cancel (key: string, reason: string): Download | undefined {
    const download = this.#downloads.get(key)
    if (download === undefined) return undefined
    return download.cancel(new DownloadCancelledError(download.url.href, reason)) ? download : undefined
  }

  /**
   * Issue 12 item 8: a download that lost its last client starts a grace timer; a client that
   * joins stops it. Downloads outlive their client by design (torchvision closes its first
   * response unread and asks again at once), so the grace is minutes by default; what it ends is
   * a transfer nobody will read, holding a socket and cache space.
   */
  #clientsChanged (download: Download, delta: 1 | -1): void {
    const count = (this.#clients.get(download) ?? 0) + delta
    if (count > 0) {
      this.#clients.set(download, count)
      this.#clearOrphanTimer(download)
      return
    }
    this.#clients.delete(download)
    const timeout = this.#opts.orphanTimeout ?? 0
    const running = download.state === 'starting' || download.state === 'streaming'
    if (timeout <= 0 || !running || this.#prefetched.has(download) || this.#orphanTimers.has(download)) return
    const timer = setTimeout(() => {
      this.#orphanTimers.delete(download)
      if ((this.#clients.get(download) ?? 0) > 0 || this.#prefetched.has(download)) return
      if (download.cancel(new DownloadCancelledError(download.url.href, `no client read it for ${timeout} ms (cache.orphanTimeout)`))) {
        this.#opts.log.warn({ key: download.key, url: download.url.href, written: download.written, orphanTimeout: timeout }, 'download without clients cancelled')
      }
    }, timeout)
    timer.unref()
    this.#orphanTimers.set(download, timer)
  }

  #clearOrphanTimer (download: Download): void {
    const timer = this.#orphanTimers.get(download)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#orphanTimers.delete(download)
  }

  /** A new download for `key`, tracked as the one in flight; what differs by caller is how it asks. */
  #newDownload (key: string, url: URL, ask: Pick<DownloadOptions, 'headers' | 'policyRequest' | 'revalidate' | 'missConditionals'>): Download {
    // Issue 19 item 3: a miss claims the key's lease across replicas first (a revalidation stays local).
    const flight = ask.revalidate === null ? this.#opts.cluster?.flight(key, this.#opts.upstream) : undefined
    const download = new Download({
      key,
      url,
      ...ask,
      upstream: flight ?? this.#opts.upstream,
      store: this.#opts.store,
      immutable: this.#isImmutable(basename(url)),
      semantics: this.#semantics,
      digest: this.#checksums.get(canonicalUrl(url)) ?? null,
      retries: this.#opts.retries,
      retryDelay: this.#opts.retryDelay,
      ...(this.#opts.minRate === undefined ? {} : { minRate: this.#opts.minRate }),
      log: this.#opts.log.child({ module: 'download' }),
      now: this.#opts.now
    })
    flight?.watch(download)
    this.#track(key, download)
    return download
  }

  async #prefetchDone (download: Download, initiator: boolean): Promise<boolean> {
    try {
      const outcome = await download.start()
      // Nobody reads a prefetch's uncacheable body; a joined one belongs to the client that started it.
      if (outcome.kind === 'uncacheable' && initiator) outcome.response.body.destroy()
      if (outcome.kind !== 'body' && outcome.kind !== 'not-modified') {
        this.#opts.log.warn({ url: download.url.href, outcome: outcome.kind, ...(outcome.kind === 'response' ? { status: outcome.status } : {}) }, 'prefetch cached nothing')
        return false
      }
      await download.settled()
      await download.durable()
    } catch (err: unknown) {
      this.#opts.log.warn({ url: download.url.href, code: isDsmError(err) ? err.code : undefined, err }, 'prefetch failed')
      return false
    }
    return await this.#opts.store.peek(download.key) !== undefined
  }

  /** Suspends every in-flight download (resumable after restart) and lets committed ones become durable. */
  async close (): Promise<void> {
    for (const timer of this.#orphanTimers.values()) clearTimeout(timer)
    this.#orphanTimers.clear()
    await Promise.all([...this.#downloads.values()].map((d) => d.close()))
    await this.idle()
  }

  /** Resolves once no download is in flight and every committed body is durable. */
  async idle (): Promise<void> {
    while (this.#downloads.size > 0 || this.#persisting.size > 0) {
      await Promise.all([...[...this.#downloads.values()].map((d) => d.settled().catch(() => {})), ...this.#persisting])
    }
  }

  /** Null when the stored response may be served without asking upstream, else why not. */
  #freshness (meta: EntryMeta, request: FastifyRequest, target: MirrorTarget): Forward | null {
    const stored = meta.policy as unknown as PolicyObject | undefined
    const req = policyRequest(request, target)
    if (stored !== undefined && !varyMatches(stored, req.headers)) return 'vary-miss'
    // Entries stored before issue #13 item 11 may carry the flag against what their headers say.
    // The pattern only stands in for a heuristic lifetime without end (RFC 9111 §4.2.2): Vary
    // (above) and the request's own directives (§5.2.1.1, §5.2.1.4, §5.4) still apply.
    if (meta.immutable && immutablePatternMayApply(meta.headers, this.#semantics)) {
      const directives = requestDirectives(request)
      const maxAge = directives.get('max-age')
      // max-age=0 asks for validation whatever the age, as for every other entry (h-c-s, #negativeUsable).
      const tooOld = maxAge !== undefined && maxAge !== null && /^\d+$/.test(maxAge) && (maxAge === '0' || this.#age(meta) > Number(maxAge))
      return directives.has('no-cache') || tooOld ? 'request' : null
    }
    if (stored === undefined) return 'stale'
    if (this.#opts.now() - meta.fetchedAt >= this.#opts.revalidateAfter) return 'stale'
    const policy = evaluationPolicy(stored, target)
    // max-stale never reaches past must-revalidate, proxy-revalidate or s-maxage (RFC 9111
    // §5.2.2.2, §5.2.2.8, §5.2.2.10), which evaluationPolicy hid from h-c-s.
    if (policy.stale() && !this.#mayServeStaleByPolicy(stored)) return 'stale'
    if (policy.satisfiesWithoutRevalidation(req)) return null
    return policy.stale() ? 'stale' : 'request'
  }

  /** Whether a stored response's own directives let it be served stale at all (RFC 9111 §4.2.4). */
  #mayServeStaleByPolicy (stored: PolicyObject): boolean {
    const directives = stored.rescc ?? {}
    return !NO_STALE_DIRECTIVES.some((name) => directives[name] !== undefined && directives[name] !== false)
  }

  /**
   * A remembered 404/410 (issue #13 item 8): one with its own freshness is reused while fresh for
   * this request (Vary, request directives); one without is reused for cache.negativeTtl, the
   * heuristic RFC 9110 §15.1 allows, unless the request asks for validation.
   */
  #negativeUsable (entry: NegativeEntry, request: FastifyRequest, target: MirrorTarget): boolean {
    if (entry.policy === undefined) return true
    const stored = entry.policy as unknown as PolicyObject
    const req = policyRequest(request, target)
    if (!varyMatches(stored, req.headers)) return false
    const policy = evaluationPolicy(stored, target)
    if (entry.explicit === true) return policy.satisfiesWithoutRevalidation(req)
    const directives = requestDirectives(request)
    return !directives.has('no-cache') && directives.get('max-age') !== '0'
  }

  /** Remembers a 404/410 when a shared cache may (issue #13 item 8), for its own lifetime or cache.negativeTtl. */
  #rememberNegative (key: string, entry: NegativeEntry, policy: CachePolicy | null): void {
    if (this.#opts.negativeTtl <= 0 || policy === null || !policy.storable()) return
    if (varyNames(policy.responseHeaders()).includes('*')) return
    const object = storablePolicyObject(policy)
    const rescc = (object as PolicyObject).rescc ?? {}
    const resh = (object as PolicyObject).resh ?? {}
    const explicit = ['max-age', 's-maxage', 'no-cache', 'must-revalidate', 'proxy-revalidate'].some((d) => rescc[d] !== undefined) || resh.expires !== undefined
    const ttl = explicit ? policy.timeToLive() : this.#opts.negativeTtl
    if (ttl <= 0) return
    this.#negative.set(key, { ...entry, policy: object, explicit }, { ttl })
  }

  /** only-if-cached with nothing usable stored: 504 (RFC 9111 §5.2.1.7), the upstream not asked. */
  #notCached (reply: FastifyReply, target: MirrorTarget, fwd: Forward): never {
    const err = new OnlyIfCachedError(target.url.href)
    setCacheStatus(reply, { fwd, error: err.code })
    throw err
  }

  /**
   * RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the stored responses for
   * its target URI and for same-origin Location / Content-Location (issue #13 item 7). Pinned
   * entries stay: the operator asked to keep them (as for a revalidation that is not stored).
   */
  async invalidate (url: URL, response: { status: number, headers: Record<string, string | string[] | undefined> }): Promise<void> {
    if (response.status >= 400) return
    const urls = [url]
    for (const name of ['location', 'content-location']) {
      const value = response.headers[name]
      if (typeof value !== 'string') continue
      try {
        const other = new URL(value, url)
        if (other.origin === url.origin) urls.push(other)
      } catch {
        // Not a URI reference: nothing it names.
      }
    }
    for (const target of urls) {
      const key = cacheKey(target)
      this.#negative.delete(key)
      const meta = await this.#opts.store.peek(key)
      if (meta !== undefined && meta.pinned !== true) await this.#opts.store.delete(key)
    }
  }

  /** Whether `meta` may be served stale because the upstream failed (cache.serveStale, RFC 9111 §4.2.4). */
  #mayServeStale (meta: EntryMeta): boolean {
    if (!this.#opts.serveStale) return false
    if (meta.immutable) return true
    const directives = (meta.policy as unknown as PolicyObject).rescc ?? {}
    return !NO_STALE_DIRECTIVES.some((name) => directives[name] !== undefined && directives[name] !== false)
  }

  /** The client's end-to-end request headers for the upstream (issue #13 item 2); `miss` adds its validators. */
  #upstreamHeaders (request: FastifyRequest, miss = false): Record<string, string> {
    const listed = connectionOptions(request.headers)
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase()
      // Proxy-* fields are for dsmirror as the client's proxy, never the upstream's (issue 12 item 6).
      if (value === undefined || NOT_FORWARDED_REQUEST_HEADERS.has(lower) || listed.has(lower) || lower.startsWith('proxy-')) continue
      headers[lower] = Array.isArray(value) ? value.join(', ') : value
    }
    if (miss) Object.assign(headers, clientConditionals(request))
    headers['accept-encoding'] = 'identity'
    return headers
  }

  /** Starts or joins the one download for `key` (a revalidation when `stale` is given). */
  async #fetch (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, key: string, stale: EntryMeta | null, fwd: Forward): Promise<FastifyReply> {
    let download = this.#downloads.get(key)
    const initiator = download === undefined
    if (download === undefined) {
      download = this.#newDownload(key, target.url, {
        headers: this.#upstreamHeaders(request),
        ...(stale === null ? { missConditionals: clientConditionals(request) } : {}),
        policyRequest: policyRequest(request, target),
        revalidate: stale
      })
    }

    let outcome
    try {
      outcome = await download.start()
    } catch (err: unknown) {
      return await this.#upstreamFailed(err, request, reply, target, stale, stale === null ? 'miss' : fwd)
    }

    const started = download.policyRequest
    if (!initiator && outcome.kind !== 'uncacheable') {
      // A joined download answers for the request that started it: with Vary, only requests
      // that match it on the named headers may share it (RFC 9111 §4.1).
      const headers = outcome.kind === 'body' ? download.headers : outcome.kind === 'response' ? outcome.headers : outcome.meta.headers
      if (!varyMatches({ resh: headers, reqh: started.headers }, policyRequest(request, target).headers)) {
        return await this.#fetchUncached(request, reply, target, { fwd: 'vary-miss', detail: 'in-flight' })
      }
    }

    switch (outcome.kind) {
      case 'body': {
        // A body passing through uncached has dropped bytes it no longer needs: a newcomer asks for its own copy.
        if (!initiator && download.passingThrough) return await this.#fetchUncached(request, reply, target, { fwd: 'miss', detail: 'no-space' })
        const status: CacheStatus = initiator
          ? (stale !== null ? { fwd, fwdStatus: 200, stored: true } : { fwd: 'miss', stored: true })
          : { hit: true, detail: 'in-flight' }
        return await this.#serveDownload(request, reply, download, status, target)
      }
      case 'not-modified':
        return await this.#serveHit(request, reply, target, outcome.meta, initiator ? { fwd, fwdStatus: 304 } : { hit: true })
      case 'response': {
        if (stale !== null && outcome.status >= 500 && this.#mayServeStale(stale)) {
          return await this.#serveHit(request, reply, target, stale, { fwd, fwdStatus: outcome.status, detail: 'stale-if-error' })
        }
        // Shared (with joined clients, and for negativeTtl) only when a shared cache could store
        // it: not no-store or private, not an answer to someone's Authorization (RFC 9111 §3).
        // Judged as a 200 so that every status (a 502 for a hundred waiting clients) is shared alike.
        // A 304 or 412 answers the conditionals of the client that started the download, no one else's.
        const shareable = outcome.status !== 304 && outcome.status !== 412 && newPolicy(started, 200, outcome.headers, this.#semantics).storable()
        if (!initiator && !shareable) return await this.#fetchUncached(request, reply, target, { fwd: 'miss', detail: 'uncacheable' })
        const entry = { status: outcome.status, headers: outcome.headers, body: outcome.body }
        if (NEGATIVE_STATUSES.has(outcome.status) && shareable) this.#rememberNegative(key, entry, outcome.policy)
        return this.#sendBuffered(reply, entry, { fwd: 'miss', fwdStatus: outcome.status })
      }
      case 'uncacheable': {
        // The cache's own reasons (no room, tmp/ unwritable) are tokens; the response's a quoted reason.
        if (initiator) return this.#sendUpstream(reply, outcome.response, { fwd: 'miss', detail: outcome.detail ?? { reason: outcome.reason } })
        return await this.#fetchUncached(request, reply, target, { fwd: 'miss', detail: outcome.detail ?? 'uncacheable' })
      }
    }
  }

  /**
   * An upstream that could not be reached: the stale copy when one may be served, else the error,
   * with a Cache-Status that says what was forwarded.
   */
  async #upstreamFailed (err: unknown, request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, stale: EntryMeta | null, fwd: Forward): Promise<FastifyReply> {
    const mapped = mapUpstreamError(err, target.url)
    if (stale !== null && STALE_IF_ERROR_CODES.has(mapped.code) && this.#mayServeStale(stale)) {
      request.log.warn({ code: mapped.code, url: target.url.href }, 'upstream unreachable; serving the stale copy')
      return await this.#serveHit(request, reply, target, stale, { fwd: 'stale', detail: mapped.code })
    }
    setCacheStatus(reply, { fwd: stale === null ? 'miss' : fwd, error: mapped.code })
    throw mapped
  }

  /**
   * HEAD on a stored response that needs validation: a conditional HEAD upstream (RFC 9111
   * §4.3.5), so a HEAD never downloads a body. A 304 freshens the stored headers like a GET's 304.
   */
  async #revalidateHead (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, meta: EntryMeta, fwd: Forward): Promise<FastifyReply> {
    const headers = this.#upstreamHeaders(request)
    if (meta.etag !== null) headers['if-none-match'] = meta.etag
    if (meta.lastModified !== null) headers['if-modified-since'] = meta.lastModified
    let response: UpstreamResponse
    try {
      response = await this.#opts.upstream.request(target.url, { method: 'HEAD', headers })
    } catch (err: unknown) {
      return await this.#upstreamFailed(err, request, reply, target, meta, fwd)
    }
    if (response.status === 304) {
      response.body.resume()
      const updated = freshenedByNotModified(meta, policyRequest(request, target), response.headers, this.#opts.now(), this.#semantics)
      // A 304 about another response says nothing of the stored one: ask plainly instead.
      if (updated === null) return await this.#forwardHead(reply, target, request)
      await this.#opts.store.updateMeta(updated)
      return await this.#serveHit(request, reply, target, updated, { fwd, fwdStatus: 304 })
    }
    if (response.status >= 500 && this.#mayServeStale(meta)) {
      response.body.resume()
      return await this.#serveHit(request, reply, target, meta, { fwd, fwdStatus: response.status, detail: 'stale-if-error' })
    }
    return this.#sendUpstream(reply, response, { fwd, fwdStatus: response.status })
  }

  #track (key: string, download: Download): void {
    this.#downloads.set(key, download)
    this.#opts.observer?.downloadStarted(download)
    const forget = (): void => {
      if (download.state !== 'committed' && download.state !== 'failed') return
      download.off('change', forget)
      this.#clearOrphanTimer(download)
      if (this.#downloads.get(key) === download) this.#downloads.delete(key)
      if (download.state === 'committed') {
        const durable = download.durable()
        this.#persisting.add(durable)
        void durable.then(() => this.#persisting.delete(durable))
      }
    }
    download.on('change', forget)
  }

  async #serveHit (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, meta: EntryMeta, cacheStatus: CacheStatus): Promise<FastifyReply> {
    const opened = await this.#opts.store.openBody(meta.key)
    if (opened === null) return await this.#fetch(request, reply, target, meta.key, null, 'miss')
    return sendObject(request, reply, storedObject(opened), cacheStatus, { age: String(this.#age(opened.meta)) })
  }

  async #serveDownload (request: FastifyRequest, reply: FastifyReply, download: Download, cacheStatus: CacheStatus, target: MirrorTarget): Promise<FastifyReply> {
    // Counted from here: a client waiting for a length-less body to complete is a client too.
    this.#clientsChanged(download, 1)
    // Without a Content-Length, a Range cannot be placed until the body is complete.
    if (download.size === null && typeof request.headers.range === 'string') {
      try {
        await download.settled()
      } catch (err: unknown) {
        this.#clientsChanged(download, -1)
        throw err
      }
      // Served but not kept (passed through, or an end the upstream did not confirm): ask afresh.
      if (!download.cached) {
        this.#clientsChanged(download, -1)
        return await this.#fetchUncached(request, reply, target, { fwd: 'miss', detail: 'no-space' })
      }
    }
    download.ref()
    this.#opts.observer?.clientsChanged(download, 1)
    return sendObject(request, reply, inFlightObject(download, () => {
      // Issue 12 item 13: the Cache-Status that went out said `stored` before the download
      // failed. What the request log line and the metrics read is corrected to the truth.
      const failure = download.failure()
      const sent = reply.cacheStatus
      if (failure !== null && isDsmError(failure) && reply.raw.headersSent && sent !== null && sent.detail === undefined && sent.error === undefined) {
        setCacheStatus(reply, failedWith(sent, failure.code))
      }
      this.#opts.observer?.clientsChanged(download, -1)
      this.#clientsChanged(download, -1)
      download.unref()
    }), cacheStatus, { age: String(download.age) })
  }

  #age (meta: EntryMeta): number {
    if (meta.immutable) return Math.max(0, Math.floor((this.#opts.now() - meta.fetchedAt) / 1000))
    const policy = CachePolicy.fromObject(meta.policy as unknown as CachePolicy.CachePolicyObject)
    return Math.max(0, Math.floor(policy.age()))
  }

  #sendBuffered (reply: FastifyReply, entry: NegativeEntry, cacheStatus: CacheStatus): FastifyReply {
    setCacheStatus(reply.code(entry.status).headers(entry.headers), cacheStatus)
    if (entry.policy !== undefined) {
      // RFC 9111 §5.1: a response from the cache says how old it is.
      reply.header('age', String(Math.max(0, Math.floor(CachePolicy.fromObject(entry.policy as unknown as CachePolicy.CachePolicyObject).age()))))
    }
    // A 304 has no content; its Content-Length would describe the selected representation (RFC 9110 §8.6).
    if (entry.status === 304) return reply.send()
    return reply.header('content-length', String(entry.body.length)).send(reply.request.method === 'HEAD' ? undefined : entry.body)
  }

  /** An upstream response passed to one client, uncached; a broken body aborts the client. */
  #sendUpstream (reply: FastifyReply, response: UpstreamResponse, cacheStatus: CacheStatus): FastifyReply {
    setCacheStatus(reply.code(response.status).headers(forwardedHeaders(response.headers)), cacheStatus)
    if (reply.request.method === 'HEAD') {
      response.body.resume()
      return reply.send()
    }
    return reply.send(response.body)
  }

  /** A client that joined a download whose response turned out not storable asks for its own copy. */
  async #fetchUncached (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, cacheStatus: CacheStatus): Promise<FastifyReply> {
    const response = await this.#upstreamRequest(request, reply, target, request.method === 'HEAD' ? 'HEAD' : 'GET')
    return this.#sendUpstream(reply, response, cacheStatus)
  }

  /** HEAD on a miss asks the upstream for headers only: a HEAD never starts a 150 GB download. */
  async #forwardHead (reply: FastifyReply, target: MirrorTarget, request: FastifyRequest): Promise<FastifyReply> {
    const response = await this.#upstreamRequest(request, reply, target, 'HEAD', true)
    return this.#sendUpstream(reply, response, { fwd: 'miss' })
  }

  async #upstreamRequest (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, method: 'GET' | 'HEAD', miss = false): Promise<UpstreamResponse> {
    try {
      return await this.#opts.upstream.request(target.url, { method, headers: this.#upstreamHeaders(request, miss) })
    } catch (err: unknown) {
      const mapped = mapUpstreamError(err, target.url)
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    }
  }
}

/** The parts of a serialized CachePolicy (`toObject()`) read here. */
interface PolicyObject {
  /** Response Cache-Control directives. */
  rescc?: Record<string, string | boolean>
  /** Response headers. */
  resh?: Record<string, string | string[] | undefined>
  /** The request headers Vary names, as stored. */
  reqh?: Record<string, string | string[] | undefined> | null
  /** The Host the policy was stored for. */
  h?: string
}

/**
 * The request a policy is made and evaluated for. Host is the upstream's: http-cache-semantics
 * compares it, and the client's Host (127.0.0.1:8080, localhost:8080, mirror.corp) says nothing
 * about which upstream resource is meant; the URL already does (RFC 9111 §4.1).
 */
function policyRequest (request: FastifyRequest, target: MirrorTarget): CachePolicy.Request {
  const headers = { ...policyRequestHeaders(request.headers), host: target.url.host } as CachePolicy.Headers
  return { url: target.url.pathname + target.url.search, method: 'GET', headers }
}

/** The client's validators, for a miss (issue #13 item 5). */
function clientConditionals (request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const name of MISS_CONDITIONALS) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  return headers
}

/** The request's Cache-Control directives, names lower-cased (RFC 9111 §5.2); Pragma: no-cache without it (§5.4). */
function requestDirectives (request: FastifyRequest): Map<string, string | null> {
  const headers = policyRequestHeaders(request.headers)
  const directives = new Map<string, string | null>()
  const cc = headers['cache-control']
  if (typeof cc === 'string') {
    for (const part of cc.split(',')) {
      const [name = '', value] = part.trim().split('=', 2)
      if (name !== '') directives.set(name, value ?? null)
    }
  } else if (typeof headers.pragma === 'string' && /(^|,)\s*no-cache\s*(,|$)/i.test(headers.pragma)) {
    directives.set('no-cache', null)
  }
  return directives
}

/**
 * The stored policy as freshness is judged. http-cache-semantics 4.x treats must-revalidate as
 * "always revalidate", but it only forbids serving the response once stale (RFC 9111 §5.2.2.2);
 * stale serving is decided apart (#mayServeStale). Entries stored with a client's Host are
 * re-keyed to the upstream host.
 */
function evaluationPolicy (stored: PolicyObject, target: MirrorTarget): CachePolicy {
  const { 'must-revalidate': _mr, 'proxy-revalidate': _pr, ...rescc } = stored.rescc ?? {}
  return CachePolicy.fromObject({ ...stored, rescc, h: target.url.host } as unknown as CachePolicy.CachePolicyObject)
}

/** RFC 9111 §4.1: every header Vary names must match the request the response was stored for. */
function varyMatches (stored: PolicyObject, headers: CachePolicy.Headers): boolean {
  const vary = headerText(stored.resh?.vary)
  if (vary === null || vary.trim() === '') return true
  for (const field of vary.toLowerCase().split(',')) {
    const name = field.trim()
    if (name === '') continue
    if (name === '*') return false
    if (headerText(headers[name]) !== headerText(stored.reqh?.[name])) return false
  }
  return true
}

function headerText (value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

function basename (url: URL): string {
  const path = url.pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
}
