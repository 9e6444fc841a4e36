// The interception CA of the forward-proxy mode (issue 12; research/forward-proxy.md §3.1):
// `<dataDir>/interception-ca/` (0700) holds `ca.pem` (0644) and `ca-key.pem` (0600).
//
// Its own root, never an intermediate of the serving CA: the serving root is name-constrained to
// tls.hostnames, and RFC 5280 constraints bind everything below a CA, so an intermediate there
// could never sign for download.pytorch.org. Its NameConstraints are exactly the hosts dsmirror may
// fetch (allowHosts and the mirrors' hosts): `download.pytorch.org` permits that name and the
// names below it (a dNSName constraint has no "exact only" form), `*.hf.co` becomes `.hf.co`
// (below it only), and every IP address is excluded, so a stolen key can vouch for nothing else.
//
// When the allowed hosts change, in either direction, the constraints no longer say what the
// operator allowed: a new CA is made and the old directory kept as `interception-ca.retired-<time>`
// (the operator's key is never deleted). Leaves of the old CA are dropped by the caller
// (leaf-contexts.ts is built on the CA it is given).
import { rename } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { AsnConvert } from '@peculiar/asn1-schema'
import { NameConstraints } from '@peculiar/asn1-x509'
import type { Logger } from 'pino'
import { createRootCa } from './local-ca.js'
import { type CaPairPaths, installCaPair, LOCAL_CA_CERT_NAME, LOCAL_CA_KEY_NAME, LOCAL_CA_LIFETIME_MS, type LocalCa, readCaPair } from './local-ca-store.js'

export const INTERCEPTION_CA_SUBDIR = 'interception-ca'
/**
 * What the constraints permit when no host name is allowed at all: a permittedSubtrees may not be
 * empty (RFC 5280 GeneralSubtrees SIZE (1..MAX)), and leaving it out would permit every name.
 * `.invalid` is reserved (RFC 6761 §6.4) and never resolves.
 */
export const NO_NAME_PERMITTED = 'nothing.invalid'
/** RFC 5280 ub-common-name. */
const MAX_COMMON_NAME_LENGTH = 64

export function interceptionCaPaths (dataDir: string): CaPairPaths {
  const dir = join(dataDir, INTERCEPTION_CA_SUBDIR)
  return { dir, certFile: join(dir, LOCAL_CA_CERT_NAME), keyFile: join(dir, LOCAL_CA_KEY_NAME) }
}

/**
 * The permitted DNS subtrees for allowed hosts (allowHosts grammar, server/upstream/allowlist.ts):
 * ports dropped, `*.suffix` → `.suffix`, IP literals left out (all IPs are excluded), sorted and
 * de-duplicated so that the same hosts always give the same list.
 */
export function interceptionNamesFor (allowHosts: readonly string[]): string[] {
  const names = new Set<string>()
  for (const entry of allowHosts) {
    const lower = entry.trim().toLowerCase()
    if (lower.startsWith('[')) continue
    const host = lower.replace(/:\d+$/, '').replace(/\.$/, '')
    if (isIP(host) !== 0 || host === '') continue
    names.add(host.startsWith('*.') ? host.slice(1) : host)
  }
  const sorted = [...names].sort()
  return sorted.length === 0 ? [NO_NAME_PERMITTED] : sorted
}

/** True when a leaf for `host` under these permitted subtrees passes them (OpenSSL nc_dns semantics). */
export function isInterceptable (host: string, permitted: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '')
  if (isIP(name) !== 0 || name.startsWith('[')) return false
  return permitted.some((base) => base.startsWith('.') ? name.endsWith(base) && name.length > base.length : name === base || name.endsWith(`.${base}`))
}

export interface LoadOrCreateInterceptionCaOptions {
  dataDir: string
  /** Every host the proxy may fetch: allowHosts plus the mirrors' hosts (host, host:port, *.suffix, IPs). */
  allowHosts: readonly string[]
  /** The CA must stay valid at least this long (forwardProxy.leafLifetime), or a new one is made. */
  minValidityMs: number
  log?: Pick<Logger, 'info' | 'warn'>
  now?: () => number
}

