// What the proxy did, counted (docs/design.md "Operations"): the Prometheus metrics behind /_/metrics
// and the figures of the status page. One prom-client Registry per Metrics, never the global one:
// tests build many apps in one process, and each must count only its own requests.
// Live state (downloads in flight, cache size) is read when scraped, through collect callbacks;
// events (responses, errors, upstream bytes) are counted as they happen. The cache reports its
// downloads and their clients through the CacheObserver interface (mirror-cache.ts).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { OUTCOMES, type Outcome } from './cache/cache-status.js'
import type { CacheStore } from './cache/cache-store.js'
import type { Download } from './cache/download.js'
import type { S3TierStats } from './cache/s3/s3-store.js'
import { isDsmError } from './errors.js'
import type { CacheObserver } from './cache/mirror-cache.js'
import type { RecentErrors } from './recent-errors.js'
import type { ClusterSnapshot } from './cluster/single-flight.js'

// The outcomes are defined, and derived from the typed CacheStatus, in server/cache/cache-status.ts.
export { cacheOutcome, FROM_CACHE, OUTCOMES, type Outcome } from './cache/cache-status.js'
/** Upstream time to first byte: from a download's start to its response headers. */
export const TTFB_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** A download's rate is measured over this much recent progress. */
export const RATE_WINDOW_MS = 5_000
const RATE_SAMPLE_MS = 200

export interface MetricsOptions {
  store: Pick<CacheStore, 'stats'>
  /** The downloads in flight (MirrorCache#downloads), read at scrape time. */
  downloads: () => ReadonlyMap<string, Download>
  recentErrors: RecentErrors
  now?: () => number
  /** The S3 store's tier counters (issue 19 item 7; s3-store.ts); absent with store.kind disk. */
  tier?: () => S3TierStats
  /** Cross-replica single flight (server/cluster/, issue 19 item 7), read at scrape time; absent: no cluster metrics. */
  cluster?: () => ClusterSnapshot
}

export interface DownloadProgress {
  /** Clients reading the download now. */
  clients: number
  /** Bytes per second over the last RATE_WINDOW_MS. */
  bytesPerSec: number
}

interface Tracked {
  clients: number
  responded: boolean
  streamed: boolean
  settled: boolean
  counted: number
  /** [time, bytes written], oldest first, within RATE_WINDOW_MS. */
  samples: Array<[number, number]>
}

export class Metrics implements CacheObserver {
  readonly registry = new Registry()
  readonly #opts: MetricsOptions
  readonly #now: () => number
  readonly #tracked = new Map<Download, Tracked>()
  readonly #served = new Map<Outcome, { requests: number, bytes: number }>(OUTCOMES.map((o) => [o, { requests: 0, bytes: 0 }]))
  readonly #requests: Counter<'outcome'>
  readonly #servedBytes: Counter<'outcome'>
  readonly #upstreamBytes: Counter
  readonly #downloadsStarted: Counter
  readonly #coalesced: Counter
  readonly #errors: Counter<'code'>
  readonly #ttfb: Histogram

  constructor (opts: MetricsOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
    const registers = [this.registry]
    const { store, downloads } = opts
    this.#requests = new Counter({ name: 'dsmirror_requests_total', help: 'Responses by cache outcome (hit, coalesced, revalidated, stale, miss, bypass, error, local).', labelNames: ['outcome'], registers })
    this.#servedBytes = new Counter({ name: 'dsmirror_served_bytes_total', help: 'Response body bytes written to clients, by cache outcome.', labelNames: ['outcome'], registers })
    this.#upstreamBytes = new Counter({ name: 'dsmirror_upstream_bytes_total', help: 'Body bytes received from upstreams into the cache.', registers })
    this.#downloadsStarted = new Counter({ name: 'dsmirror_downloads_total', help: 'Upstream downloads started (one per key, however many clients).', registers })
    this.#coalesced = new Counter({ name: 'dsmirror_coalesced_clients_total', help: 'Responses served by joining a download already in flight instead of starting one.', registers })
    this.#errors = new Counter({ name: 'dsmirror_errors_total', help: 'Errors by DSM_* code: error responses, and downloads that failed after their response had started.', labelNames: ['code'], registers })
    this.#ttfb = new Histogram({ name: 'dsmirror_upstream_ttfb_seconds', help: 'Time from the start of an upstream download to its response headers.', buckets: TTFB_BUCKETS_SECONDS, registers })
    const tracked = this.#tracked
    let evictions = store.stats.evictions
    // Every code a response can carry starts at 0, so rate() and absent() work from the first scrape.
    for (const outcome of OUTCOMES) {
      this.#requests.inc({ outcome }, 0)
      this.#servedBytes.inc({ outcome }, 0)
    }
    /* eslint-disable no-new -- registered in the registry, read only through it */
    new Gauge({ name: 'dsmirror_downloads_in_flight', help: 'Upstream downloads in flight.', registers, collect () { this.set(downloads().size) } })
    new Gauge({
      name: 'dsmirror_download_clients',
      help: 'Clients reading downloads that are still in flight.',
      registers,
      collect () {
        let clients = 0
        for (const download of downloads().values()) clients += tracked.get(download)?.clients ?? 0
        this.set(clients)
      }
    })
    new Counter({
      name: 'dsmirror_cache_evictions_total',
      help: 'Cache entries evicted to stay under cache.maxSize.',
      registers,
      collect () {
        const now = store.stats.evictions
        if (now > evictions) this.inc(now - evictions)
        evictions = now
      }
    })
    new Gauge({ name: 'dsmirror_cache_bytes', help: 'Bytes of committed cache entries.', registers, collect () { this.set(store.stats.bytes) } })
    new Gauge({ name: 'dsmirror_cache_entries', help: 'Committed cache entries.', registers, collect () { this.set(store.stats.entries) } })
    new Gauge({ name: 'dsmirror_cache_max_bytes', help: 'cache.maxSize.', registers, collect () { this.set(store.stats.maxSize) } })
    if (opts.tier !== undefined) registerTierMetrics(registers, opts.tier)
    if (opts.cluster !== undefined) registerClusterMetrics(registers, opts.cluster)
    /* eslint-enable no-new */
    collectDefaultMetrics({ register: this.registry })
  }

