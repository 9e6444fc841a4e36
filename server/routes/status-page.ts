// The status page a person reads (docs/design.md "Operations"): GET /_/ (HTML, status-html.ts) and
// GET /_/api/status (the same snapshot as JSON, for scripts). Read-only; it never changes state.
import { randomBytes, X509Certificate } from 'node:crypto'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { readServedCaPem } from '../../certs/serving-tls.js'
import { isLoopbackHost } from '../../config/loopback.js'
import type { DsmirrorConfig } from '../../config/schema.js'
import type { CacheStore, EntryMeta } from '../cache/cache-store.js'
import type { S3TierStats } from '../cache/s3/s3-store.js'
import type { ClusterSingleFlight, ClusterSnapshot } from '../cluster/single-flight.js'
import { listenerUrls } from '../http/listener-urls.js'
import { FROM_CACHE, type Metrics, type Outcome } from '../metrics.js'
import type { MirrorCache } from '../cache/mirror-cache.js'
import type { HfMode, HfStats } from './hf/hf-mode.js'
import type { RecentError, RecentErrors } from '../recent-errors.js'
import { publicMessage } from '../errors.js'
import { redactUrl } from '../http/redact-url.js'
import { renderLive, renderStatusPage } from './status-html.js'
import { listAll } from '../cache/store-listing.js'

/** Rows in each of the "largest" and "most recent" entry tables. */
export const STATUS_ENTRY_ROWS = 8
/** A Host header used to build the snippets: a name or address and a port, nothing else. */
const PLAIN_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

export interface StatusPageOptions {
  config: DsmirrorConfig
  store: CacheStore
  cache: MirrorCache
  metrics: Metrics
  recentErrors: RecentErrors
  now: () => number
  /** The Hugging Face mode, for its traffic (issue 11 item 7); null when huggingface.mount is false. */
  hf?: HfMode | null
  /** Cross-replica single flight (issue 19 item 7); null when this replica decides alone. */
  cluster?: ClusterSingleFlight | null
  /**
   * store.kind s3 (issue 19 item 7): the tier counters, and this replica's disk, whose entries the
   * page lists (listing the bucket would cost a GET per entry on every refresh).
   */
  tier?: { stats: () => S3TierStats, l1: CacheStore }
}

export interface StatusEntry {
  url: string
  size: number
  fetchedAt: number
}

export interface StatusSnapshot {
  now: number
  startedAt: number
  listeners: string[]
  /** Who can reach the listeners (issue 17): loopback only, or the network with a token, or openly. */
  exposure: Exposure
  ca: { fingerprint256: string | null, subject: string | null, validTo: string | null, problem: string | null }
  cache: { bytes: number, maxSize: number, entries: number, reserved: number, evictions: number }
  /** The S3 store's tier (store.kind s3); null with the disk store. */
  store: (S3TierStats & { kind: 's3' }) | null
  served: {
    requests: Record<Outcome, number>
    bytes: Record<Outcome, number>
    /** Requests served from cache / (those + misses); null before any. */
    hitRatio: number | null
    fromCache: number
    fromUpstream: number
    /** Bytes served without fetching them for that response: what a cache-less setup would have downloaded again. */
    bytesSaved: number
    bytesFromUpstream: number
  }
  downloads: Array<{ key: string, url: string, state: string, written: number, size: number | null, bytesPerSec: number, clients: number, startedAt: number }>
  largest: StatusEntry[]
  recent: StatusEntry[]
  errors: RecentError[]
  snippets: { origin: string, torchvision: string, huggingface: string, curl: string }
  /** Hub traffic of the Hugging Face mode, null when it is off. */
  huggingface: (HfStats & { mount: string }) | null
  /** Leases and peer streaming (issue 19), null unless store.kind s3 with cluster.singleFlight. */
  cluster: ClusterSnapshot | null
}

