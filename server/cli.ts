// The CLI entry: the only place that reads process.env and argv, listens, handles signals and
// exits (the fastify/demo app.ts + server.ts split). `dsmirror serve` runs the proxy.
import { createRequire } from 'node:module'
import { Command } from 'commander'
import type { FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import { loadConfig } from '../config/load-config.js'
import type { DsmirrorConfig } from '../config/schema.js'
import { buildApp } from './app.js'
import { isDsmError } from './errors.js'

/** How long a graceful shutdown may take before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 8_000
/** Time left for checkpointing in-flight downloads at the end of the grace period. */
export const SUSPEND_BEFORE_EXIT_MS = 2_000
const EXIT_CONFIG = 2
const EXIT_FAILURE = 1

const require = createRequire(import.meta.url)
const { version } = require('../../package.json') as { version: string }

function createLogger (config: Pick<DsmirrorConfig, 'log'>): Logger {
  const options = {
    level: config.log.level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]', 'headers.authorization'], censor: '[redacted]' }
  }
  // Pretty only for a person at a terminal; JSON lines for everything else.
  if (process.stdout.isTTY === true) {
    try {
      require.resolve('pino-pretty')
      return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } })
    } catch {}
  }
  return pino(options)
}

async function serve (opts: { config?: string }): Promise<void> {
  const config = await loadConfig({ ...(opts.config !== undefined ? { file: opts.config } : {}), env: process.env, cwd: process.cwd() })
  const log = createLogger(config)
  const app = await buildApp(config, { logger: log, env: process.env })
  const urls = await listen(app, config)
  log.info({ version, urls, dataDir: config.dataDir, cacheDir: config.cache.dir, maxSize: config.cache.maxSize, allowHosts: config.allowHosts.length, mirrors: Object.keys(config.mirrors) }, 'dsmirror is serving')
  handleSignals(app, log)
}

async function listen (app: FastifyInstance, config: DsmirrorConfig): Promise<string[]> {
  const urls: string[] = []
  const http = config.listen.http
  if (http !== false) urls.push(await app.listen({ host: http.host, port: http.port }))
  if (urls.length === 0) throw new Error('No listener is enabled: set listen.http (the HTTPS listener arrives with tls.mode).')
  return urls
}

function handleSignals (app: FastifyInstance, log: Logger): void {
  let closing = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT_FAILURE)
    }
    closing = true
    log.info({ signal }, 'shutting down: finishing responses, keeping downloads resumable')
    // Responses get most of the grace period; then in-flight downloads are checkpointed and
    // suspended (their clients aborted, never ended cleanly) so a restart resumes them.
    const suspend = setTimeout(() => { void app.dsmirror.cache.close() }, SHUTDOWN_GRACE_MS - SUSPEND_BEFORE_EXIT_MS)
    const timer = setTimeout(() => {
      log.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown grace period over: exiting')
      process.exit(0)
    }, SHUTDOWN_GRACE_MS)
    suspend.unref()
    timer.unref()
    app.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'error while shutting down')
      process.exit(EXIT_FAILURE)
    })
  }
  // A Node process as PID 1 in a container gets no default SIGTERM handling.
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
}

const program = new Command()
  .name('dsmirror')
  .description('A local HTTPS caching proxy for dataset mirrors.')
  .version(version)

program.command('serve')
  .description('Run the proxy (the default listener is http://127.0.0.1:8080).')
  .option('-c, --config <file>', 'YAML or JSON config file (default: $DSMIRROR_CONFIG, else built-in defaults)')
  .action(serve)

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isDsmError(err)) {
    process.stderr.write(`dsmirror: ${err.code}: ${err.message}\n`)
    process.exit(err.code === 'DSM_CONFIG_INVALID' ? EXIT_CONFIG : EXIT_FAILURE)
  }
  process.stderr.write(`dsmirror: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(EXIT_FAILURE)
})
