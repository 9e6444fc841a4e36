// `dsmirror trust install | uninstall | env` (docs/design.md "Trust"): puts the local CA where a
// client machine's TLS libraries look for trust, and takes it out again.
//
// - install: one file, `dsmirror-<fingerprint8>.crt`, in the OS anchor directory, then the
//   distribution's own update tool. Debian/Ubuntu/Alpine: /usr/local/share/ca-certificates +
//   update-ca-certificates; RHEL/Fedora: /etc/pki/ca-trust/source/anchors + update-ca-trust
//   extract; SUSE: /etc/pki/trust/anchors + update-ca-certificates. The file name carries the
//   fingerprint, so uninstall removes exactly that file and nothing an operator put there.
// - env: a bundle of the OS roots plus the local CA, for the variables Python, requests, curl and
//   Node read (a variable that named only the local CA would break every other HTTPS request).
//
// Every OS path is taken under `root` ('/' on a real machine), so tests install into a temp tree.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { access, constants, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import writeFileAtomic from 'write-file-atomic'
import { TrustPermissionError, TrustToolError, TrustUnsupportedError } from './errors.js'
import { SYSTEM_BUNDLE_PATHS } from './ca-bundle.js'

export const TRUST_BUNDLE_FILE_NAME = 'trust-bundle.pem'
/** The variables `trust env` sets: OpenSSL/Python ssl, requests, curl, Node. */
export const TRUST_ENV_VARIABLES = ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS'] as const
export const TRUST_SHELLS = ['sh', 'fish', 'powershell'] as const
export type TrustShell = typeof TRUST_SHELLS[number]
/** Where the update tools live; searched in order, under `root`. */
const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']
const TOOL_TIMEOUT_MS = 120_000

export type TrustFamily = 'debian' | 'rhel' | 'suse'

export interface TrustStoreOptions {
  /** The filesystem root the OS paths are under. Default '/'. */
  root?: string
  /** Default process.platform. */
  platform?: NodeJS.Platform
  /** Environment for the update tool (PATH for the helpers it runs). */
  env?: Readonly<Record<string, string | undefined>>
}

export interface OsTrustStore {
  family: TrustFamily
  /** PRETTY_NAME from os-release, for messages. */
  distro: string
  /** Absolute path (under root) of the directory of locally added CAs. */
  anchorDir: string
  /** Absolute path of the update tool. */
  tool: string
  installArgs: string[]
  uninstallArgs: string[]
}

interface FamilySpec {
  anchorDir: string
  tool: string
  installArgs: string[]
  uninstallArgs: string[]
  /** How to get the tool when it is missing. */
  installTool: string
}

const FAMILIES: Record<TrustFamily, FamilySpec> = {
  // --fresh on removal: a plain run keeps the dangling /etc/ssl/certs link of a removed local CA.
  debian: { anchorDir: '/usr/local/share/ca-certificates', tool: 'update-ca-certificates', installArgs: [], uninstallArgs: ['--fresh'], installTool: 'apt-get install ca-certificates (Alpine: apk add ca-certificates)' },
  rhel: { anchorDir: '/etc/pki/ca-trust/source/anchors', tool: 'update-ca-trust', installArgs: ['extract'], uninstallArgs: ['extract'], installTool: 'dnf install ca-certificates' },
  suse: { anchorDir: '/etc/pki/trust/anchors', tool: 'update-ca-certificates', installArgs: [], uninstallArgs: [], installTool: 'zypper install ca-certificates' }
}

/** The file install writes for this CA: `dsmirror-<first 8 hex of its SHA-256>.crt`. */
export function trustFileName (caPem: string): string {
  const fingerprint = new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase()
  return `dsmirror-${fingerprint.slice(0, 8)}.crt`
}

/** Manual steps for systems without a supported store, printed in the error. */
export function manualTrustSteps (platform: NodeJS.Platform, caFile: string): string {
  if (platform === 'darwin') {
    return `On macOS run: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain '${caFile}'`
  }
  if (platform === 'win32') {
    return `On Windows run in an administrator PowerShell: Import-Certificate -FilePath '${caFile}' -CertStoreLocation Cert:\\LocalMachine\\Root (or: certutil -addstore -f Root '${caFile}')`
  }
  return `Copy '${caFile}' into your system's CA anchor directory and run its update tool (see your distribution's documentation), or use 'dsmirror trust env' for the current shell`
}

