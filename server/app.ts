// Assembles the proxy from its parts; never listens (the CLI entry does). Every long-lived
// resource built here is closed from Fastify's onClose.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import replyFrom from '@fastify/reply-from'
import { isIP, type LookupFunction } from 'node:net'
import type { Logger } from 'pino'
import { watchCaBundle, type CaBundleWatcher } from '../certs/bundle-reload.js'
import { buildCaBundle, SYSTEM_BUNDLE_PATHS, writeCaBundle, type CaBundle } from '../certs/ca-bundle.js'
import { readServedCaPem } from '../certs/serving-tls.js'
import type { DsmirrorConfig } from '../config/schema.js'
import { adminApi } from './routes/admin-api.js'
import { checkAdminRequest, configuredNames } from './routes/admin-guard.js'
import { Allowlist } from './upstream/allowlist.js'
import { connectionsCheckingInterval, createClientErrorHandler, type ClientErrorHandler } from './http/client-errors.js'
import { LOCAL, outcomeOf, renderCacheStatus, setCacheStatus } from './cache/cache-status.js'
import { DiskStore } from './cache/disk-store.js'
import { BadPathError, clientError, NotFoundError } from './errors.js'
import { isLoopbackAddress } from './http/loopback.js'
import { Metrics } from './metrics.js'
import { metricsPlugin } from './http/metrics-plugin.js'
import { MirrorCache } from './cache/mirror-cache.js'
import { parseMirrorTarget, type MirrorTarget } from './routes/mirror-target.js'
import { RecentErrors } from './recent-errors.js'
import { REDACTING_SERIALIZERS } from './http/redact-url.js'
import { statusPage } from './routes/status-page.js'
import { mapUpstreamError, Upstream } from './upstream/upstream.js'

export const MAX_URL_BYTES = 16 * 1024
const CACHED_METHODS = ['GET', 'HEAD'] as const
const PASSED_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

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
       * The store this app composed. Production code reads it as a CacheStore (cache-store.ts);
       * it is typed as the concrete DiskStore so tests can reach its directory layout.
       */
      store: DiskStore
      cache: MirrorCache
      upstream: Upstream
      caBundle: CaBundle
      caWatcher: CaBundleWatcher
      /** Both listeners' 'clientError' handler (server/http/client-errors.ts), counted in metrics and /_/. */
      clientErrorHandler: ClientErrorHandler
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

  warnOpenListenersWithoutToken(config, log)
  const allowlist = new Allowlist([...config.allowHosts, ...Object.values(config.mirrors).map((m) => hostEntry(new URL(m.url)))])
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
  const store = await DiskStore.open({ dir: config.cache.dir, maxSize: config.cache.maxSize, log: log.child({ module: 'cache' }), now })
  const recentErrors = new RecentErrors({ now })
  const metrics: Metrics = new Metrics({ store, downloads: () => cache.downloads, recentErrors, now })
  const clientErrorHandler = createClientErrorHandler({
    headersTimeoutMs: config.listen.headersTimeout,
    log: log.child({ module: 'listener' }),
    onRefused: (error) => {
      metrics.countError(error.code)
      recentErrors.record({ code: error.code, status: error.statusCode, method: null, url: '(request never parsed)', message: error.message, reqId: null })
    }
  })
  const cache: MirrorCache = new MirrorCache({
    store,
    upstream,
    immutable: config.cache.immutable,
    revalidateAfter: config.cache.revalidateAfter,
    serveStale: config.cache.serveStale,
    negativeTtl: config.cache.negativeTtl,
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

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_URL_BYTES },
    // Slowloris: a client gets listen.headersTimeout for its request head (Fastify's
    // requestTimeout 0 leaves this the only limit), swept often enough to be that long, not 30 s more.
    // requestTimeout 0 is Fastify's own setting, given here too because Node's constructor
    // refuses a headersTimeout above its default requestTimeout (300 s).
    http: { requestTimeout: 0, headersTimeout: config.listen.headersTimeout, connectionsCheckingInterval: connectionsCheckingInterval(config.listen.headersTimeout) },
    clientErrorHandler,
    // Malformed targets that the router itself rejects still get a DSM code.
    // These replies skip the error handler and hooks, so the body and Cache-Status are written here
    // in the same shape (a %zz or overlong UTF-8 target, the CVE-2000-0884 class, lands here).
    frameworkErrors: (err, request, reply) => {
      const error = new BadPathError(request.raw.url ?? '', err.message)
      void setCacheStatus((reply as FastifyReply).code(error.statusCode), { error: error.code })
        .type('application/json; charset=utf-8').send({ statusCode: error.statusCode, code: error.code, error: error.message })
    }
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
  app.decorate('dsmirror', { config, store, cache, upstream, caBundle, caWatcher, clientErrorHandler })
  // What the cache did, set with setCacheStatus (server/cache/cache-status.ts) wherever the header is.
  app.decorateReply('cacheStatus', null)
  // First, so its hooks see every request, refused ones included.
  await app.register(metricsPlugin, { metrics, recentErrors })

  app.addHook('onRequest', async (request) => {
    // Absolute-form (`GET http://host/ HTTP/1.1`) and authority-form targets are proxy requests
    // for someone else: dsmirror is a mirror, not an open forward proxy.
    if (!(request.raw.url ?? '').startsWith('/')) throw new BadPathError(request.raw.url ?? '', 'absolute-form and authority-form targets are not accepted')
  })
  // DNS rebinding and cross-site requests against /_/ (server/routes/admin-guard.ts), before any route runs.
  const serverNames = configuredNames(config)
  app.addHook('onRequest', async (request) => {
    const refused = checkAdminRequest(request, config, serverNames)
    if (refused !== null) throw refused
  })
  // RFC 9211 on every response: the cached path and the error handler say what happened; the
  // proxy's own pages were never a cache matter.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.cacheStatus === null) setCacheStatus(reply, LOCAL)
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    const cacheStatus = reply.cacheStatus
    request.log.info({
      method: request.method,
      url: request.raw.url,
      status: reply.statusCode,
      cache: cacheStatus === null ? undefined : renderCacheStatus(cacheStatus),
      outcome: outcomeOf(cacheStatus, reply.statusCode),
      bytes: Number(reply.getHeader('content-length') ?? 0),
      ms: Math.round(reply.elapsedTime)
    }, 'request')
  })

  app.setErrorHandler(async (err: unknown, request, reply) => {
    const { status, code, message } = clientError(err, String(request.id))
    if (status >= 500) request.log.error({ err, code }, 'request failed')
    else request.log.info({ code, message }, 'request refused')
    if (reply.cacheStatus === null) setCacheStatus(reply, { error: code })
    return reply.code(status).type('application/json; charset=utf-8').send({ statusCode: status, code, error: message })
  })
  app.setNotFoundHandler(async (request) => {
    throw new NotFoundError(request.raw.url ?? '')
  })

  await app.register(replyFrom, {
    // A thin wrapper so a swapped trust store (upstream.setCa) reaches pass-through requests too.
    undici: { request: (...args: Parameters<Upstream['dispatcher']['request']>) => upstream.dispatcher.request(...args) } as unknown as Upstream['dispatcher'],
    http2: false
  })

  // 503 with the reason when the cache directory cannot be written (issue 12 item 4), so an
  // orchestrator's probe (docker/healthcheck.mjs, the k8s manifests) restarts or alerts.
  app.get('/_/healthz', async (_request, reply) => {
    const health = await store.health()
    if (health.ok) return { status: 'ok' }
    return await reply.code(503).send({ status: 'unhealthy', reason: health.reason })
  })
  await app.register(statusPage, { config, store, cache, metrics, recentErrors, now })
  await app.register(adminApi, { targetOptions, isLoopback: deps.isLoopback ?? isLoopbackAddress })
  // The CA a client installs to trust the HTTPS listener; on every listener, so a client can
  // fetch it over plain HTTP before it trusts anything. A certificate only, never a key.
  app.get('/_/ca.pem', async (_request, reply) => {
    const pem = await readServedCaPem(config)
    return reply
      .type('application/x-pem-file')
      .header('content-disposition', 'attachment; filename="dsmirror-ca.pem"')
      // The CA can be replaced (new tls.hostnames, new files): always ask again.
      .header('cache-control', 'no-cache')
      .send(pem)
  })

  const resolveTarget = (request: FastifyRequest): MirrorTarget => {
    const raw = request.raw.url ?? ''
    if (raw === '/_' || raw.startsWith('/_/') || raw.startsWith('/_?')) throw new NotFoundError(raw)
    return parseMirrorTarget(raw, targetOptions)
  }

  app.route({
    method: [...CACHED_METHODS],
    url: '/*',
    exposeHeadRoute: false,
    handler: async (request, reply) => await cache.handle(request, reply, resolveTarget(request))
  })

  await app.register(async (passThrough) => {
    // Pass-through bodies stream upstream untouched, whatever their type.
    passThrough.removeAllContentTypeParsers()
    passThrough.addContentTypeParser('*', (_request, payload, done) => { done(null, payload) })
    passThrough.route({
      method: [...PASSED_METHODS],
      url: '/*',
      handler: async (request, reply) => passThroughRequest(request, reply, resolveTarget(request))
    })
  })

  app.addHook('onClose', async () => {
    caWatcher.close()
    await cache.close()
    await store.close()
    await upstream.close()
  })
  return app
}

