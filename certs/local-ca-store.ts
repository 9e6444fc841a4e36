// The local CA on disk (tls.mode: auto): `<dataDir>/ca/` (0700) holds `ca.pem` (0644) and
// `ca-key.pem` (0600), and `leaf.pem`, the certificate currently served (its key never leaves
// memory). The CA is made once and reused across restarts, so clients trust it once.
//
// When tls.hostnames grow beyond the CA's name constraints, the old CA can no longer sign for
// them, so a new CA is made and the old directory is kept as `ca.retired-<time>` (never deleted:
// it is the operator's key). Clients must then trust the new CA; the warning says so. The same
// happens when the CA would expire before the next leaf does.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { AsnConvert } from '@peculiar/asn1-schema'
import { NameConstraints } from '@peculiar/asn1-x509'
import type { Logger } from 'pino'
import writeFileAtomic from 'write-file-atomic'
import { LocalCaError } from './errors.js'
import { createRootCa, type KeyPairPem } from './local-ca.js'

const DAY_MS = 24 * 60 * 60 * 1000
export const LOCAL_CA_LIFETIME_MS = 3650 * DAY_MS
export const LOCAL_CA_SUBDIR = 'ca'
export const LOCAL_CA_CERT_NAME = 'ca.pem'
export const LOCAL_CA_KEY_NAME = 'ca-key.pem'
export const LOCAL_LEAF_CERT_NAME = 'leaf.pem'
const KEY_MODE = 0o600
const CERT_MODE = 0o644
const DIR_MODE = 0o700
/** RFC 5280 ub-common-name. */
const MAX_COMMON_NAME_LENGTH = 64

/** A CA directory: `ca.pem` and `ca-key.pem` in `dir`. */
export interface CaPairPaths {
  dir: string
  certFile: string
  keyFile: string
}

export interface LocalCaPaths extends CaPairPaths {
  /** The leaf being served (certificate chain only), for `dsmirror certs show`. */
  leafFile: string
}

export function localCaPaths (dataDir: string): LocalCaPaths {
  const dir = join(dataDir, LOCAL_CA_SUBDIR)
  return { dir, certFile: join(dir, LOCAL_CA_CERT_NAME), keyFile: join(dir, LOCAL_CA_KEY_NAME), leafFile: join(dir, LOCAL_LEAF_CERT_NAME) }
}

/** The CA certificate (no key): what `/_/ca.pem` serves and `certs show` prints. */
export interface LocalCaCertificate {
  certPem: string
  cert: X509Certificate
  /** Permitted names of its Name Constraints (DNS names, IPs), or null when it has none. */
  permittedNames: string[] | null
  paths: LocalCaPaths
}

export interface LocalCa extends LocalCaCertificate, KeyPairPem {}

export interface LoadOrCreateLocalCaOptions {
  dataDir: string
  /** tls.hostnames: the CA must be allowed to sign for every one of them. */
  hostnames: string[]
  /** The CA must stay valid at least this long (the leaf lifetime), or a new one is made. */
  minValidityMs?: number
  log?: Pick<Logger, 'info' | 'warn'>
  now?: () => number
}

export interface LocalCaResult {
  ca: LocalCa
  created: boolean
  /** Where the previous CA was moved when it no longer fitted. */
  retiredDir?: string
}

/** Loads `<dataDir>/ca/`, creating the CA on first use and replacing one that no longer fits. */
export async function loadOrCreateLocalCa (opts: LoadOrCreateLocalCaOptions): Promise<LocalCaResult> {
  const now = opts.now ?? Date.now
  const paths = localCaPaths(opts.dataDir)
  const existing = await readCaPair(paths, opts.log)
  if (existing === null) return { ca: await createLocalCa(paths, opts, now), created: true }

  const uncovered = opts.hostnames.filter((name) => !isCoveredBy(name, existing.permittedNames))
  const expiresAt = Date.parse(existing.cert.validTo)
  const reason = uncovered.length > 0
    ? `its name constraints (${(existing.permittedNames ?? []).join(', ')}) do not cover tls.hostnames ${uncovered.join(', ')}`
    : expiresAt < now() + (opts.minValidityMs ?? 0)
      ? `it expires ${new Date(expiresAt).toISOString()}, before the next leaf would`
      : null
  if (reason === null) return { ca: existing, created: false }

  const retiredDir = `${paths.dir}.retired-${new Date(now()).toISOString().replace(/[:.]/g, '-')}`
  await rename(paths.dir, retiredDir)
  const ca = await createLocalCa(paths, opts, now)
  opts.log?.warn({ reason, retiredDir, oldFingerprint: existing.cert.fingerprint256, newFingerprint: ca.cert.fingerprint256 },
    'made a new local CA because the old one no longer fits; clients that trusted the old one must trust the new one (fetch /_/ca.pem, or dsmirror trust install)')
  return { ca, created: true, retiredDir }
}