/**
 * Finds the OS trust store: the family from `<root>/etc/os-release` (ID, then ID_LIKE), else from
 * which update tool exists. Throws TrustUnsupportedError (with manual steps) elsewhere, and
 * TrustToolError when the family is known but its tool is not installed.
 */
export async function detectOsTrustStore (caFile: string, opts: TrustStoreOptions = {}): Promise<OsTrustStore> {
  const root = opts.root ?? '/'
  const platform = opts.platform ?? process.platform
  if (platform !== 'linux') {
    throw new TrustUnsupportedError(platformName(platform), manualTrustSteps(platform, caFile))
  }
  const release = await readOsRelease(root)
  const distro = release.PRETTY_NAME ?? release.NAME ?? release.ID ?? 'this Linux system'
  const ids = [release.ID ?? '', ...(release.ID_LIKE ?? '').split(/\s+/)].map((id) => id.toLowerCase()).filter((id) => id !== '')
  let family = familyOf(ids)
  if (family === undefined) {
    // Unknown or missing os-release: the tool that exists decides, the way a person would.
    if (await findTool(root, FAMILIES.rhel.tool) !== undefined) family = 'rhel'
    else if (await findTool(root, FAMILIES.debian.tool) !== undefined && await exists(join(root, FAMILIES.debian.anchorDir))) family = 'debian'
  }
  if (family === undefined) {
    throw new TrustUnsupportedError(distro, manualTrustSteps(platform, caFile))
  }
  const spec = FAMILIES[family]
  const tool = await findTool(root, spec.tool)
  if (tool === undefined) {
    throw new TrustToolError(spec.tool, `is not installed on ${distro}`, `Install it (${spec.installTool}) and run the command again`)
  }
  return { family, distro, anchorDir: join(root, spec.anchorDir), tool, installArgs: spec.installArgs, uninstallArgs: spec.uninstallArgs }
}

