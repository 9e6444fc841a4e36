// Assembles the proxy from its parts; never listens (the CLI entry does). Every long-lived
// resource built here is closed from Fastify's onClose.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import type { LookupFunction } from 'node:net'
import type { Logger } from 'pino'
import { watchCaBundle, type CaBundleWatcher } from '../certs/bundle-reload.js'
import { buildCaBundle, SYSTEM_BUNDLE_PATHS, writeCaBundle, type CaBundle } from '../certs/ca-bundle.js'
import type { DsmirrorConfig } from '../config/schema.js'
import { adminApi } from './routes/admin-api.js'
import { checkAdminRequest, configuredNames } from './routes/admin-guard.js'
import { Allowlist } from './upstream/allowlist.js'
import { connectionsCheckingInterval, createClientErrorHandler, type ClientErrorHandler } from './http/client-errors.js'
import { DiskStore } from './cache/disk-store.js'
import type { CacheStore } from './cache/cache-store.js'
import { answerFrameworkError, registerErrorHandlers } from './http/error-handler.js'
import { registerRequestLog } from './http/request-log.js'
import { isLoopbackAddress, isLoopbackHost } from '../config/loopback.js'
import { Metrics } from './metrics.js'
import { metricsPlugin } from './http/metrics-plugin.js'
import { MirrorCache } from './cache/mirror-cache.js'
import { BlobCache } from './cache/blob-cache.js'
import { SmallObjects } from './cache/small-objects.js'
import { HfMode } from './routes/hf/hf-mode.js'
import { registerHfRoutes } from './routes/hf/hf-routes.js'
import { refuseProxyForms, registerMirrorRoutes } from './routes/mirror.js'
import { registerOpsRoutes } from './routes/ops.js'
import { RecentErrors } from './recent-errors.js'
import { REDACTING_SERIALIZERS } from './http/redact-url.js'
import { statusPage } from './routes/status-page.js'
import { Upstream } from './upstream/upstream.js'
import { buildClusterSingleFlight } from './cluster/cluster-setup.js'
import type { ClusterSingleFlight } from './cluster/single-flight.js'
import { loadOrCreateInterceptionCa } from '../certs/interception-ca.js'
import { LeafContexts } from '../certs/leaf-contexts.js'
import type { LocalCa } from '../certs/local-ca-store.js'
import { ForwardProxy } from './routes/forward-proxy.js'
import { allowedHostEntries, effectivePort } from './upstream/allowed-hosts.js'
import { createForwardProxyMetrics } from './http/forward-proxy-metrics.js'

export const MAX_URL_BYTES = 16 * 1024

export interface AppDeps {
  logger: Logger
  /** Environment for `upstream.proxy: env` (HTTPS_PROXY, NO_PROXY); the CLI passes process.env. */
  env?: Readonly<Record<string, string | undefined>>
  now?: () => number
  /** Upstream name resolution (default dns.lookup); tests answer 127.x names without DNS. */
  lookup?: LookupFunction
  /** Whether a peer address is loopback (admin API without admin.token); tests inject the other answer. */
  isLoopback?: (remoteAddress: string | undefined) => boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    dsmirror: {
      config: DsmirrorConfig
      /**
       * This replica's disk store: the whole store for store.kind disk, the L1 for s3. Typed as
       * the concrete DiskStore so tests can reach its directory layout; production code reads
       * `cacheStore`.
       */
      store: DiskStore
      /** The store this app composed (cache-store.ts): the DiskStore, or the S3Store with it as L1 (issue 19). */
      cacheStore: CacheStore
      cache: MirrorCache
      /** The Hugging Face mode (null when huggingface.mount is false) and its content-addressed blobs. */
      hf: HfMode | null
      blobs: BlobCache
      upstream: Upstream
      caBundle: CaBundle
      caWatcher: CaBundleWatcher
      /** Both listeners' 'clientError' handler (server/http/client-errors.ts), counted in metrics and /_/. */
      clientErrorHandler: ClientErrorHandler
      /** The forward proxy and its interception CA (routes/forward-proxy.ts), null when forwardProxy.enabled is false. */
      forwardProxy: { proxy: ForwardProxy, ca: LocalCa, leaves: LeafContexts } | null
      /** Cross-replica single flight (server/cluster/, issue 19); null unless store.kind s3 with cluster.singleFlight. */
      cluster: ClusterSingleFlight | null
    }
  }
}

