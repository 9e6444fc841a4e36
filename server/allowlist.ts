// Which upstream hosts dsmirror may connect to (DESIGN.md "URL scheme"). Entries are exact names,
// `name:port`, `*.suffix` (any name below the suffix, not the suffix itself), IPv4 literals and
// bracketed IPv6 literals. An entry without a port allows the HTTPS default port 443 only, so
// allowing `example.org` never opens `example.org:22` or an internal admin port.

export const DEFAULT_UPSTREAM_PORT = 443

interface AllowRule {
  host: string
  port: number
  suffix: boolean
}

/** Canonical host and port as the WHATWG parser (and therefore the connection) will see them. */
export function canonicalHost (hostAndPort: string): { hostname: string; port: number } | null {
  let url: URL
  try {
    url = new URL(`https://${hostAndPort}/`)
  } catch {
    return null
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '') return null
  const hostname = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname
  if (hostname === '') return null
  return { hostname, port: url.port === '' ? DEFAULT_UPSTREAM_PORT : Number(url.port) }
}

function parseRule (entry: string): AllowRule {
  const suffix = entry.startsWith('*.')
  const parsed = canonicalHost(suffix ? entry.slice(2) : entry)
  if (parsed === null) throw new TypeError(`allowHosts entry '${entry}' is not a host name, name:port or *.suffix`)
  return { host: parsed.hostname, port: parsed.port, suffix }
}

export class Allowlist {
  readonly #rules: AllowRule[]

  constructor (entries: readonly string[]) {
    this.#rules = entries.map(parseRule)
  }

  /** `hostname` must already be canonical (see canonicalHost). */
  allows (hostname: string, port: number): boolean {
    return this.#rules.some((rule) => rule.port === port &&
      (rule.suffix ? hostname.endsWith(`.${rule.host}`) : hostname === rule.host))
  }
}
