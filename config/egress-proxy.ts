// Which egress proxy `upstream.proxy: env` gives an origin, in one place for the two that need to
// know: the upstream client (server/upstream/upstream.ts: the origins its cold-path client may take,
// since that client never goes through a proxy) and `dsmirror doctor` (certs/doctor.ts: the proxy it
// tests through). Both must agree with undici's EnvHttpProxyAgent, which carries the requests, so
// these are its rules (undici 7, lib/dispatcher/env-http-proxy-agent.js), not curl's or Python's:
// - https goes through HTTPS_PROXY, or HTTP_PROXY when that is unset; http through HTTP_PROXY;
// - NO_PROXY entries are split on commas and white space, each `host` or `host:port`, a leading
//   `.` or `*.` dropped, compared in lower case with the origin's host (an IPv6 literal with its
//   brackets) or any name ending in `.<host>`; the value `*` alone matches every origin.
// undici exports none of it; test/integration/egress-proxy-rules-agree-with-undici.test.ts sends
// each spelling through a real EnvHttpProxyAgent and checks the two agree.

/** The variables, read upper case first (the CLI passes process.env; tests pass their own). */
export type ProxyEnv = Readonly<Record<string, string | undefined>>

export function envValue (env: ProxyEnv, name: string): string {
  return env[name] ?? env[name.toLowerCase()] ?? ''
}

/** The proxy URL `env` gives `url` ('' = none: the origin is reached directly). */
export function envProxyFor (env: ProxyEnv, url: URL): string {
  const proxy = schemeProxy(env, url.protocol)
  return proxy === '' || noProxyMatches(envValue(env, 'NO_PROXY'), url) ? '' : proxy
}

/** The proxy variable a scheme reads, before NO_PROXY ('https:' or 'http:'). */
export function schemeProxy (env: ProxyEnv, protocol: string): string {
  const httpProxy = envValue(env, 'HTTP_PROXY')
  return protocol === 'https:' ? envValue(env, 'HTTPS_PROXY') || httpProxy : httpProxy
}

export function noProxyMatches (noProxy: string, url: URL): boolean {
  if (noProxy === '*') return true
  // Like undici: the port stripped from `host`, so an IPv6 literal keeps its brackets.
  const hostname = url.host.replace(/:\d*$/, '').toLowerCase()
  const port = Number.parseInt(url.port, 10) || DEFAULT_PORTS[url.protocol] || 0
  return noProxy.split(/[,\s]/).some((entry) => {
    if (entry === '') return false
    const parsed = /^(.+):(\d+)$/.exec(entry)
    const host = (parsed?.[1] ?? entry).replace(/^\*?\./, '').toLowerCase()
    // As undici: a port of 0 counts as none.
    const entryPort = parsed === null ? 0 : Number.parseInt(parsed[2] ?? '', 10)
    if (entryPort !== 0 && entryPort !== port) return false
    return hostname === host || hostname.endsWith(`.${host}`)
  })
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 }
