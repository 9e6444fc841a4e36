// Which upstream hosts dsmirror may connect to (docs/design.md "URL scheme"). Entries are exact names,
// `name:port`, `*.suffix` (any name below the suffix, not the suffix itself), IPv4 literals and
// bracketed IPv6 literals. An entry without a port allows the HTTPS default port 443 only, so
// allowing `example.org` never opens `example.org:22` or an internal admin port.

export const DEFAULT_UPSTREAM_PORT = 443

interface AllowRule {
  host: string
  port: number
  suffix: boolean
}

// The WHATWG parser would quietly drop or reinterpret these instead of failing: `@` starts
// userinfo (even an empty one, `@evil.example`), `/ \\ ? #` end the authority, `%` is decoded,
// and tabs, newlines and edge spaces are stripped. A host spelled with any of them is refused.
const NOT_IN_HOST = /[@/\\?#%\s\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex

/**
 * A host name as compared: one trailing dot (the DNS root) dropped. Null when a label is empty
 * (`.a.org`, `a..org`, `a.org..`), which no DNS name has and which would otherwise let a
 * `*.suffix` rule match `.suffix` or give two spellings of one name.
 */
function comparableName (hostname: string): string | null {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname
  if (name === '' || name.startsWith('.') || name.endsWith('.') || name.includes('..')) return null
  return name
}

/** Canonical host and port as the WHATWG parser (and therefore the connection) will see them. */
export function canonicalHost (hostAndPort: string): { hostname: string; port: number } | null {
  if (NOT_IN_HOST.test(hostAndPort)) return null
  let url: URL
  try {
    url = new URL(`https://${hostAndPort}/`)
  } catch {
    return null
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return null
  const hostname = comparableName(url.hostname)
  if (hostname === null) return null
  return { hostname, port: url.port === '' ? DEFAULT_UPSTREAM_PORT : Number(url.port) }
}

function isIpLiteral (hostname: string): boolean {
  return hostname.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(hostname)
}

function parseRule (entry: string): AllowRule {
  const suffix = entry.startsWith('*.')
  const parsed = canonicalHost(suffix ? entry.slice(2) : entry)
  if (parsed === null) throw new TypeError(`allowHosts entry '${entry}' is not a host name, name:port or *.suffix`)
  // `*.1` parses as the address 0.0.0.1: a suffix of an address is meaningless, so say so.
  if (suffix && isIpLiteral(parsed.hostname)) throw new TypeError(`allowHosts entry '${entry}' is a *.suffix of an IP address; list the address itself`)
  return { host: parsed.hostname, port: parsed.port, suffix }
}

export class Allowlist {
  readonly #rules: AllowRule[]

  constructor (entries: readonly string[]) {
    this.#rules = entries.map(parseRule)
  }

  /**
   * `hostname` as URL.hostname gives it (lower-case, IPv4 in dotted decimal, IPv6 bracketed);
   * a trailing dot is accepted, an empty label never is.
   */
  allows (hostname: string, port: number): boolean {
    const name = comparableName(hostname)
    if (name === null) return false
    return this.#rules.some((rule) => rule.port === port &&
      (rule.suffix ? name.endsWith(`.${rule.host}`) : name === rule.host))
  }
}