  /** Prometheus text exposition format. */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }

  /** One response, once it has ended (finished or aborted). */
  observeResponse (outcome: Outcome, bytes: number): void {
    this.#requests.inc({ outcome })
    if (bytes > 0) this.#servedBytes.inc({ outcome }, bytes)
    if (outcome === 'coalesced') this.#coalesced.inc()
    const served = this.#served.get(outcome)
    if (served !== undefined) {
      served.requests++
      served.bytes += bytes
    }
  }

  countError (code: string): void {
    this.#errors.inc({ code })
  }

  /** Requests and bytes by outcome since start, for the status page. */
  served (): ReadonlyMap<Outcome, { requests: number, bytes: number }> {
    return this.#served
  }

  progress (download: Download): DownloadProgress {
    const tracked = this.#tracked.get(download)
    if (tracked === undefined) return { clients: 0, bytesPerSec: 0 }
    const now = this.#now()
    const oldest = tracked.samples.find(([at]) => at >= now - RATE_WINDOW_MS)
    const elapsed = oldest === undefined ? 0 : now - oldest[0]
    const bytesPerSec = oldest === undefined || elapsed <= 0 ? 0 : (download.written - oldest[1]) / (elapsed / 1000)
    return { clients: tracked.clients, bytesPerSec: Math.max(0, bytesPerSec) }
  }

  // CacheObserver
  downloadStarted (download: Download): void {
    this.#downloadsStarted.inc()
    const tracked: Tracked = { clients: 0, responded: false, streamed: false, settled: false, counted: 0, samples: [] }
    this.#tracked.set(download, tracked)
    const onChange = (): void => {
      const state = download.state
      const now = this.#now()
      if (!tracked.responded && state !== 'starting') {
        tracked.responded = true
        // Bytes already on disk when it starts are a resumed prefix, not upstream traffic; and a
        // resume re-hashes that prefix before its request, so it has no meaningful TTFB.
        tracked.counted = download.written
        const noResponse = state === 'failed' && download.failure() !== null
        if (!noResponse && download.written === 0) this.#ttfb.observe((now - download.startedAt) / 1000)
        tracked.samples.push([now, download.written])
      }
      if (state === 'streaming') tracked.streamed = true
      const delta = download.written - tracked.counted
      if (delta > 0) {
        this.#upstreamBytes.inc(delta)
        tracked.counted = download.written
        const last = tracked.samples.at(-1)
        if (last === undefined || now - last[0] >= RATE_SAMPLE_MS) {
          tracked.samples.push([now, download.written])
          while ((tracked.samples[0]?.[0] ?? now) < now - 2 * RATE_WINDOW_MS) tracked.samples.shift()
        }
      }
      if (state !== 'committed' && state !== 'failed') return
      download.off('change', onChange)
      tracked.settled = true
      const failure = download.failure()
      // A failure before the response is an error response for every waiting client (counted
      // there); after it, the clients' connections were aborted and this is the only record.
      if (state === 'failed' && tracked.streamed && failure !== null) {
        const code = isDsmError(failure) ? failure.code : 'DSM_INTERNAL_ERROR'
        this.countError(code)
        this.#opts.recentErrors.record({ code, status: null, method: null, url: download.url.href, message: failure.message, reqId: null })
      }
      if (tracked.clients === 0) this.#tracked.delete(download)
    }
    download.on('change', onChange)
  }

  clientsChanged (download: Download, delta: 1 | -1): void {
    const tracked = this.#tracked.get(download)
    if (tracked === undefined) return
    tracked.clients = Math.max(0, tracked.clients + delta)
    if (tracked.settled && tracked.clients === 0) this.#tracked.delete(download)
  }
}