/**
 * Issue 12 item 14: a listener other machines can reach, with no admin.token, serves them the
 * status page and the admin API's reads, and refuses them every change; say so at start, once.
 */
function warnOpenListenersWithoutToken (config: DsmirrorConfig, log: Logger): void {
  if (config.admin.token !== null) return
  const open: string[] = []
  for (const [scheme, listen] of [['http', config.listen.http], ['https', config.tls.mode === 'off' ? false : config.listen.https]] as const) {
    if (listen === false) continue
    const host = listen.host.toLowerCase()
    const loopback = isIP(host) !== 0 ? isLoopbackAddress(host) : host === 'localhost'
    if (!loopback) open.push(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${listen.port}`)
  }
  if (open.length === 0) return
  log.warn({ listeners: open }, 'a listener is reachable from other machines and admin.token is not set: they can read the status page and /_/api/, and every change (delete, pin, prefetch) is refused to them. Set admin.token (e.g. openssl rand -hex 32) to manage the cache from other machines, or bind the listener to 127.0.0.1.')
}

/** Non-GET/HEAD requests (the Hugging Face API POSTs) go upstream uncached, same CA, proxy and allowlist. */
function passThroughRequest (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget): FastifyReply {
  return reply.from(target.url.href, {
    rewriteRequestHeaders: (_req, headers) => {
      const { host: _host, ...rest } = headers
      return rest
    },
    rewriteHeaders: (headers) => {
      // The upstream's own Cache-Status (a chained cache) is not what this cache did.
      const { 'cache-status': _upstream, ...rest } = headers
      setCacheStatus(reply, { fwd: 'method' })
      return rest
    },
    onError: (errorReply, { error }) => {
      const mapped = mapUpstreamError(error, target.url)
      void setCacheStatus(errorReply, { fwd: 'method', error: mapped.code }).send(mapped)
    }
  })
}

function hostEntry (url: URL): string {
  return `${url.hostname}:${effectivePort(url)}`
}

/** The port a URL connects to: its own, or its scheme's default. */
function effectivePort (url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443
}