function familyOf (ids: string[]): TrustFamily | undefined {
  for (const id of ids) {
    if (['debian', 'ubuntu', 'alpine', 'linuxmint', 'raspbian', 'pop', 'kali', 'devuan'].includes(id)) return 'debian'
    if (['rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'ol', 'amzn'].includes(id)) return 'rhel'
    if (id.includes('suse') || id === 'sles') return 'suse'
  }
  return undefined
}

export interface InstallResult {
  store: OsTrustStore
  /** The file written. */
  file: string
  /** The same CA was already there (the update tool runs anyway). */
  alreadyInstalled: boolean
  /** What the update tool printed. */
  output: string
}

/** Adds the CA to the OS store. Throws TrustPermissionError when not root. */
export async function installCa (caPem: string, caFile: string, opts: TrustStoreOptions = {}): Promise<InstallResult> {
  const store = await detectOsTrustStore(caFile, opts)
  const file = join(store.anchorDir, trustFileName(caPem))
  const pem = new X509Certificate(caPem).toString()
  let alreadyInstalled = false
  try {
    alreadyInstalled = (await readFile(file, 'utf8')) === pem
  } catch {}
  try {
    await mkdir(store.anchorDir, { recursive: true, mode: 0o755 })
    // 0644: the store is read by every user's TLS library; a certificate holds no secret.
    if (!alreadyInstalled) await writeFile(file, pem, { mode: 0o644 })
  } catch (err: unknown) {
    throw permissionOr(err, file, 'install')
  }
  const output = await runTool(store.tool, store.installArgs, 'install', opts)
  return { store, file, alreadyInstalled, output }
}

export interface UninstallResult {
  store: OsTrustStore
  /** Files removed: the one install wrote for this CA, or nothing. */
  removed: string[]
  /** Other dsmirror-*.crt files in the anchor directory (another data directory's or a retired CA), left alone. */
  others: string[]
  output: string
}

/** Removes what installCa added for this CA, and nothing else. */
export async function uninstallCa (caPem: string, caFile: string, opts: TrustStoreOptions = {}): Promise<UninstallResult> {
  const store = await detectOsTrustStore(caFile, opts)
  const name = trustFileName(caPem)
  const file = join(store.anchorDir, name)
  const removed: string[] = []
  try {
    await unlink(file)
    removed.push(file)
  } catch (err: unknown) {
    if (errnoCode(err) !== 'ENOENT') throw permissionOr(err, file, 'uninstall')
  }
  let names: string[] = []
  try {
    names = await readdir(store.anchorDir)
  } catch {}
  const others = names.filter((n) => /^dsmirror-[0-9a-f]{8}\.crt$/.test(n) && n !== name).map((n) => join(store.anchorDir, n))
  const output = removed.length > 0 ? await runTool(store.tool, store.uninstallArgs, 'uninstall', opts) : ''
  return { store, removed, others, output }
}

export interface TrustBundleResult {
  /** <dataDir>/trust-bundle.pem */
  path: string
  /** The OS bundle the roots came from, or 'node' when none exists (Node's built-in roots instead). */
  rootsFrom: string
}

/**
 * Writes `<dataDir>/trust-bundle.pem`: the OS roots (the first OS bundle found, else Node's
 * public roots) followed by the local CA, so a variable pointing at it keeps every other HTTPS
 * site working.
 */
export async function writeTrustBundle (caPem: string, dataDir: string, opts: { root?: string; systemBundlePaths?: readonly string[]; interceptionCaPem?: string } = {}): Promise<TrustBundleResult> {
  const root = opts.root ?? '/'
  let roots: string | undefined
  let rootsFrom = 'node'
  for (const path of opts.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS) {
    try {
      roots = await readFile(join(root, path), 'utf8')
      rootsFrom = join(root, path)
      break
    } catch {}
  }
  roots ??= rootCertificates.join('\n') + '\n'
  const ca = new X509Certificate(caPem)
  let text = `${roots.endsWith('\n') ? roots : roots + '\n'}# dsmirror local CA: ${ca.subject.split('\n').join(', ')} (SHA-256 ${ca.fingerprint256})\n${ca.toString()}`
  if (opts.interceptionCaPem !== undefined) {
    // The forward proxy's CA beside the serving one, so one file serves both (trust env --proxy).
    const proxyCa = new X509Certificate(opts.interceptionCaPem)
    text += `# dsmirror interception CA: ${proxyCa.subject.split('\n').join(', ')} (SHA-256 ${proxyCa.fingerprint256})\n${proxyCa.toString()}`
  }
  await mkdir(dataDir, { recursive: true })
  const path = join(dataDir, TRUST_BUNDLE_FILE_NAME)
  await writeFileAtomic(path, text, { mode: 0o644, fsync: true })
  return { path, rootsFrom }
}

/** The lines that point Python, requests, curl and Node at `bundlePath`, in `shell` syntax. */
export function formatTrustEnv (bundlePath: string, shell: TrustShell): string {
  const lines = TRUST_ENV_VARIABLES.map((name) => {
    if (shell === 'fish') return `set -gx ${name} ${quoteSh(bundlePath)}`
    if (shell === 'powershell') return `$env:${name} = '${bundlePath.replace(/'/g, "''")}'`
    return `export ${name}=${quoteSh(bundlePath)}`
  })
  return lines.join('\n') + '\n'
}

/**
 * The forward proxy's variables (issue 12 item 5; research/forward-proxy.md §5), both cases
 * because curl reads only lower-case `http_proxy` and wget and aria2c only lower-case
 * `https_proxy`; NO_PROXY keeps loopback, the metadata address and the proxy itself direct;
 * PIP_CERT for pip; NODE_USE_ENV_PROXY for Node ≥ 22.21 (Node 20 needs undici's EnvHttpProxyAgent);
 * HF_HUB_DISABLE_XET because hf_xet has its own roots and ignores every CA variable.
 * `passwordVariable`: the proxy URL carries `${NAME}` instead of a literal secret.
 */
export function formatProxyEnv (opts: { proxyUrl: string, noProxy: string[], bundlePath: string, shell: TrustShell, passwordVariable?: string }): string {
  const values: Array<[string, string, boolean]> = []
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) values.push([name, opts.proxyUrl, opts.passwordVariable !== undefined])
  for (const name of ['NO_PROXY', 'no_proxy']) values.push([name, opts.noProxy.join(','), false])
  for (const name of [...TRUST_ENV_VARIABLES, 'PIP_CERT']) values.push([name, opts.bundlePath, false])
  values.push(['NODE_USE_ENV_PROXY', '1', false], ['HF_HUB_DISABLE_XET', '1', false])
  return values.map(([name, value, expand]) => {
    const shown = expand && opts.passwordVariable !== undefined ? expandable(value, opts.passwordVariable, opts.shell) : null
    if (opts.shell === 'fish') return `set -gx ${name} ${shown ?? quoteSh(value)}`
    if (opts.shell === 'powershell') return `$env:${name} = ${shown ?? `'${value.replace(/'/g, "''")}'`}`
    return `export ${name}=${shown ?? quoteSh(value)}`
  }).join('\n') + '\n'
}

