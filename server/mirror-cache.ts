// The cached request path for GET and HEAD (DESIGN.md "Request path"):
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
import type { DiskStore, EntryMeta } from './disk-store.js'
import { Download, type ExpectedDigest } from './download.js'
import { isDsmError } from './errors.js'
import type { MirrorTarget } from './mirror-target.js'
import { sendObject } from './serve-object.js'
import { forwardedHeaders } from './stored-headers.js'
import { mapUpstreamError, type Upstream, type UpstreamResponse } from './upstream.js'

export const MAX_NEGATIVE_ENTRIES = 10_000
export const HIT_READ_CHUNK_BYTES = 1024 * 1024
/** Client request headers that are sent upstream on the cached path; the rest stay here. */
const UPSTREAM_REQUEST_HEADERS = ['accept', 'accept-language', 'authorization', 'user-agent']
const NEGATIVE_STATUSES = new Set([404, 410])
const STALE_IF_ERROR_CODES = new Set(['DSM_UPSTREAM_CONNECT', 'DSM_UPSTREAM_TIMEOUT', 'DSM_UPSTREAM_TLS'])

export interface MirrorCacheOptions {
  store: DiskStore
  upstream: Upstream
  immutable: readonly string[]
  revalidateAfter: number
  serveStale: boolean
  negativeTtl: number
  checksums: Readonly<Record<string, string>>
  retries: number
  retryDelay: number
  log: Logger
  now: () => number
}

interface NegativeEntry {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
}

export class MirrorCache {
  readonly #opts: MirrorCacheOptions
  readonly #downloads = new Map<string, Download>()
  readonly #negative: LRUCache<string, NegativeEntry>
  readonly #isImmutable: (basename: string) => boolean
  readonly #checksums = new Map<string, ExpectedDigest>()