const plugin: FastifyPluginAsync<StatusPageOptions> = async (app, opts) => {
  const startedAt = opts.now()
  app.get<{ Querystring: { part?: string } }>('/_/', async (request, reply) => {
    const snapshot = await statusSnapshot(app, request, opts, startedAt)
    const nonce = randomBytes(16).toString('base64')
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      // Only this page's own inline style and script run; it loads nothing from anywhere else.
      .header('content-security-policy', `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
      // ?part=live: the part the page's script refreshes.
      .send(request.query.part === 'live' ? renderLive(snapshot) : renderStatusPage(snapshot, nonce))
  })
  app.get('/_/api/status', async (request, reply) => {
    return reply.header('cache-control', 'no-store').send(await statusSnapshot(app, request, opts, startedAt))
  })
}

export type Exposure = 'loopback' | 'network-with-token' | 'network-open'

/** From the config, which refuses an open listener without a token or admin.openOnNetwork. */
export function exposureOf (config: DsmirrorConfig): Exposure {
  const open = [config.listen.http, config.tls.mode === 'off' ? false : config.listen.https]
    .some((listen) => listen !== false && !isLoopbackHost(listen.host))
  if (!open) return 'loopback'
  return config.admin.token !== null ? 'network-with-token' : 'network-open'
}

export const statusPage = plugin

export async function statusSnapshot (app: FastifyInstance, request: FastifyRequest, opts: StatusPageOptions, startedAt: number): Promise<StatusSnapshot> {
  const { store, cache, metrics, recentErrors } = opts
  const now = opts.now()
  const listeners = listenerUrls(app)
  const served = metrics.served()
  const requests = {} as Record<Outcome, number>
  const bytes = {} as Record<Outcome, number>
  let fromCache = 0
  let bytesSaved = 0
  for (const [outcome, tally] of served) {
    requests[outcome] = tally.requests
    bytes[outcome] = tally.bytes
    if (FROM_CACHE.has(outcome)) {
      fromCache += tally.requests
      bytesSaved += tally.bytes
    }
  }
  const fromUpstream = requests.miss ?? 0
  const stats = store.stats
  const entries = await listAll(opts.tier?.l1 ?? store)
  // URLs are shown to every reader: credentials in query strings are redacted (issue 12 item 12).
  const toEntry = (m: EntryMeta): StatusEntry => ({ url: redactUrl(m.url), size: m.size, fetchedAt: m.fetchedAt })
  return {
    now,
    startedAt,
    listeners,
    exposure: exposureOf(opts.config),
    ca: await describeCa(opts.config),
    cache: { bytes: stats.bytes, maxSize: stats.maxSize, entries: stats.entries, reserved: stats.reserved, evictions: stats.evictions },
    store: opts.tier === undefined ? null : { kind: 's3', ...opts.tier.stats() },
    served: {
      requests,
      bytes,
      hitRatio: fromCache + fromUpstream === 0 ? null : fromCache / (fromCache + fromUpstream),
      fromCache,
      fromUpstream,
      bytesSaved,
      bytesFromUpstream: bytes.miss ?? 0
    },
    downloads: [...cache.downloads.values(), ...(opts.hf?.blobDownloads.values() ?? [])].map((d) => {
      const progress = metrics.progress(d)
      return { key: d.key, url: redactUrl(d.url.href), state: d.state, written: d.written, size: d.size, bytesPerSec: progress.bytesPerSec, clients: progress.clients, startedAt: d.startedAt }
    }),
    largest: top(entries, STATUS_ENTRY_ROWS, (m) => m.size).map(toEntry),
    recent: top(entries, STATUS_ENTRY_ROWS, (m) => m.fetchedAt).map(toEntry),
    errors: recentErrors.list(),
    snippets: snippets(requestOrigin(request) ?? listeners[0] ?? 'http://127.0.0.1:8080', opts.config.huggingface.mount),
    huggingface: opts.hf === undefined || opts.hf === null || opts.config.huggingface.mount === false ? null : { mount: opts.config.huggingface.mount, ...opts.hf.stats },
    cluster: opts.cluster?.snapshot() ?? null
  }
}

/**
 * The `count` entries with the highest `score`, highest first, in one pass: a cache can hold a
 * hundred thousand entries, and an open status page asks every second.
 */
function top (entries: readonly EntryMeta[], count: number, score: (meta: EntryMeta) => number): EntryMeta[] {
  const best: Array<{ meta: EntryMeta, score: number }> = []
  for (const meta of entries) {
    const value = score(meta)
    if (best.length === count && value <= (best.at(-1)?.score ?? -Infinity)) continue
    let at = best.length
    while (at > 0 && (best[at - 1]?.score ?? Infinity) < value) at--
    best.splice(at, 0, { meta, score: value })
    if (best.length > count) best.pop()
  }
  return best.map((b) => b.meta)
}

async function describeCa (config: DsmirrorConfig): Promise<StatusSnapshot['ca']> {
  try {
    const cert = new X509Certificate(await readServedCaPem(config))
    return { fingerprint256: cert.fingerprint256, subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo, problem: null }
  } catch (err: unknown) {
    const status = typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'DSM_INTERNAL_ERROR'
    // A damaged CA directory names server paths: readers of the page get what a client would (issue 12 item 12).
    return { fingerprint256: null, subject: null, validTo: null, problem: publicMessage(err, status, code, 'status') }
  }
}

/** The origin the client reached this page at: the URL that works from where it stands. */
function requestOrigin (request: FastifyRequest): string | null {
  const host = request.headers.host
  if (typeof host !== 'string' || !PLAIN_HOST.test(host)) return null
  const encrypted = (request.raw.socket as { encrypted?: boolean }).encrypted === true
  return `${encrypted ? 'https' : 'http'}://${host}`
}

function snippets (origin: string, hfMount: string | false): StatusSnapshot['snippets'] {
  // Over HTTPS a client needs the local CA (or the corporate one) first.
  const https = origin.startsWith('https:')
  const fetchCa = `curl -fo dsmirror-ca.pem ${origin}/_/ca.pem`
  return {
    origin,
    torchvision: `${https ? `# in the shell first: ${fetchCa} && export SSL_CERT_FILE=$PWD/dsmirror-ca.pem\n` : ''}from torchvision import datasets

datasets.MNIST.mirrors = ["${origin}/ossci-datasets.s3.amazonaws.com/mnist/"]
datasets.CIFAR10.url = "${origin}/www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
datasets.MNIST("data", download=True)`,
    // Issue 11: the Hub mode, not the generic /huggingface.co/ route (LFS files lack X-Repo-Commit
    // there, tree pages lead to the Hub). huggingface_hub 1.x (httpx) trusts SSL_CERT_FILE, not
    // REQUESTS_CA_BUNDLE, and its CLI is `hf` (huggingface-cli is gone).
    huggingface: hfMount === false
      ? '# the Hugging Face mode is off (huggingface.mount: false)'
      : `${https ? `${fetchCa}\nexport SSL_CERT_FILE=$PWD/dsmirror-ca.pem\n` : ''}export HF_ENDPOINT=${origin}/${hfMount}
hf download bert-base-uncased config.json`,
    curl: `${https ? `${fetchCa}\n` : ''}curl -fO ${https ? '--cacert dsmirror-ca.pem ' : ''}${origin}/download.pytorch.org/models/resnet18-f37072fd.pth`
  }
}
