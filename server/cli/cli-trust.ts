// `dsmirror trust install | uninstall | env`, `dsmirror doctor [URL|host]` and
// `dsmirror certs bundle`: the client-side trust commands (docs/design.md "Trust"). Part of the CLI
// entry (reads process.env, sets the exit code); the work is in certs/.
import type { Command } from 'commander'
import { formatCaBundleReport } from '../../certs/ca-bundle-report.js'
import { buildCaBundle } from '../../certs/ca-bundle.js'
import { formatDoctorReport, parseDoctorTarget, runDoctor, targetsFromConfig, type DoctorTarget } from '../../certs/doctor.js'
import { loadOrCreateLocalCa, readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { formatTrustEnv, installCa, TRUST_SHELLS, uninstallCa, writeTrustBundle, type TrustShell } from '../../certs/trust-store.js'
import { parseDuration } from '../../config/units.js'
import type { DsmirrorConfig } from '../../config/schema.js'
import { CommandRefusedError, commandGroup, CONFIG_FLAGS, CONFIG_FLAGS_HELP, loadCliConfig, type ConfigOption } from './cli-common.js'
import { DoctorTargetError } from '../errors.js'

const EXIT_FAILED_CHECK = 1

export function registerTrustCommands (program: Command): void {
  const trust = commandGroup(program, 'trust', "Make this machine's clients trust dsmirror's local CA.")
  trust.command('install')
    .description('Add the local CA (created if missing) to the OS trust store. Needs root.')
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

async function trustInstall (opts: ConfigOption): Promise<void> {
  const config = await loadCliConfig(opts)
  const ca = await localCa(config)
  const result = await installCa(ca.certPem, ca.certFile, { env: process.env })
  const toolLine = [result.store.tool.split('/').pop() ?? result.store.tool, ...result.store.installArgs].join(' ')
  process.stdout.write([
    `${result.alreadyInstalled ? 'Already installed' : 'Installed'}: the dsmirror local CA is in the ${result.store.distro} trust store.`,
    `  CA:   ${ca.subject}`,
    `  SHA-256 ${ca.fingerprint}`,
    `  file: ${result.file} (then ran ${toolLine})`,
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
  const result = await uninstallCa(ca.certPem, ca.paths.certFile, { env: process.env })
  const lines = result.removed.length > 0
    ? [`Removed ${result.removed.join(', ')} from the ${result.store.distro} trust store and ran ${[result.store.tool.split('/').pop() ?? '', ...result.store.uninstallArgs].join(' ')}.`]
    : [`The local CA (SHA-256 ${ca.cert.fingerprint256}) was not installed in ${result.store.anchorDir}; nothing removed.`]
  if (result.others.length > 0) lines.push(`Left alone (other dsmirror CAs, from another data directory or a replaced CA): ${result.others.join(', ')}. Remove one with rm, then run ${result.store.tool}.`)
  process.stdout.write(lines.join('\n') + '\n')
}

async function trustEnv (opts: ConfigOption & { shell: string }): Promise<void> {
  const shell = TRUST_SHELLS.find((s) => s === opts.shell.toLowerCase())
  if (shell === undefined) throw new CommandRefusedError(`--shell ${opts.shell} is not supported. Use ${TRUST_SHELLS.join(', ')}.`)
  const config = await loadCliConfig(opts)
  const ca = await localCa(config)
  const bundle = await writeTrustBundle(ca.certPem, config.dataDir)
  // Only the variable lines go to stdout, so `eval "$(dsmirror trust env)"` runs nothing else.
  process.stderr.write(`# ${bundle.path}: ${bundle.rootsFrom === 'node' ? "Node's public roots (no OS bundle found)" : `the OS roots from ${bundle.rootsFrom}`} + the dsmirror local CA.\n# Apply with: ${applyHint(shell)}\n`)
  process.stdout.write(formatTrustEnv(bundle.path, shell))
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
  process.stdout.write(opts.json === true ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report))
  if (!report.ok) process.exitCode = EXIT_FAILED_CHECK
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