  constructor (opts: MirrorCacheOptions) {
    this.#opts = opts
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
    const negative = this.#negative.get(key)
    if (negative !== undefined) return this.#sendBuffered(reply, negative, 'dsmirror; hit; detail=negative')

    const meta = this.#opts.store.get(key)
    if (meta !== undefined) {
      if (this.#isFresh(meta, request, target)) return await this.#serveHit(request, reply, target, meta, 'dsmirror; hit')
      return await this.#fetch(request, reply, target, key, meta)
    }
    const inFlight = this.#downloads.get(key)
    if (inFlight !== undefined) return await this.#fetch(request, reply, target, key, null)
    if (request.method === 'HEAD') return await this.#forwardHead(reply, target, request)
    return await this.#fetch(request, reply, target, key, null)
  }

  /** Suspends every in-flight download (resumable after restart). */
  async close (): Promise<void> {
    await Promise.all([...this.#downloads.values()].map((d) => d.close()))
  }

  #isFresh (meta: EntryMeta, request: FastifyRequest, target: MirrorTarget): boolean {
    if (meta.immutable) return true
    if (this.#opts.now() - meta.fetchedAt >= this.#opts.revalidateAfter) return false
    const policy = CachePolicy.fromObject(meta.policy as unknown as CachePolicy.CachePolicyObject)
    return policy.satisfiesWithoutRevalidation(policyRequest(request, target))
  }

  #upstreamHeaders (request: FastifyRequest): Record<string, string> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' }
    for (const name of UPSTREAM_REQUEST_HEADERS) {
      const value = request.headers[name]
      if (typeof value === 'string') headers[name] = value
    }
    return headers
  }

  /** Starts or joins the one download for `key` (a revalidation when `stale` is given). */
  async #fetch (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, key: string, stale: EntryMeta | null): Promise<FastifyReply> {
    let download = this.#downloads.get(key)
    const initiator = download === undefined
    if (download === undefined) {
      const url = target.url
      download = new Download({
        key,
        url,
        upstream: this.#opts.upstream,
        store: this.#opts.store,
        headers: this.#upstreamHeaders(request),
        policyRequest: policyRequest(request, target),
        immutable: this.#isImmutable(basename(url)),
        digest: this.#checksums.get(canonicalUrl(url)) ?? null,
        retries: this.#opts.retries,
        retryDelay: this.#opts.retryDelay,
        revalidate: stale,
        log: this.#opts.log.child({ module: 'download' }),
        now: this.#opts.now
      })
      this.#track(key, download)
    }

    let outcome
    try {
      outcome = await download.start()
    } catch (err: unknown) {
      if (stale !== null && this.#opts.serveStale && isDsmError(err) && STALE_IF_ERROR_CODES.has(err.code)) {
        request.log.warn({ code: err.code, url: target.url.href }, 'upstream unreachable; serving the stale copy')
        return await this.#serveHit(request, reply, target, stale, `dsmirror; fwd=stale; detail=${err.code}`)
      }
      throw err
    }

    switch (outcome.kind) {
      case 'body': {
        const status = initiator
          ? (stale !== null ? 'dsmirror; fwd=stale; fwd-status=200; stored' : 'dsmirror; fwd=miss; stored')
          : 'dsmirror; hit; detail=in-flight'
        return this.#serveDownload(request, reply, download, status)
      }
      case 'not-modified':
        return await this.#serveHit(request, reply, target, outcome.meta, initiator ? 'dsmirror; fwd=stale; fwd-status=304' : 'dsmirror; hit')
      case 'response': {
        if (stale !== null && this.#opts.serveStale && outcome.status >= 500) {
          return await this.#serveHit(request, reply, target, stale, `dsmirror; fwd=stale; fwd-status=${outcome.status}; detail=stale-if-error`)
        }
        const entry = { status: outcome.status, headers: outcome.headers, body: outcome.body }
        if (NEGATIVE_STATUSES.has(outcome.status) && this.#opts.negativeTtl > 0) this.#negative.set(key, entry)
        return this.#sendBuffered(reply, entry, `dsmirror; fwd=miss; fwd-status=${outcome.status}`)
      }
      case 'uncacheable':
        if (initiator) return this.#sendUpstream(reply, outcome.response, `dsmirror; fwd=miss; detail="${outcome.reason}"`)
        return await this.#fetchUncached(request, reply, target)
    }
  }

  #track (key: string, download: Download): void {
    this.#downloads.set(key, download)
    const forget = (): void => {
      if (download.state !== 'committed' && download.state !== 'failed') return
      download.off('change', forget)
      if (this.#downloads.get(key) === download) this.#downloads.delete(key)
    }
    download.on('change', forget)
  }

  async #serveHit (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, meta: EntryMeta, cacheStatus: string): Promise<FastifyReply> {
    const opened = await this.#opts.store.openBody(meta.key)
    if (opened === null) return await this.#fetch(request, reply, target, meta.key, null)
    const { handle } = opened
    const current = opened.meta
    return sendObject(request, reply, {
      size: current.size,
      headers: current.headers,
      etag: current.etag,
      lastModified: current.lastModified,
      open: (start, end) => handle.createReadStream({ start, end: end ?? undefined, highWaterMark: HIT_READ_CHUNK_BYTES, autoClose: false }),
      release: () => { void handle.close().catch(() => {}) }
    }, { 'cache-status': cacheStatus, age: String(this.#age(current)) })
  }

  async #serveDownload (request: FastifyRequest, reply: FastifyReply, download: Download, cacheStatus: string): Promise<FastifyReply> {
    // Without a Content-Length, a Range cannot be placed until the body is complete.
    if (download.size === null && typeof request.headers.range === 'string') await download.settled()
    download.ref()
    return sendObject(request, reply, {
      size: download.finalSize(),
      headers: download.headers,
      etag: download.etag,
      lastModified: download.lastModified,
      open: (start, end) => download.createReader(start, end),
      release: () => download.unref()
    }, { 'cache-status': cacheStatus, age: '0' })
  }

  #age (meta: EntryMeta): number {
    if (meta.immutable) return Math.max(0, Math.floor((this.#opts.now() - meta.fetchedAt) / 1000))
    const policy = CachePolicy.fromObject(meta.policy as unknown as CachePolicy.CachePolicyObject)
    return Math.max(0, Math.floor(policy.age()))
  }

  #sendBuffered (reply: FastifyReply, entry: NegativeEntry, cacheStatus: string): FastifyReply {
    return reply.code(entry.status).headers(entry.headers).header('cache-status', cacheStatus)
      .header('content-length', String(entry.body.length)).send(reply.request.method === 'HEAD' ? undefined : entry.body)
  }

  /** An upstream response passed to one client, uncached; a broken body aborts the client. */
  #sendUpstream (reply: FastifyReply, response: UpstreamResponse, cacheStatus: string): FastifyReply {
    reply.code(response.status).headers(forwardedHeaders(response.headers)).header('cache-status', cacheStatus)
    if (reply.request.method === 'HEAD') {
      response.body.resume()
      return reply.send()
    }
    return reply.send(response.body)
  }

  async #fetchUncached (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget): Promise<FastifyReply> {
    const response = await this.#upstreamRequest(request, target, 'GET')
    return this.#sendUpstream(reply, response, 'dsmirror; fwd=miss; detail=uncacheable')
  }

  /** HEAD on a miss asks the upstream for headers only: a HEAD never starts a 150 GB download. */
  async #forwardHead (reply: FastifyReply, target: MirrorTarget, request: FastifyRequest): Promise<FastifyReply> {
    const response = await this.#upstreamRequest(request, target, 'HEAD')
    return this.#sendUpstream(reply, response, 'dsmirror; fwd=miss')
  }

  async #upstreamRequest (request: FastifyRequest, target: MirrorTarget, method: 'GET' | 'HEAD'): Promise<UpstreamResponse> {
    try {
      return await this.#opts.upstream.request(target.url, { method, headers: this.#upstreamHeaders(request) })
    } catch (err: unknown) {
      throw mapUpstreamError(err, target.url)
    }
  }
}

function policyRequest (request: FastifyRequest, target: MirrorTarget): CachePolicy.Request {
  return { url: target.url.pathname + target.url.search, method: 'GET', headers: request.headers as CachePolicy.Headers }
}

function basename (url: URL): string {
  const path = url.pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
}

