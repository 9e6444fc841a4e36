// `dsmirror trust install | uninstall | env`, `dsmirror doctor [URL|host]` and
// `dsmirror certs bundle`: the client-side trust commands (docs/design.md "Trust"). Part of the CLI
// entry (reads process.env, sets the exit code); the work is in certs/.
import type { Command } from 'commander'
import { formatCaBundleReport } from '../../certs/ca-bundle-report.js'
import { buildCaBundle } from '../../certs/ca-bundle.js'
import { formatDoctorReport, parseDoctorTarget, runDoctor, targetsFromConfig, type DoctorTarget } from '../../certs/doctor.js'
import { loadOrCreateLocalCa, readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { formatProxyEnv, formatTrustEnv, installCa, TRUST_SHELLS, uninstallCa, writeTrustBundle, type TrustShell } from '../../certs/trust-store.js'
import { interceptionCaPaths, loadOrCreateInterceptionCa } from '../../certs/interception-ca.js'
import { readCaPair } from '../../certs/local-ca-store.js'
import { hostname as osHostname } from 'node:os'
import { parseDuration } from '../../config/units.js'
import type { DsmirrorConfig } from '../../config/schema.js'
import { CommandRefusedError, commandGroup, CONFIG_FLAGS, CONFIG_FLAGS_HELP, loadCliConfig, type ConfigOption } from './cli-common.js'
import { DoctorTargetError } from '../errors.js'
import { doctorS3Store, formatStoreDoctorReport } from '../cache/s3/open-s3-store.js'
import { allowedHostEntries } from '../upstream/allowed-hosts.js'

const EXIT_FAILED_CHECK = 1
/** What the printed proxy URL holds instead of a password: the shell expands it when the line runs. */
const PASSWORD_REFERENCE = '$' + '{DSMIRROR_PROXY_PASSWORD}'

export function registerTrustCommands (program: Command): void {
  const trust = commandGroup(program, 'trust', "Make this machine's clients trust dsmirror's local CA.")
  trust.command('install')
    .description('Add the local CA (created if missing), and the interception CA when forwardProxy.enabled, to the OS trust store. Needs root.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .action(trustInstall)
  trust.command('uninstall')
    .description('Remove exactly what `trust install` added. Needs root.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .action(trustUninstall)
  trust.command('env')
    .description('Write <dataDir>/trust-bundle.pem (OS roots + local CA) and print the variables that point Python, requests, curl and Node at it.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--shell <shell>', `syntax of the lines: ${TRUST_SHELLS.join(', ')}`, 'sh')
    .option('--proxy', 'also the forward-proxy variables (HTTPS_PROXY and https_proxy, NO_PROXY, ...); the bundle then holds the interception CA too')
    .option('--proxy-url <url>', 'the proxy URL clients use (default: from listen.http)')
    .action(trustEnv)

  program.command('doctor')
    .argument('[target]', 'host, host:port, https:// URL or mirror name (default: every configured upstream)')
    .description('Connect to upstreams with the managed CA bundle and explain any TLS or network failure, with the fix. Exits 1 if any fails.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--timeout <duration>', 'limit for each step (DNS, connect, proxy, handshake); default upstream.timeouts.connect')
    .option('--json', 'print JSON instead of text')
    .action(doctor)

  commandGroup(program, 'certs', 'Inspect the certificates dsmirror serves and trusts.')
    .command('bundle')
    .description('Print what the upstream CA bundle trusts and why: counts by source, every caFiles certificate, expired ones, duplicates.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--json', 'print JSON instead of text')
    .action(certsBundle)
}

async function localCa (config: DsmirrorConfig): Promise<{ certPem: string; certFile: string; fingerprint: string; subject: string }> {
  const { ca, created } = await loadOrCreateLocalCa({ dataDir: config.dataDir, hostnames: config.tls.hostnames, minValidityMs: config.tls.leafLifetime })
  if (created) process.stderr.write(`Created the local CA in ${ca.paths.dir}.\n`)
  return { certPem: ca.certPem, certFile: ca.paths.certFile, fingerprint: ca.cert.fingerprint256, subject: oneLine(ca.cert.subject) }
}

/** The forward proxy's interception CA (created if missing), or null when the mode is off. */
async function interceptionCa (config: DsmirrorConfig): Promise<{ certPem: string; certFile: string; fingerprint: string } | null> {
  if (!config.forwardProxy.enabled) return null
  // The server's own list (the Hub endpoint included): any other list re-issues the CA it signs with.
  const { ca, created } = await loadOrCreateInterceptionCa({ dataDir: config.dataDir, allowHosts: allowedHostEntries(config), minValidityMs: config.forwardProxy.leafLifetime })
  if (created) process.stderr.write(`Created the interception CA in ${ca.paths.dir}.\n`)
  return { certPem: ca.certPem, certFile: interceptionCaPaths(config.dataDir).certFile, fingerprint: ca.cert.fingerprint256 }
}

async function trustInstall (opts: ConfigOption): Promise<void> {
  const config = await loadCliConfig(opts)
  const ca = await localCa(config)
  const proxyCa = await interceptionCa(config)
  const proxyResult = proxyCa === null ? null : await installCa(proxyCa.certPem, proxyCa.certFile, { env: process.env })
  const result = await installCa(ca.certPem, ca.certFile, { env: process.env })
  const toolLine = [result.store.tool.split('/').pop() ?? result.store.tool, ...result.store.installArgs].join(' ')
  process.stdout.write([
    `${result.alreadyInstalled ? 'Already installed' : 'Installed'}: the dsmirror local CA is in the ${result.store.distro} trust store.`,
    `  CA:   ${ca.subject}`,
    `  SHA-256 ${ca.fingerprint}`,
    `  file: ${result.file} (then ran ${toolLine})`,
    ...(proxyResult === null || proxyCa === null ? [] : [`${proxyResult.alreadyInstalled ? 'Already installed' : 'Installed'} beside it: the interception CA of the forward proxy (SHA-256 ${proxyCa.fingerprint}), name-constrained to allowHosts, in ${proxyResult.file}.`]),
    'curl, wget and Python (ssl, urllib; requests from the distribution) now trust dsmirror over HTTPS with no flags.',
    'Node and pip-installed requests/httpx (certifi) keep their own roots; for them: eval "$(dsmirror trust env)"',
    'Undo with: sudo dsmirror trust uninstall',
    ''
  ].join('\n'))
}

async function trustUninstall (opts: ConfigOption): Promise<void> {
  const config = await loadCliConfig(opts)
  const ca = await readLocalCaCertificate(config.dataDir)
  if (ca === null) {
    process.stdout.write(`No local CA in ${config.dataDir}; nothing to remove. (Files 'dsmirror-*.crt' in the OS anchor directory come from another data directory.)\n`)
    return
  }
  const proxyCa = await readCaPair(interceptionCaPaths(config.dataDir))
  if (proxyCa !== null) {
    const removed = await uninstallCa(proxyCa.certPem, proxyCa.paths.certFile, { env: process.env })
    if (removed.removed.length > 0) process.stdout.write(`Removed the interception CA: ${removed.removed.join(', ')}.\n`)
  }
  const result = await uninstallCa(ca.certPem, ca.paths.certFile, { env: process.env })
  const lines = result.removed.length > 0
    ? [`Removed ${result.removed.join(', ')} from the ${result.store.distro} trust store and ran ${[result.store.tool.split('/').pop() ?? '', ...result.store.uninstallArgs].join(' ')}.`]
    : [`The local CA (SHA-256 ${ca.cert.fingerprint256}) was not installed in ${result.store.anchorDir}; nothing removed.`]
  if (result.others.length > 0) lines.push(`Left alone (other dsmirror CAs, from another data directory or a replaced CA): ${result.others.join(', ')}. Remove one with rm, then run ${result.store.tool}.`)
  process.stdout.write(lines.join('\n') + '\n')
}

async function trustEnv (opts: ConfigOption & { shell: string, proxy?: boolean, proxyUrl?: string }): Promise<void> {
  const shell = TRUST_SHELLS.find((s) => s === opts.shell.toLowerCase())
  if (shell === undefined) throw new CommandRefusedError(`--shell ${opts.shell} is not supported. Use ${TRUST_SHELLS.join(', ')}.`)
  const config = await loadCliConfig(opts)
  const ca = await localCa(config)
  if (opts.proxy === true) {
    await proxyEnv(config, ca.certPem, shell, opts.proxyUrl)
    return
  }
  const bundle = await writeTrustBundle(ca.certPem, config.dataDir)
  // Only the variable lines go to stdout, so `eval "$(dsmirror trust env)"` runs nothing else.
  process.stderr.write(`# ${bundle.path}: ${bundle.rootsFrom === 'node' ? "Node's public roots (no OS bundle found)" : `the OS roots from ${bundle.rootsFrom}`} + the dsmirror local CA.\n# Apply with: ${applyHint(shell)}\n`)
  process.stdout.write(formatTrustEnv(bundle.path, shell))
}

/** `trust env --proxy`: the proxy variables and a bundle with both CAs (issue 12 item 5). */
async function proxyEnv (config: DsmirrorConfig, localCaPem: string, shell: TrustShell, proxyUrlOption: string | undefined): Promise<void> {
  const proxyCa = await interceptionCa(config)
  if (proxyCa === null) throw new CommandRefusedError('forwardProxy.enabled is false in this config, so there is no forward proxy to point clients at. Set forwardProxy.enabled: true.')
  const listen = config.listen.http
  if (listen === false && proxyUrlOption === undefined) throw new CommandRefusedError('listen.http is off, and the forward proxy answers there. Turn listen.http on, or give --proxy-url.')
  const users = config.forwardProxy.auth === null || config.forwardProxy.auth === false ? [] : Object.keys(config.forwardProxy.auth.users)
  let proxyUrl = proxyUrlOption
  if (proxyUrl === undefined && listen !== false) {
    const host = ['0.0.0.0', '::'].includes(listen.host) ? osHostname() : listen.host
    const credentials = users[0] === undefined ? '' : `${encodeURIComponent(users[0])}:${PASSWORD_REFERENCE}@`
    proxyUrl = `http://${credentials}${host.includes(':') ? `[${host}]` : host}:${listen.port}`
  }
  const url = new URL((proxyUrl ?? '').replace(PASSWORD_REFERENCE, 'x'))
  const bundle = await writeTrustBundle(localCaPem, config.dataDir, { interceptionCaPem: proxyCa.certPem })
  const noProxy = [...new Set(['localhost', '127.0.0.1', '::1', '169.254.169.254', url.hostname.replace(/^\[(.*)\]$/, '$1')])]
  process.stderr.write([
    `# ${bundle.path}: the OS roots + the dsmirror local CA + the interception CA (SHA-256 ${proxyCa.fingerprint}).`,
    ...(users.length > 0 ? ['# The proxy needs credentials: set DSMIRROR_PROXY_PASSWORD first (URL-encode any : @ / in it).'] : []),
    '# wget and aria2c ignore these CA variables: run dsmirror trust install, or pass --ca-certificate=' + bundle.path + '.',
    '# Node 20 ignores HTTPS_PROXY: use undici\'s EnvHttpProxyAgent (Node >= 22.21 reads NODE_USE_ENV_PROXY=1).',
    `# Apply with: ${applyHint(shell).replace('trust env', 'trust env --proxy')}`,
    ''
  ].join('\n'))
  process.stdout.write(formatProxyEnv({ proxyUrl: proxyUrl ?? '', noProxy, bundlePath: bundle.path, shell, ...(users.length > 0 && proxyUrlOption === undefined ? { passwordVariable: 'DSMIRROR_PROXY_PASSWORD' } : {}) }))
}

function applyHint (shell: TrustShell): string {
  if (shell === 'fish') return 'dsmirror trust env --shell fish | source'
  if (shell === 'powershell') return 'dsmirror trust env --shell powershell | Invoke-Expression'
  return 'eval "$(dsmirror trust env)"'
}

async function doctor (target: string | undefined, opts: ConfigOption & { timeout?: string; json?: boolean }): Promise<void> {
  const config = await loadCliConfig(opts)
  let targets: DoctorTarget[]
  let patterns: string[] = []
  if (target !== undefined) {
    const one = parseDoctorTarget(target, config)
    if (one === undefined) throw new DoctorTargetError(target)
    targets = [one]
  } else {
    ({ targets, patterns } = targetsFromConfig(config))
  }
  const bundle = await buildCaBundle({ caFiles: config.upstream.caFiles, systemStore: config.upstream.systemStore })
  const report = await runDoctor(targets, {
    ca: bundle.certificates,
    proxy: config.upstream.proxy,
    env: process.env,
    timeoutMs: opts.timeout === undefined ? config.upstream.timeouts.connect : parseDuration(opts.timeout),
    caFiles: config.upstream.caFiles
  }, { patterns })
  // store.kind s3 (issue 19; docs/s3.md): the bucket is checked as the server's start-up does.
  const store = target === undefined && config.store.kind === 's3' ? await doctorS3Store(config.store.s3) : null
  process.stdout.write(opts.json === true
    ? JSON.stringify(store === null ? report : { ...report, store }, null, 2) + '\n'
    : formatDoctorReport(report) + (store === null ? '' : formatStoreDoctorReport(store)))
  if (!report.ok || store?.ok === false) process.exitCode = EXIT_FAILED_CHECK
}

async function certsBundle (opts: ConfigOption & { json?: boolean }): Promise<void> {
  const config = await loadCliConfig(opts)
  const bundle = await buildCaBundle({ caFiles: config.upstream.caFiles, systemStore: config.upstream.systemStore })
  process.stdout.write(opts.json === true
    ? JSON.stringify({ entries: bundle.entries }, null, 2) + '\n'
    : formatCaBundleReport(bundle, { caFiles: config.upstream.caFiles, systemStore: config.upstream.systemStore, dataDir: config.dataDir }))
}

function oneLine (dn: string): string {
  return dn.split('\n').join(', ')
}