export interface InterceptionCaResult {
  ca: LocalCa
  created: boolean
  retiredDir?: string
}

/** Loads `<dataDir>/interception-ca/`, creating it on first use and replacing it when the allowed hosts changed. */
export async function loadOrCreateInterceptionCa (opts: LoadOrCreateInterceptionCaOptions): Promise<InterceptionCaResult> {
  const now = opts.now ?? Date.now
  const paths = interceptionCaPaths(opts.dataDir)
  const wanted = interceptionNamesFor(opts.allowHosts)
  const existing = await readCaPair(paths, opts.log)
  if (existing === null) return { ca: await createInterceptionCa(paths, opts, wanted, now), created: true }

  const have = existing.permittedNames ?? []
  const expiresAt = Date.parse(existing.cert.validTo)
  const reason = existing.permittedNames === null || !sameList(have, wanted)
    ? `its name constraints (${have.join(', ') || 'none'}) are not the allowed hosts (${wanted.join(', ')})`
    : !constrainsIps(existing.certPem)
        ? 'it does not exclude IP addresses'
        : expiresAt < now() + opts.minValidityMs
          ? `it expires ${new Date(expiresAt).toISOString()}, before the next leaf would`
          : null
  if (reason === null) return { ca: existing, created: false }

  const retiredDir = `${paths.dir}.retired-${new Date(now()).toISOString().replace(/[:.]/g, '-')}`
  await rename(paths.dir, retiredDir)
  const ca = await createInterceptionCa(paths, opts, wanted, now)
  opts.log?.warn({ reason, retiredDir, oldFingerprint: existing.cert.fingerprint256, newFingerprint: ca.cert.fingerprint256 },
    'made a new interception CA because the allowed hosts changed; clients of the forward proxy must trust the new one (fetch /_/proxy-ca.pem, or dsmirror trust install)')
  return { ca, created: true, retiredDir }
}

async function createInterceptionCa (paths: CaPairPaths, opts: LoadOrCreateInterceptionCaOptions, permittedNames: string[], now: () => number): Promise<LocalCa> {
  const stamp = new Date(now()).toISOString().slice(0, 10)
  const pair = await createRootCa({
    commonName: `dsmirror interception CA ${stamp} ${osHostname()}`.slice(0, MAX_COMMON_NAME_LENGTH).trim(),
    lifetimeMs: LOCAL_CA_LIFETIME_MS,
    permittedNames,
    excludeAllIps: true,
    now: new Date(now())
  })
  const ca = await installCaPair(paths, opts.dataDir, pair, opts.log)
  opts.log?.info({ dir: paths.dir, fingerprint: ca.cert.fingerprint256, permittedNames }, 'created the interception CA')
  return ca
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  const sorted = [...a].sort()
  return sorted.length === b.length && sorted.every((name, i) => name === b[i])
}

/** Whether the CA's NameConstraints exclude all of IPv4 and IPv6 (0.0.0.0/0 and ::/0). */
function constrainsIps (certPem: string): boolean {
  const ranges = excludedIpRangesOf(certPem)
  return ranges.includes('0.0.0.0/0') && ranges.some((r) => /^[0:]+\/0$/.test(r))
}

/** The excluded iPAddress subtrees of a CA's NameConstraints, as address/prefix text. */
export function excludedIpRangesOf (certPem: string): string[] {
  const ext = new x509.X509Certificate(certPem).getExtension('2.5.29.30')
  if (ext === null) return []
  const constraints = AsnConvert.parse(ext.value, NameConstraints)
  return (constraints.excludedSubtrees ?? []).flatMap((subtree) => subtree.base.iPAddress === undefined ? [] : [subtree.base.iPAddress])
}