/** `value` with `${variable}` left for the shell to expand (double-quoted), in its syntax. */
function expandable (value: string, variable: string, shell: TrustShell): string {
  const [before = '', after = ''] = value.split(`\${${variable}}`)
  const esc = (text: string): string => shell === 'powershell' ? text.replace(/[`"$]/g, '`$&') : text.replace(/[\\"$`]/g, '\\$&')
  if (shell === 'powershell') return `"${esc(before)}$env:${variable}${esc(after)}"`
  if (shell === 'fish') return `"${esc(before)}$${variable}${esc(after)}"`
  return `"${esc(before)}\${${variable}}${esc(after)}"`
}

/** Single-quoted for sh and fish: no expansion inside; a quote is closed, escaped, reopened. */
function quoteSh (text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`
}

async function runTool (tool: string, args: string[], action: 'install' | 'uninstall', opts: TrustStoreOptions): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    execFile(tool, args, { timeout: TOOL_TIMEOUT_MS, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env } }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(`${stdout}${stderr}`.trim())
        return
      }
      const code = errnoCode(err)
      if (code === 'EACCES' || code === 'EPERM') {
        reject(new TrustPermissionError(tool, code, action))
        return
      }
      const words = `${stderr}${stdout}`.trim().split('\n').slice(-3).join(' / ')
      const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0
      reject(new TrustToolError(
        [tool, ...args].join(' '),
        `failed (${typeof err.code === 'number' ? `exit code ${err.code}` : err.message}${words === '' ? '' : `: ${words}`})`,
        notRoot ? `Run it as root: sudo dsmirror trust ${action}` : 'Run it by hand to see the full output'
      ))
    })
  })
}

function permissionOr (err: unknown, file: string, action: 'install' | 'uninstall'): Error {
  const code = errnoCode(err)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new TrustPermissionError(file, code, action)
  return err instanceof Error ? err : new Error(String(err))
}

async function readOsRelease (root: string): Promise<Record<string, string>> {
  // os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await readFile(join(root, path), 'utf8'))
    } catch {}
  }
  return {}
}

/** KEY=value lines, values optionally in single or double quotes (os-release(5)). */
export function parseOsRelease (text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m === null) continue
    const raw = (m[2] ?? '').trim()
    const value = /^(["']).*\1$/.test(raw) ? raw.slice(1, -1).replace(/\\(["\\$`])/g, '$1') : raw
    out[m[1] ?? ''] = value
  }
  return out
}

async function findTool (root: string, name: string): Promise<string | undefined> {
  for (const dir of TOOL_DIRS) {
    const path = join(root, dir, name)
    try {
      await access(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

function platformName (platform: NodeJS.Platform): string {
  return platform === 'darwin' ? 'macOS' : platform === 'win32' ? 'Windows' : platform
}

function errnoCode (err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : ''
}