export async function buildApp (config: DsmirrorConfig, deps: AppDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now
  // Every `url`, `message` and `err` field this app logs is redacted (issue 12 item 12).
  const log = deps.logger.child({}, { serializers: REDACTING_SERIALIZERS })
  const caBundle = await buildCaBundle({ caFiles: config.upstream.caFiles, systemStore: config.upstream.systemStore })
  await writeCaBundle(caBundle, config.dataDir)
  const expired = caBundle.entries.filter((e) => e.status === 'expired')
  const expiredExtra = expired.filter((e) => e.source !== 'node' && !SYSTEM_BUNDLE_PATHS.includes(e.source))
  // Expired roots in an OS bundle are routine; an expired CA the operator listed is a mistake.
  for (const entry of expiredExtra) log.warn({ subject: entry.subject, notAfter: entry.notAfter, source: entry.source }, 'expired CA certificate in upstream.caFiles left out of the bundle')
  log.info({ trusted: caBundle.certificates.length, expired: expired.length }, 'upstream CA bundle built')

  noteAutoLeafNames(config, log)
  const allowedHosts = allowedHostEntries(config)
  const allowlist = new Allowlist(allowedHosts)
  const upstream = new Upstream({
    ca: caBundle.certificates,
    proxy: config.upstream.proxy,
    env: deps.env ?? {},
    timeouts: config.upstream.timeouts,
    maxRedirects: config.upstream.maxRedirects,
    isAllowed: (url) => allowlist.allows(url.hostname, effectivePort(url)),
    allowAddresses: config.upstream.allowAddresses,
    ...(deps.lookup === undefined ? {} : { lookup: deps.lookup })
  })
  const storeLog = log.child({ module: 'cache' })
  // store.kind s3 (issue 19; docs/s3.md): refused here, before any listener, when the bucket does
  // not answer or ignores conditional writes (unless cluster.singleFlight is false).
  const shared = config.store.kind === 's3'
    // Loaded only for kind s3: the AWS SDK costs ~170 ms of start-up (research/s3-tier.md §5).
    ? await (await import('./cache/s3/open-s3-store.js')).openS3Store({ s3: config.store.s3, singleFlight: config.cluster.singleFlight, dir: config.cache.dir, maxSize: config.cache.maxSize, log: storeLog, now })
    : null
  const disk = shared?.l1 ?? await DiskStore.open({ dir: config.cache.dir, maxSize: config.cache.maxSize, log: storeLog, now })
  const store: CacheStore = shared ?? disk
  const recentErrors = new RecentErrors({ now })
  const cluster = buildClusterSingleFlight(config, log, shared?.bucket ?? null, shared ?? undefined)
  const metrics: Metrics = new Metrics({
    ...(cluster === null ? {} : { cluster: () => cluster.snapshot() }),
    store,
    // Blob downloads (the Hugging Face mode) are downloads in flight too.
    downloads: () => blobs.downloads.size === 0 ? cache.downloads : new Map([...cache.downloads, ...blobs.downloads]),
    recentErrors,
    now,
    ...(shared === null ? {} : { tier: () => shared.tierStats })
  })
  const forward = config.forwardProxy.enabled ? await buildForwardProxy(config, deps, { allowedHosts, allowlist, log, now, metrics, recentErrors }) : null
  const clientErrorHandler = createClientErrorHandler({
    headersTimeoutMs: config.listen.headersTimeout,
    ...(forward === null ? {} : { handleFirst: forward.proxy.handleTunnelError }),
    log: log.child({ module: 'listener' }),
    onRefused: (error) => {
      metrics.countError(error.code)
      recentErrors.record({ code: error.code, status: error.statusCode, method: null, url: '(request never parsed)', message: error.message, reqId: null })
    }
  })
  const cache: MirrorCache = new MirrorCache({
    store,
    upstream,
    ...(cluster === null ? {} : { cluster }),
    immutable: config.cache.immutable,
    revalidateAfter: config.cache.revalidateAfter,
    serveStale: config.cache.serveStale,
    negativeTtl: config.cache.negativeTtl,
    cdnCacheControl: config.cache.cdnCacheControl,
    checksums: config.checksums,
    retries: config.upstream.retries,
    retryDelay: config.upstream.retryDelay,
    minRate: { bytesPerSecond: config.upstream.timeouts.minRate, windowMs: config.upstream.timeouts.minRateWindow },
    orphanTimeout: config.cache.orphanTimeout,
    log,
    now,
    observer: metrics
  })
  const targetOptions = { allowlist, mirrors: config.mirrors }
  const blobs = new BlobCache({
    store,
    upstream,
    retries: config.upstream.retries,
    retryDelay: config.upstream.retryDelay,
    minRate: { bytesPerSecond: config.upstream.timeouts.minRate, windowMs: config.upstream.timeouts.minRateWindow },
    log,
    now,
    observer: metrics
  })
  const records = new SmallObjects({ store, log: log.child({ module: 'hf' }), now })
  const hf = config.huggingface.mount === false
    ? null
    : new HfMode({
      mount: config.huggingface.mount,
      endpoint: config.huggingface.endpoint,
      revisionTtl: config.huggingface.revisionTtl,
      upstream,
      blobs,
      log: log.child({ module: 'hf' }),
      now,
      registry: metrics.registry,
      records,
      ...(forward === null ? {} : { throughTunnel: (request: FastifyRequest) => forward.proxy.isHubTunnel(request.raw) })
    })

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One line per request, written by http/request-log.ts, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_URL_BYTES },
    // Slowloris: a client gets listen.headersTimeout for its request head (Fastify's
    // requestTimeout 0 leaves this the only limit), swept often enough to be that long, not 30 s more.
    // requestTimeout 0 is Fastify's own setting, given here too because Node's constructor
    // refuses a headersTimeout above its default requestTimeout (300 s).
    http: { requestTimeout: 0, headersTimeout: config.listen.headersTimeout, connectionsCheckingInterval: connectionsCheckingInterval(config.listen.headersTimeout) },
    clientErrorHandler,
    frameworkErrors: answerFrameworkError,
    // Tunnel and absolute-form requests become mirror-form here (routes/forward-proxy.ts).
    ...(forward === null ? {} : { rewriteUrl: forward.proxy.rewriteUrl })
  })
  // caFiles changes and SIGHUP (cli.ts) swap the trust store without a restart.
  const caWatcher = await watchCaBundle({
    caFiles: config.upstream.caFiles,
    systemStore: config.upstream.systemStore,
    dataDir: config.dataDir,
    log: log.child({ module: 'ca-bundle' }),
    onBundle: (bundle) => {
      app.dsmirror.caBundle = bundle
      // Not awaited: setCa resolves only once downloads in flight on the old dispatcher finish.
      upstream.setCa(bundle.certificates).catch((err: unknown) => { log.warn({ err }, 'closing the previous upstream dispatcher failed') })
    }
  })
  app.decorate('dsmirror', { config, store: disk, cacheStore: store, cache, hf, blobs, upstream, caBundle, caWatcher, clientErrorHandler, forwardProxy: forward, cluster })
  if (cluster !== null) app.addHook('onClose', async () => { await cluster.close() })
  // What the cache did, set with setCacheStatus (server/cache/cache-status.ts) wherever the header is.
  app.decorateReply('cacheStatus', null)

  // Order matters: hooks run in the order they are added.
  await app.register(metricsPlugin, { metrics, recentErrors }) // first, so it sees refused requests too
  refuseProxyForms(app)
  forward?.proxy.attach(app)
  const serverNames = configuredNames(config)
  app.addHook('onRequest', async (request) => {
    // DNS rebinding and cross-site requests against /_/ (routes/admin-guard.ts), before any route runs.
    const refused = checkAdminRequest(request, config, serverNames)
    if (refused !== null) throw refused
  })
  registerRequestLog(app)
  registerErrorHandlers(app)
  registerOpsRoutes(app, { config, store, proxyCaPem: forward?.ca.certPem ?? null })
  await app.register(statusPage, { config, store, cache, metrics, recentErrors, now, hf, cluster, ...(shared === null ? {} : { tier: { stats: () => shared.tierStats, l1: disk } }) })
  await app.register(adminApi, { targetOptions, isLoopback: deps.isLoopback ?? isLoopbackAddress })
  await registerMirrorRoutes(app, { cache, upstream, targetOptions, ...(forward === null ? {} : { forwardScheme: (req) => forward.proxy.forwardScheme(req) }) })
  if (hf !== null && config.huggingface.mount !== false) await registerHfRoutes(app, { mount: config.huggingface.mount, mode: hf })

  app.addHook('onClose', async () => {
    caWatcher.close()
    await cache.close()
    await blobs.close()
    await records.idle()
    await store.close()
    await upstream.close()
  })
  return app
}