/**
 * A counter that follows a total kept elsewhere (the S3 store's, the cluster's), read when scraped:
 * it grows by what the total grew since the last scrape.
 */
function followingCounter (registers: Registry[], name: string, help: string, read: () => number): void {
  let seen = read()
  // eslint-disable-next-line no-new -- registered in the registry, read only through it
  new Counter({
    name,
    help,
    registers,
    collect () {
      const now = read()
      if (now > seen) this.inc(now - seen)
      seen = now
    }
  })
}

/** The S3 store's tier (issue 19 item 7): counters kept by S3Store, read at scrape time. */
function registerTierMetrics (registers: Registry[], tier: () => S3TierStats): void {
  const counter = (name: string, help: string, read: (t: S3TierStats) => number): void => { followingCounter(registers, name, help, () => read(tier())) }
  counter('dsmirror_store_l1_hits_total', 'Bodies opened from this replica\'s disk (L1) with store.kind s3.', (t) => t.l1Hits)
  counter('dsmirror_store_s3_hits_total', 'Bodies opened from the S3 bucket (L1 misses).', (t) => t.s3Hits)
  counter('dsmirror_store_uploaded_bytes_total', 'Body bytes uploaded to the S3 bucket.', (t) => t.bytesUploaded)
  counter('dsmirror_store_uploads_aborted_total', 'Multipart uploads aborted after a failure.', (t) => t.uploadsAborted)
  counter('dsmirror_store_uploads_skipped_total', 'Commits not uploaded: a cluster follower\'s copy (the leader uploads it), or a body the bucket already held.', (t) => t.uploadsSkipped)
  counter('dsmirror_store_orphans_swept_total', 'Orphan data objects and stale multipart uploads the sweeper removed.', (t) => t.orphansSwept)
  counter('dsmirror_store_bucket_evictions_total', 'Entries this replica evicted from the bucket to stay under store.s3.maxSize.', (t) => t.bucketEvictions)
  /* eslint-disable no-new -- registered in the registry, read only through it */
  new Gauge({ name: 'dsmirror_store_bucket_bytes', help: 'Bytes in the bucket as this replica knows it.', registers, collect () { this.set(tier().bucketBytes) } })
  new Gauge({ name: 'dsmirror_store_bucket_entries', help: 'Entries in the bucket as this replica knows it.', registers, collect () { this.set(tier().bucketEntries) } })
  new Gauge({ name: 'dsmirror_store_bucket_max_bytes', help: 'store.s3.maxSize.', registers, collect () { this.set(tier().bucketMaxSize) } })
  /* eslint-enable no-new */
}

type CountedField = 'acquired' | 'takenOver' | 'lost' | 'peerBytes'

/** Issue 19 item 7: leases and peer streaming of this replica, read from the coordinator when scraped. */
function registerClusterMetrics (registers: Registry[], cluster: () => ClusterSnapshot): void {
  /* eslint-disable no-new -- registered in the registry, read only through it */
  new Gauge({ name: 'dsmirror_cluster_leases_held', help: 'Download leases this replica holds now (keys it downloads for the whole cluster).', registers, collect () { this.set(cluster().leasesHeld) } })
  new Gauge({ name: 'dsmirror_cluster_followers_waiting', help: 'Downloads of this replica waiting for a leader to serve them (lease re-reads in progress).', registers, collect () { this.set(cluster().followersWaiting) } })
  new Gauge({ name: 'dsmirror_cluster_followers_streaming', help: 'Downloads of this replica streaming from another replica (the leader) now.', registers, collect () { this.set(cluster().followersStreaming) } })
  /* eslint-enable no-new */
  const counters: Array<[string, string, CountedField]> = [
    ['dsmirror_cluster_leases_acquired_total', 'Leases won by creating them (this replica led a new download).', 'acquired'],
    ['dsmirror_cluster_leases_taken_over_total', 'Stale or released leases this replica took over (a leader died, or finished, before).', 'takenOver'],
    ['dsmirror_cluster_leases_lost_total', 'Leases lost to another replica\'s takeover (a heartbeat was refused: fenced).', 'lost'],
    ['dsmirror_cluster_peer_bytes_total', 'Body bytes this replica received from leaders over the peer listener.', 'peerBytes']
  ]
  for (const [name, help, field] of counters) followingCounter(registers, name, help, () => cluster()[field])
}