/** The local CA certificate without its key, or null when none has been made yet. */
export async function readLocalCaCertificate (dataDir: string): Promise<LocalCaCertificate | null> {
  const paths = localCaPaths(dataDir)
  const certPem = await readOptional(paths.certFile, paths)
  if (certPem === null) return null
  const cert = parseCaCertificate(certPem, paths)
  return { certPem: cert.toString(), cert, permittedNames: permittedNamesOf(cert.toString()), paths }
}

/** Writes the leaf chain being served next to the CA (0644: certificates are public). */
export async function writeServedLeaf (dataDir: string, chainPem: string): Promise<void> {
  await writeFileAtomic(localCaPaths(dataDir).leafFile, chainPem, { mode: CERT_MODE })
}

/**
 * The names a CA may sign for: its Name Constraints' permitted DNS names and IPs (an IP with a
 * full-length mask is shown bare, any other as address/mask). Null when it has no constraints.
 */
export function permittedNamesOf (certPem: string): string[] | null {
  const ext = new x509.X509Certificate(certPem).getExtension('2.5.29.30')
  if (ext === null) return null
  const constraints = AsnConvert.parse(ext.value, NameConstraints)
  return (constraints.permittedSubtrees ?? []).flatMap((subtree) => {
    const { dNSName, iPAddress } = subtree.base
    if (dNSName !== undefined) return [dNSName.toLowerCase()]
    if (iPAddress !== undefined) {
      const [address = '', bits] = iPAddress.split('/')
      const full = isIP(address) === 4 ? '32' : '128'
      return [bits === undefined || bits === full ? canonicalIp(address) : `${canonicalIp(address)}/${bits}`]
    }
    return []
  })
}

/**
 * The Name Constraints entries for tls.hostnames. A wildcard `*.corp.example` becomes
 * `corp.example`, because a DNS constraint is a domain that permits itself and every name below
 * it (RFC 5280 §4.2.1.10); constraints have no wildcard syntax.
 */
export function permittedNamesFor (hostnames: string[]): string[] {
  return [...new Set(hostnames.map((name) => {
    const lower = name.toLowerCase()
    return lower.startsWith('*.') ? lower.slice(2) : isIP(lower) !== 0 ? canonicalIp(lower) : lower
  }))]
}

/** True when a leaf for `name` issued under these constraints passes them (null: unconstrained). */
export function isCoveredBy (name: string, permitted: string[] | null): boolean {
  if (permitted === null) return true
  const lower = name.toLowerCase()
  if (isIP(lower) !== 0) return permitted.includes(canonicalIp(lower))
  const domain = lower.startsWith('*.') ? lower.slice(2) : lower
  return permitted.some((base) => isIP(base) === 0 && !base.includes('/') && (domain === base || domain.endsWith(`.${base}`)))
}

async function createLocalCa (paths: LocalCaPaths, opts: LoadOrCreateLocalCaOptions, now: () => number): Promise<LocalCa> {
  const stamp = new Date(now()).toISOString().slice(0, 10)
  const pair = await createRootCa({
    commonName: `dsmirror local CA ${stamp} ${osHostname()}`.slice(0, MAX_COMMON_NAME_LENGTH).trim(),
    lifetimeMs: LOCAL_CA_LIFETIME_MS,
    permittedNames: permittedNamesFor(opts.hostnames),
    now: new Date(now())
  })
  const ca = await installCaPair(paths, opts.dataDir, pair, opts.log)
  opts.log?.info({ dir: paths.dir, fingerprint: ca.cert.fingerprint256, permittedNames: permittedNamesFor(opts.hostnames) }, 'created the local CA')
  return ca
}

/**
 * Writes a new CA pair as `paths.dir` (0700; key 0600, certificate 0644). Shared with the
 * interception CA (certs/interception-ca.ts), which keeps its own pair the same way.
 */