/**
 * The forward proxy (issue 12): its interception CA, constrained to exactly the hosts the
 * allowlist names (re-issued when they change), and the leaves it mints.
 */
async function buildForwardProxy (config: DsmirrorConfig, deps: AppDeps, parts: { allowedHosts: string[], allowlist: Allowlist, log: Logger, now: () => number, metrics: Metrics, recentErrors: RecentErrors }): Promise<{ proxy: ForwardProxy, ca: LocalCa, leaves: LeafContexts }> {
  const { forwardProxy } = config
  const log = parts.log.child({ module: 'forward-proxy' })
  const { ca } = await loadOrCreateInterceptionCa({ dataDir: config.dataDir, allowHosts: parts.allowedHosts, minValidityMs: forwardProxy.leafLifetime, log, now: parts.now })
  const counters = createForwardProxyMetrics({ registry: parts.metrics.registry, recentErrors: parts.recentErrors, countError: (code) => { parts.metrics.countError(code) } })
  const leaves = new LeafContexts({ issuer: ca, lifetimeMs: forwardProxy.leafLifetime, now: parts.now, onMint: counters.countMint })
  const proxy = new ForwardProxy({
    allowlist: parts.allowlist,
    permittedNames: ca.permittedNames ?? [],
    leaves,
    tunnelAllowlist: new Allowlist(forwardProxy.tunnelHosts),
    plainHttpAllowlist: new Allowlist(forwardProxy.plainHttpHosts),
    users: forwardProxy.auth === null || forwardProxy.auth === false ? null : forwardProxy.auth.users,
    allowAddresses: config.upstream.allowAddresses,
    ...(deps.lookup === undefined ? {} : { lookup: deps.lookup }),
    connectTimeoutMs: config.upstream.timeouts.connect,
    hub: hubOf(config),
    log,
    observer: {
      ...counters,
      refused: (error, target) => {
        parts.metrics.countError(error.code)
        parts.recentErrors.record({ code: error.code, status: error.statusCode, method: 'CONNECT', url: target.slice(0, 300), message: error.message, reqId: null })
      }
    }
  })
  return { proxy, ca, leaves }
}

