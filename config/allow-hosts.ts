// The allowHosts grammar, in one place so the config check and `dsmirror config` agree.
// An entry is one of:
//   download.pytorch.org            exact host name, HTTPS port 443 only (server/upstream/allowlist.ts)
//   mirror.corp:8443                host name with a port
//   *.hf.co / *.corp.example:8443   any subdomain (not the suffix itself), port 443 or the one given; the suffix needs
//                                   two labels or more, so `*.com` cannot open up a whole TLD, and may not be a
//                                   public suffix (`*.co.uk`, `*.github.io`: anyone can register names there)
//   10.0.0.5 / 10.0.0.5:8080        IPv4 literal, optionally with a port; not 0.0.0.0/8
//   [::1] / [::1]:8443              IPv6 literal, always bracketed (as it appears in a URL); not [::]
//   @torchvision                    a preset from config/presets.ts, expanded in place
// Entries are lower-cased (host names are case-insensitive, RFC 4343) and de-duplicated.
import { BlockList, isIPv4, isIPv6 } from 'node:net'

import { getPublicSuffix } from 'tldts'

import { PRESET_HOSTS } from './presets.js'

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const FIX = 'Write a host name (download.pytorch.org), name:port, *.suffix, an IPv4 address or [IPv6].'

/**
 * 0.0.0.0/8 and `::` (also IPv4-mapped): a connection to them reaches this machine's own
 * services (Linux treats 0.0.0.0 as a local address), so as an upstream they are a way to
 * loopback, not a host (issue 12 item 14).
 */
const UNSPECIFIED = new BlockList()
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4')
UNSPECIFIED.addAddress('::', 'ipv6')
UNSPECIFIED.addSubnet('::ffff:0.0.0.0', 104, 'ipv6')
const UNSPECIFIED_FIX = "is an unspecified address: connecting to it reaches this machine's own services. Write the upstream's own address or name."

/**
 * Whether `suffix` is on the Public Suffix List, ICANN and private sections both (tldts keeps the
 * list; a hand list would go stale): `*.co.uk` or `*.github.io` would allow every site anyone
 * registers there, as `*.com` would.
 */
function isPublicSuffix (suffix: string): boolean {
  return getPublicSuffix(suffix, { allowPrivateDomains: true }) === suffix
}

/** True for a DNS host name of letters, digits and hyphens (RFC 1123), with at least `minLabels` labels. */
export function isHostName (name: string, minLabels = 1): boolean {
  if (name.length === 0 || name.length > 253) return false
  const labels = name.split('.')
  // A name whose last label is all digits would be read as an IPv4 literal by URL parsers.
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return false
  return labels.length >= minLabels && labels.every((label) => LABEL_RE.test(label))
}

function parsePort (text: string): boolean {
  if (!/^\d{1,5}$/.test(text)) return false
  const port = Number(text)
  return port >= 1 && port <= 65535
}

/**
 * Checks one allowHosts entry (not a preset token) and returns it lower-cased.
 * Throws a RangeError whose message names the entry and the fix.
 */
export function normalizeAllowHost (entry: string): string {
  const raw = entry.trim()
  const value = raw.toLowerCase()
  const bad = (why: string): never => {
    throw new RangeError(`'${raw}' ${why}`)
  }
  if (value === '') bad(`is empty. ${FIX}`)
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)/.exec(value)
  if (scheme !== null) bad(`is a URL; allowHosts takes the host only: write '${scheme[1] ?? ''}'.`)
  if (/[/?#@\s]/.test(value)) bad(`is not a host name. ${FIX}`)

  if (value.startsWith('[')) {
    const match = /^\[([^\]]+)\](?::(.*))?$/.exec(value)
    if (match === null || !isIPv6(match[1] ?? '')) bad('is not a bracketed IPv6 address. Write it like [::1] or [::1]:8443.')
    if (match?.[2] !== undefined && !parsePort(match[2])) bad('has a bad port. Ports are 1-65535, e.g. [::1]:8443.')
    if (UNSPECIFIED.check(match?.[1] ?? '', 'ipv6')) bad(UNSPECIFIED_FIX)
    return value
  }
  if (isIPv6(value)) bad(`is an IPv6 address without brackets. Write it as [${value}].`)

  const colon = value.lastIndexOf(':')
  const host = colon === -1 ? value : value.slice(0, colon)
  if (colon !== -1 && !parsePort(value.slice(colon + 1))) bad('has a bad port. Ports are 1-65535, e.g. mirror.corp:8443.')

  if (host.startsWith('*.')) {
    if (!isHostName(host.slice(2), 2)) {
      bad('is not a usable pattern: the part after \'*.\' must be a host name with two labels or more, e.g. *.hf.co.')
    }
    const suffix = host.slice(2)
    if (isPublicSuffix(suffix)) {
      bad(`is as broad as a top-level domain: '${suffix}' is a public suffix (Public Suffix List), where anyone can register names. List the hosts you need, e.g. name.${suffix}, or *.name.${suffix}.`)
    }
    return value
  }
  if (host.includes('*')) bad('has a \'*\' that is not a leading \'*.\'; patterns look like *.hf.co.')
  if (host.endsWith('.')) bad(`ends with a dot. Write '${host.slice(0, -1)}${colon === -1 ? '' : value.slice(colon)}'.`)
  if (/^[\d.]+$/.test(host)) {
    if (!isIPv4(host)) bad('is not an IPv4 address. Write it like 10.0.0.5 or 10.0.0.5:8080.')
    if (UNSPECIFIED.check(host, 'ipv4')) bad(UNSPECIFIED_FIX)
    return value
  }
  if (!isHostName(host)) bad(`is not a host name. ${FIX}`)
  return value
}

/** Known preset tokens, for error messages. */
export function presetTokens (): string[] {
  return Object.keys(PRESET_HOSTS).sort()
}

/**
 * The hosts a preset token (`@torchvision`, case-insensitive) stands for.
 * Throws a RangeError listing the known tokens when there is no such preset.
 */
export function expandPreset (token: string): readonly string[] {
  const hosts = PRESET_HOSTS[token.trim().toLowerCase()]
  if (hosts === undefined) {
    throw new RangeError(`'${token.trim()}' is not a known preset. Use one of ${presetTokens().join(', ')}, or list the hosts.`)
  }
  return hosts
}