export async function installCaPair (paths: CaPairPaths, dataDir: string, pair: KeyPairPem, log?: Pick<Logger, 'warn'>): Promise<LocalCa> {
  await mkdir(dataDir, { recursive: true })
  // Both files are written into a fresh directory that is renamed into place, so a reader (or a
  // second dsmirror starting at the same moment) sees either no CA or a whole one.
  const staging = await mkdtemp(`${paths.dir}.new-`)
  try {
    await chmod(staging, DIR_MODE)
    await writeNew(join(staging, LOCAL_CA_KEY_NAME), pair.keyPem, KEY_MODE)
    await writeNew(join(staging, LOCAL_CA_CERT_NAME), pair.certPem, CERT_MODE)
    await rename(staging, paths.dir)
  } catch (err: unknown) {
    await rm(staging, { recursive: true, force: true })
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      // Another process made one first: use that one.
      const theirs = await readCaPair(paths, log)
      if (theirs !== null) return theirs
    }
    throw new LocalCaError(paths.dir, `creating it failed: ${describe(err)}`, { cause: err })
  }
  const cert = new X509Certificate(pair.certPem)
  return { ...pair, cert, permittedNames: permittedNamesOf(pair.certPem), paths: { ...paths, leafFile: join(paths.dir, LOCAL_LEAF_CERT_NAME) } }
}

async function writeNew (file: string, text: string, mode: number): Promise<void> {
  await writeFileAtomic(file, text, { mode })
  // The umask could have taken bits away from the certificate; a key never gets more than 0600.
  await chmod(file, mode)
}

/** The CA with its key, checked to belong together; null when the directory has neither file. */
export async function readCaPair (paths: CaPairPaths, log?: Pick<Logger, 'warn'>): Promise<LocalCa | null> {
  const [certPem, keyPem] = await Promise.all([readOptional(paths.certFile, paths), readOptional(paths.keyFile, paths)])
  if (certPem === null && keyPem === null) return null
  if (certPem === null) throw new LocalCaError(paths.dir, `${LOCAL_CA_KEY_NAME} is there but ${LOCAL_CA_CERT_NAME} is missing`)
  if (keyPem === null) throw new LocalCaError(paths.dir, `${LOCAL_CA_CERT_NAME} is there but ${LOCAL_CA_KEY_NAME} is missing`)
  const cert = parseCaCertificate(certPem, paths)
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (err: unknown) {
    // Node's message never contains key bytes, so it can be shown.
    throw new LocalCaError(paths.dir, `${LOCAL_CA_KEY_NAME} is not a usable private key: ${describe(err)}`, { cause: err })
  }
  if (!cert.checkPrivateKey(key)) throw new LocalCaError(paths.dir, `${LOCAL_CA_KEY_NAME} is not the key of ${LOCAL_CA_CERT_NAME}`)
  const { mode } = await stat(paths.keyFile)
  if ((mode & 0o077) !== 0) {
    await chmod(paths.keyFile, KEY_MODE)
    log?.warn({ keyFile: paths.keyFile, mode: (mode & 0o777).toString(8) }, 'the local CA key was readable by others; set it to 0600')
  }
  return { certPem: cert.toString(), keyPem, cert, permittedNames: permittedNamesOf(cert.toString()), paths: { ...paths, leafFile: join(paths.dir, LOCAL_LEAF_CERT_NAME) } }
}

function parseCaCertificate (certPem: string, paths: CaPairPaths): X509Certificate {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch (err: unknown) {
    throw new LocalCaError(paths.dir, `${LOCAL_CA_CERT_NAME} is not a PEM certificate: ${describe(err)}`, { cause: err })
  }
  if (!cert.ca) throw new LocalCaError(paths.dir, `${LOCAL_CA_CERT_NAME} is not a CA certificate`)
  return cert
}

async function readOptional (file: string, paths: CaPairPaths): Promise<string | null> {
  try {
    return await readFile(file, 'utf8')
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new LocalCaError(paths.dir, `reading ${file} failed: ${describe(err)}`, { cause: err })
  }
}

/** The form Node and URLs print: compressed IPv6 (`::1`), IPv4 as is. */
function canonicalIp (ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip
}

function describe (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as NodeJS.ErrnoException).code
  return code === undefined ? err.message : `${code}: ${err.message}`
}