/** The Hub endpoint's host a forward-proxy tunnel is routed to the Hugging Face mode for (issue 12 item 4). */
function hubOf (config: DsmirrorConfig): { host: string, port: number, mount: string } | null {
  if (config.huggingface.mount === false) return null
  const endpoint = new URL(config.huggingface.endpoint)
  // Only an https endpoint is reached through CONNECT; an http one goes the absolute-form way.
  if (endpoint.protocol !== 'https:') return null
  return { host: endpoint.hostname.toLowerCase().replace(/\.$/, ''), port: effectivePort(endpoint), mount: config.huggingface.mount }
}

/**
 * Issue 12 item 14: a listener other machines can reach, with no admin.token, serves them the
 * status page and the admin API's reads, and refuses them every change; say so at start, once.
 */
/**
 * Issue 17: with tls.mode auto on a listener beyond loopback, say which names the local CA's leaf
 * covers; a client on another machine that uses the server's own name fails verification until
 * that name is in tls.hostnames.
 */
function noteAutoLeafNames (config: DsmirrorConfig, log: Logger): void {
  const https = config.listen.https
  if (https === false || config.tls.mode !== 'auto' || isLoopbackHost(https.host)) return
  const names = config.tls.hostnames
  const onlyLoopback = names.every((name) => isLoopbackHost(name))
  const message = `listen.https is open on ${https.host}:${https.port}; its certificate (tls.mode auto) names ${names.join(', ')}. ` +
    (onlyLoopback
      ? 'Clients on other machines fail verification: add the names they use to tls.hostnames (e.g. [localhost, mirror.corp]; DSMIRROR_TLS_HOSTNAMES), then trust the local CA there (dsmirror trust install).'
      : 'Clients must use one of those names and trust the local CA (dsmirror trust install); add the server\'s other names to tls.hostnames.')
  if (onlyLoopback) log.warn({ hostnames: names }, message)
  else log.info({ hostnames: names }, message)
}
