// Starts dsmirror in-process for a test: buildApp on a fresh data directory, HTTP on 127.0.0.1:0,
// upstream trust = the per-run test root only (no OS store, so nothing outside the test PKI is
// trusted), no egress proxy, short retry delays. `mirrorUrl` spells the generic host form.
// With `https: true` (or a listen.https in `config`) the HTTPS listener starts too, on
// 127.0.0.1:0, tls.mode auto unless the config says otherwise.
import { mkdtemp, rm } from 'node:fs/promises'
import type { LookupFunction } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { parseConfig } from '../../config/load-config.js'
import type { DsmirrorConfig } from '../../config/schema.js'
import { buildApp } from '../../server/app.js'
import { startHttpsListener, type HttpsListener, type HttpsListenerDeps } from '../../server/http/https-listener.js'
import { getTestPki } from './pki.js'

export interface TestProxy {
  /** http://127.0.0.1:<port> */
  origin: string
  /** https://127.0.0.1:<port>, when the HTTPS listener runs. */
  httpsOrigin?: string
  https?: HttpsListener
  app: FastifyInstance
  config: DsmirrorConfig
  dataDir: string
  /** The mirror URL of `path` on an upstream `host` (127.0.0.1:<port>): origin/host/path. */
  mirrorUrl: (host: string, path: string) => string
  /** Resolves once no download is in flight and every committed body is durable. */
  idle: () => Promise<void>
  /** Stops the proxy; keeps the data directory (for restart tests) unless `remove` is set. */
  close: (opts?: { remove?: boolean }) => Promise<void>
}

export interface StartProxyOptions {
  /** Upstream hosts (host:port) to allow. */
  allowHosts?: string[]
  /** Raw config merged over the test defaults (same shape as the YAML file). */
  config?: Record<string, unknown>
  /** Reuse a data directory (restart tests). */
  dataDir?: string
  env?: Record<string, string | undefined>
  now?: () => number
  /** Start the HTTPS listener on 127.0.0.1:0. */
  https?: boolean
  /** Test knobs of the HTTPS listener (short leaf lifetimes, reload debounce). */
  httpsDeps?: Omit<HttpsListenerDeps, 'logger'>
  /** Upstream name resolution: a test resolver that answers 127.x only (test/helpers/test-resolver.ts). */
  lookup?: LookupFunction
  /** Where the JSON log lines go (default stdout), for tests that assert what was logged. */
  logStream?: pino.DestinationStream
}

/** Raw config a test proxy starts from; exported for child-process tests that write it to a file. */
export async function testConfig (dataDir: string, opts: StartProxyOptions = {}): Promise<Record<string, unknown>> {
  const pki = await getTestPki()
  const raw: Record<string, unknown> = {
    dataDir,
    listen: { http: { host: '127.0.0.1', port: 0 }, https: false },
    allowHosts: opts.allowHosts ?? [],
    upstream: { caFiles: [pki.files.rootCa], systemStore: false, proxy: 'none', retryDelay: '10ms', timeouts: { connect: '2s', headers: '5s', idle: '5s' } },
    log: { level: process.env.DSMIRROR_TEST_LOG ?? 'silent' }
  }
  if (opts.https === true) raw.listen = { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } }
  return deepMerge(raw, opts.config ?? {})
}

export async function startProxy (opts: StartProxyOptions = {}): Promise<TestProxy> {
  const dataDir = opts.dataDir ?? await mkdtemp(join(tmpdir(), 'dsmirror-test-'))
  const config = parseConfig(await testConfig(dataDir, opts), { env: {}, cwd: dataDir })
  const logger = opts.logStream === undefined ? pino({ level: config.log.level }) : pino({ level: config.log.level }, opts.logStream)
  const app = await buildApp(config, { logger, env: opts.env ?? {}, ...(opts.now !== undefined ? { now: opts.now } : {}), ...(opts.lookup !== undefined ? { lookup: opts.lookup } : {}) })
  const http = config.listen.http
  if (http === false) throw new Error('test proxy needs listen.http')
  let https: HttpsListener | null
  try {
    https = await startHttpsListener(app, config, { logger, ...opts.httpsDeps })
  } catch (err: unknown) {
    await app.close()
    throw err
  }
  const origin = await app.listen({ host: http.host, port: http.port })
  return {
    origin,
    ...(https === null ? {} : { https, httpsOrigin: https.url }),
    app,
    config,
    dataDir,
    mirrorUrl: (host, path) => `${origin}/${host}${path.startsWith('/') ? path : `/${path}`}`,
    idle: async () => { await app.dsmirror.cache.idle() },
    close: async (closeOpts = {}) => {
      await app.close()
      if (closeOpts.remove === true) await rm(dataDir, { recursive: true, force: true })
    }
  }
}

function deepMerge (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = out[key]
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value
  }
  return out
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
