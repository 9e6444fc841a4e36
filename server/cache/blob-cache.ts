// Content-addressed bodies (issue 11 item 3: Hugging Face blobs keyed by sha256 or git blob id):
// the same engine as the mirror form (Download over the CacheStore: one upstream transfer per key
// for every client, streamed as it grows, resumable, Range on hits and in flight, the digest
// checked before commit), with the key and the served headers given by the caller instead of
// derived from a URL and its response. Kept apart from mirror-cache.ts on purpose: a blob has no
// freshness, Vary or revalidation, so none of that logic applies, and the two never share keys.
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { failedWith, setCacheStatus, type CacheStatus } from './cache-status.js'
import type { CacheStore } from './cache-store.js'
import { Download, type ExpectedDigest } from './download.js'
import type { CacheObserver } from './mirror-cache.js'
import { inFlightObject, sendObject, storedObject } from './serve-object.js'
import { forwardedHeaders } from './stored-headers.js'
import { isDsmError } from '../errors.js'
import { mapUpstreamError, type Upstream } from '../upstream/upstream.js'

/** One content-addressed body, as the front door knows it before any byte is fetched. */
export interface BlobRequest {
  /** What the content is (`hf-lfs:sha256:<hex>`); the store key is its sha256. */
  id: string
  /** Where to fetch it: redirects (to a CDN) are followed per attempt, so a resume gets a fresh signed URL. */
  url: URL
  /** Headers sent upstream (credentials are dropped on cross-origin hops by the upstream client). */
  upstreamHeaders: Record<string, string>
  digest: ExpectedDigest
  /** The headers every answer carries (ETag, X-Repo-Commit, Content-Type ...), whatever the upstream sent. */
  headers: Record<string, string>
  etag: string
}

export interface BlobCacheOptions {
  store: CacheStore
  upstream: Upstream
  retries: number
  retryDelay: number
  minRate?: { bytesPerSecond: number; windowMs: number }
  log: Logger
  now: () => number
  observer?: CacheObserver
}

/** The store key of a content id: hex sha256, like a URL's key, in a namespace no URL can reach. */
export function blobKey (id: string): string {
  return createHash('sha256').update(`dsmirror-blob:${id}`).digest('hex')
}

export class BlobCache {
  readonly #opts: BlobCacheOptions
  readonly #downloads = new Map<string, Download>()
  readonly #persisting = new Set<Promise<void>>()

  constructor (opts: BlobCacheOptions) {
    this.#opts = opts
  }

  get downloads (): ReadonlyMap<string, Download> {
    return this.#downloads
  }

  /** Whether the body is committed in the store. */
  async has (blob: Pick<BlobRequest, 'id'>): Promise<boolean> {
    return await this.#opts.store.peek(blobKey(blob.id)) !== undefined
  }

  /** Answers GET (and HEAD on a stored body) from the store, the download in flight, or a new one. */
  async serve (request: FastifyRequest, reply: FastifyReply, blob: BlobRequest, status: CacheStatus = { hit: true }): Promise<FastifyReply> {
    const key = blobKey(blob.id)
    if (!this.#downloads.has(key)) {
      const opened = await this.#opts.store.openBody(key)
      if (opened !== null) {
        return await sendObject(request, reply, storedObject(opened, { headers: blob.headers, etag: blob.etag, lastModified: null }), status, {})
      }
    }
    let download = this.#downloads.get(key)
    const initiator = download === undefined
    if (download === undefined) download = this.#start(key, blob)
    let outcome
    try {
      outcome = await download.start()
    } catch (err: unknown) {
      const mapped = isDsmError(err) ? err : mapUpstreamError(err, blob.url)
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    }
    if (outcome.kind === 'body') {
      return this.#serveDownload(request, reply, download, blob, initiator ? { fwd: 'miss', stored: true } : { hit: true, detail: 'in-flight' })
    }
    if (outcome.kind === 'response') {
      // The Hub or its CDN refused the bytes (an expired signature, a 5xx): its status, never a 404
      // turned into a cached absence.
      return setCacheStatus(reply.code(outcome.status).headers(forwardedHeaders(outcome.headers)), { fwd: 'miss', fwdStatus: outcome.status })
        .header('content-length', String(outcome.body.length)).send(request.method === 'HEAD' ? undefined : outcome.body)
    }
    if (outcome.kind === 'uncacheable' && initiator) {
      // No room in the cache: this client still gets the bytes, passed through.
      setCacheStatus(reply.code(outcome.response.status).headers(blob.headers), { fwd: 'miss', detail: outcome.detail ?? { reason: outcome.reason } })
      return reply.send(outcome.response.body)
    }
    // A joiner of a pass-through, or a 304 that cannot happen here: its own uncached copy.
    const response = await this.#opts.upstream.request(blob.url, { method: 'GET', headers: blob.upstreamHeaders }).catch((err: unknown) => {
      const mapped = mapUpstreamError(err, blob.url)
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    })
    setCacheStatus(reply.code(response.status).headers(blob.headers), { fwd: 'miss', detail: 'no-space' })
    return reply.send(response.body)
  }

  #start (key: string, blob: BlobRequest): Download {
    const url = blob.url
    const download = new Download({
      key,
      url,
      upstream: this.#opts.upstream,
      store: this.#opts.store,
      headers: { ...blob.upstreamHeaders, 'accept-encoding': 'identity' },
      policyRequest: { url: url.pathname + url.search, method: 'GET', headers: { host: url.host } },
      immutable: true,
      contentAddressed: true,
      digest: blob.digest,
      retries: this.#opts.retries,
      retryDelay: this.#opts.retryDelay,
      revalidate: null,
      ...(this.#opts.minRate === undefined ? {} : { minRate: this.#opts.minRate }),
      log: this.#opts.log.child({ module: 'download' }),
      now: this.#opts.now
    })
    this.#downloads.set(key, download)
    this.#opts.observer?.downloadStarted(download)
    const forget = (): void => {
      if (download.state !== 'committed' && download.state !== 'failed') return
      download.off('change', forget)
      if (this.#downloads.get(key) === download) this.#downloads.delete(key)
      if (download.state === 'committed') {
        const durable = download.durable()
        this.#persisting.add(durable)
        void durable.then(() => this.#persisting.delete(durable))
      }
    }
    download.on('change', forget)
    return download
  }

  #serveDownload (request: FastifyRequest, reply: FastifyReply, download: Download, blob: BlobRequest, status: CacheStatus): Promise<FastifyReply> {
    download.ref()
    this.#opts.observer?.clientsChanged(download, 1)
    return sendObject(request, reply, inFlightObject(download, () => {
      const failure = download.failure()
      const sent = reply.cacheStatus
      if (failure !== null && isDsmError(failure) && reply.raw.headersSent && sent !== null && sent.error === undefined) {
        setCacheStatus(reply, failedWith(sent, failure.code))
      }
      this.#opts.observer?.clientsChanged(download, -1)
      download.unref()
    }, { headers: blob.headers, etag: blob.etag, lastModified: null }), status, {})
  }

  /** Suspends downloads in flight (resumable after restart) and waits for committed ones to be durable. */
  async close (): Promise<void> {
    await Promise.all([...this.#downloads.values()].map(async (d) => { await d.close() }))
    while (this.#downloads.size > 0 || this.#persisting.size > 0) {
      await Promise.all([...[...this.#downloads.values()].map(async (d) => { await d.settled().catch(() => {}) }), ...this.#persisting])
    }
  }
}
