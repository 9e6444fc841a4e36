// The CLI entry: the only place that reads process.env and argv, listens, handles signals and
// exits (the fastify/demo app.ts + server.ts split). `dsmirror serve` runs the proxy; each other
// command group registers itself below (one line each).
import { existsSync } from 'node:fs'
import type net from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError } from 'commander'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { DsmirrorConfig } from '../../config/schema.js'
import { buildApp } from '../app.js'
import { registerCacheCommands } from './cli-cache.js'
import { registerCertsCommands } from './cli-certs.js'
import { registerPrefetchCommand } from './cli-prefetch.js'
import { registerTrustCommands } from './cli-trust.js'
import { CommandRefusedError, CONFIG_FLAGS, CONFIG_FLAGS_HELP, createLogger, loadCliConfig, type ConfigOption } from './cli-common.js'
import { isDsmError } from '../errors.js'
import { startHttpsListener } from '../http/https-listener.js'
import { listenOnIpv6Loopback } from '../http/ipv6-loopback.js'
import { recordListenerUrl } from '../http/listener-urls.js'
import { startPeerListener } from '../cluster/cluster-setup.js'

/** How long a graceful shutdown may take before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 8_000
/** Time left for checkpointing in-flight downloads at the end of the grace period. */
export const SUSPEND_BEFORE_EXIT_MS = 2_000
const EXIT_CONFIG = 2
/** The command line could not be parsed (unknown command or option, missing or extra argument). */
const EXIT_USAGE = 2
const EXIT_FAILURE = 1

const require = createRequire(import.meta.url)
/**
 * This file runs as dist/server/cli/cli.js (the published entry) and, in tests, from source one
 * level less deep, so the package's own package.json is found by walking up, not by a fixed path.
 */
function readPackageVersion (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json')
    if (existsSync(candidate)) {
      const pkg = require(candidate) as { name?: string, version?: string }
      if (pkg.name === 'dsmirror' && typeof pkg.version === 'string') return pkg.version
    }
    if (dirname(dir) === dir) return '0.0.0-unknown'
  }
}
const version = readPackageVersion()

async function serve (opts: ConfigOption): Promise<void> {
  const config = await loadCliConfig(opts)
  const log = createLogger(config)
  const app = await buildApp(config, { logger: log, env: process.env })
  let urls: string[]
  try {
    urls = await listen(app, config, log)
  } catch (err: unknown) {
    await app.close()
    throw err
  }
  log.info({ version, urls, dataDir: config.dataDir, tls: config.tls.mode, cacheDir: config.cache.dir, maxSize: config.cache.maxSize, allowHosts: config.allowHosts.length, mirrors: Object.keys(config.mirrors) }, 'dsmirror is serving')
  handleSignals(app, log)
}

/** HTTP first in the list (tests and scripts read urls[0]); HTTPS is started first, before the app is ready. */
async function listen (app: FastifyInstance, config: DsmirrorConfig, log: Logger): Promise<string[]> {
  // The [::1] companions (server/http/ipv6-loopback.ts) stop accepting as soon as closing begins;
  // the hook is added now because the HTTPS listener makes the app ready.
  const companions: net.Server[] = []
  app.addHook('preClose', async () => { for (const companion of companions) companion.close() })
  // Issue 19: the internal listener other replicas stream in-flight downloads from (not in urls: it is not for clients).
  await startPeerListener(app, config, log)
  const https = await startHttpsListener(app, config, { logger: log })
  const urls: string[] = []
  const http = config.listen.http
  if (http !== false) {
    urls.push(await app.listen({ host: http.host, port: http.port }))
    const companion = await listenOnIpv6Loopback(app.server, http.host, portOf(app.server), log, (url) => { recordListenerUrl(app, url) })
    if (companion !== null) companions.push(companion)
  }
  if (https !== null) {
    urls.push(https.url)
    const host = config.listen.https === false ? '' : config.listen.https.host
    const companion = await listenOnIpv6Loopback(https.server, host, portOf(https.server), log, (url) => { recordListenerUrl(app, url) })
    if (companion !== null) companions.push(companion)
  }
  if (urls.length === 0) throw new Error('No listener is enabled: set listen.http, or listen.https with tls.mode auto or files.')
  return urls
}

function portOf (server: net.Server): number {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
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
  // SIGHUP reloads the upstream CA bundle (certs/bundle-reload.ts); unhandled, Node would exit on it.
  process.on('SIGHUP', () => { void app.dsmirror.caWatcher.reload('SIGHUP') })
}

const program = new Command()
  .name('dsmirror')
  .description('A local HTTPS caching proxy for dataset mirrors.')
  .version(version)
  // Issue 10 item 6: usage errors come back here as CommanderErrors (one line, exit 2) instead of
  // commander's process.exit(1); every subcommand made after this inherits both settings.
  .exitOverride()
  .configureOutput({ outputError: () => {} })

program.command('serve')
  .description('Run the proxy (default listeners: http://127.0.0.1:8080 and https://0.0.0.0:8443).')
  .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
  .action(serve)
registerCertsCommands(program)
registerTrustCommands(program)
registerPrefetchCommand(program)
registerCacheCommands(program)

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help, --version and `help <command>` (commander.help with exit code 0) are no errors.
    if (err.exitCode === 0) process.exit(0)
    // A group without its command has had its usage printed already (commander.help).
    if (err.code !== 'commander.help') process.stderr.write(`dsmirror: ${oneLine(err.message.replace(/^error: /, '')).replace(/\.$/, '')}. Run 'dsmirror --help' for usage.\n`)
    process.exit(EXIT_USAGE)
  }
  if (err instanceof CommandRefusedError) {
    process.stderr.write(`dsmirror: ${oneLine(err.message)}\n`)
    process.exit(EXIT_FAILURE)
  }
  if (isDsmError(err)) {
    process.stderr.write(`dsmirror: ${err.code}: ${err.message}\n`)
    process.exit(err.code === 'DSM_CONFIG_INVALID' ? EXIT_CONFIG : EXIT_FAILURE)
  }
  process.stderr.write(`dsmirror: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(EXIT_FAILURE)
})

/** Commander appends suggestions on a second line ("(Did you mean ...?)"). */
function oneLine (text: string): string {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '').join(' ')
}
