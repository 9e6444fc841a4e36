// The config contract: types, defaults and validation in one place (docs/design.md "Config").
// Its keys are a contract (docs/config.md lists them): keys may be added, never renamed.
//
// Every leaf validator throws a RangeError whose message names the bad value and the fix
// (`'50XB' is not a size. Write it like 50GiB, ...`); load-config.ts prefixes the path and the
// source, so one invalid config yields one line per bad field, all at once.
import { isIP } from 'node:net'
import { isAbsolute, join, resolve } from 'node:path'

import { z } from 'zod'

import { expandPreset, isHostName, normalizeAllowHost } from './allow-hosts.js'
import { isLoopbackHost } from './loopback.js'
import { DEFAULT_ALLOW_HOSTS } from './presets.js'
import { TORCHVISION_CHECKSUMS } from './torchvision-checksums.js'
import { parseDuration, parseSize, showValue } from './units.js'

const SECOND_MS = 1000
const MINUTE_MS = 60 * SECOND_MS
const DAY_MS = 24 * 60 * MINUTE_MS

export const DEFAULT_DATA_DIR = './dsmirror-data'
/** cache.dir when the config leaves it null: `<dataDir>/cache`. */
export const DEFAULT_CACHE_SUBDIR = 'cache'
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 8080
// Loopback like listen.http (issue 17): the auto leaf names only loopback names, so a wider bind
// gained nothing but exposure. Opening a listener is the operator's explicit choice.
export const DEFAULT_HTTPS_HOST = '127.0.0.1'
export const DEFAULT_HTTPS_PORT = 8443
export const TLS_MODES = ['auto', 'files', 'off'] as const
export const DEFAULT_TLS_MODE = 'auto'
export const DEFAULT_TLS_HOSTNAMES: readonly string[] = Object.freeze(['localhost', '127.0.0.1', '::1'])
export const DEFAULT_LEAF_LIFETIME_MS = 7 * DAY_MS
/** Browsers reject TLS server certificates valid for more than 398 days (CA/B Forum BR 6.3.2, Apple, Chrome). */
export const MAX_LEAF_LIFETIME_MS = 397 * DAY_MS
export const DEFAULT_UPSTREAM_PROXY = 'env'
/**
 * How long a client may take to send its request headers (slowloris defence). Node's own default
 * is 60 s, but Fastify's requestTimeout 0 leaves headersTimeout as the only limit on a client that
 * never finishes its headers; nginx's client_header_timeout is 60 s, Apache's mod_reqtimeout 20 s.
 */
export const DEFAULT_CLIENT_HEADERS_TIMEOUT_MS = 20 * SECOND_MS
export const DEFAULT_CONNECT_TIMEOUT_MS = 10 * SECOND_MS
export const DEFAULT_HEADERS_TIMEOUT_MS = 30 * SECOND_MS
export const DEFAULT_IDLE_TIMEOUT_MS = 60 * SECOND_MS
/**
 * Issue 12 item 8: an upstream trickling one byte a second never trips the idle timeout. Below
 * this rate over a window, a transfer counts as dropped (and is resumed). 1 KiB/s is far below
 * any working link and far above a trickle; 0 turns the check off.
 */
export const DEFAULT_MIN_RATE_BYTES_PER_SEC = 1024
export const DEFAULT_MIN_RATE_WINDOW_MS = 30 * SECOND_MS
export const DEFAULT_RETRIES = 5
/** First backoff after a dropped transfer; doubled on each further retry. */
export const DEFAULT_RETRY_DELAY_MS = 250
export const DEFAULT_MAX_REDIRECTS = 5
export const MAX_REDIRECTS_LIMIT = 20
export const DEFAULT_MAX_CACHE_BYTES = 50 * 2 ** 30
export const DEFAULT_REVALIDATE_AFTER_MS = DAY_MS
export const DEFAULT_IMMUTABLE_PATTERNS: readonly string[] = Object.freeze([
  '*.tar.gz', '*.tgz', '*.zip', '*.gz', '*.tar', '*.pth', '*.safetensors', '*.bin', '*.parquet'
])
export const DEFAULT_SERVE_STALE = true
/** How long an upstream 404/410 is remembered (in memory) before the upstream is asked again. */
export const DEFAULT_NEGATIVE_TTL_MS = MINUTE_MS
/**
 * CDN-Cache-Control (RFC 9213) is addressed to the origin's own CDN; dsmirror is usually the
 * clients' cache in front of someone else's origin, so it honours the field only when told to.
 */
export const DEFAULT_CDN_CACHE_CONTROL = false
/**
 * A download nobody reads for this long is cancelled (prefetches excepted). Minutes, not
 * seconds: downloads outlive their client by design (torchvision closes its first response
 * unread and asks again), and a client may reconnect after a hiccup. 0 never cancels.
 */
export const DEFAULT_ORPHAN_TIMEOUT_MS = 5 * MINUTE_MS
export const DEFAULT_MIRROR_URLS: Readonly<Record<string, string>> = Object.freeze({ pytorch: 'https://download.pytorch.org/' })
/** The Hugging Face mode's mount: HF_ENDPOINT=<listener base URL>/hf (issue 11). */
export const DEFAULT_HF_MOUNT = 'hf'
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
/**
 * How long a branch/tag -> commit resolution is reused: the Hub counts every resolve against its
 * `resolvers` rate limit (3000 per 5 min per IP), which a team behind one mirror shares
 * (hf-protocol.md §3); a minute keeps `main` current without a call per HEAD.
 */
export const DEFAULT_HF_REVISION_TTL_MS = MINUTE_MS
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const DEFAULT_LOG_LEVEL = 'info'
/** forwardProxy (issue 12): on by default; CONNECT is answered for allowHosts only. */
export const DEFAULT_FORWARD_PROXY_ENABLED = true
/** Interception leaves live a day (research/forward-proxy.md §3.2): far below any lifetime cap, re-minted in ~7 ms. */
export const DEFAULT_FORWARD_PROXY_LEAF_LIFETIME_MS = DAY_MS
/** store (issue 19): where committed bodies live; disk is the embedded default. */
export const STORE_KINDS = ['disk', 's3'] as const
export const DEFAULT_STORE_KIND = 'disk'
export const DEFAULT_S3_REGION = 'us-east-1'
export const DEFAULT_S3_PREFIX = 'dsmirror/'
/** The bucket's budget for every replica together (each replica's disk is a bounded L1: cache.maxSize). */
export const DEFAULT_S3_MAX_BYTES = 2 ** 40
/** The internal listener other replicas stream in-flight downloads from (issue 19 item 3). */
export const DEFAULT_CLUSTER_PEER_HOST = '127.0.0.1'
export const DEFAULT_CLUSTER_PEER_PORT = 8081
/**
 * A download lease not heartbeated for this long (by S3's clock) may be taken over
 * (research/s3-tier.md §2.2: heartbeat every third of it, takeover within TTL plus one poll).
 */
export const DEFAULT_CLUSTER_LEASE_TTL_MS = 20 * SECOND_MS
/** Mirror names have no dot, so `/<mirror>/...` never collides with `/<host>/...`; `_` (the `/_/` pages) cannot start one. */
export const MIRROR_NAME_RE = /^[a-z0-9][a-z0-9_-]*$/

export type TlsMode = typeof TLS_MODES[number]
export type StoreKind = typeof STORE_KINDS[number]
export type LogLevel = typeof LOG_LEVELS[number]

export interface ListenConfig { host: string; port: number }

/** The parsed config. Paths are absolute, sizes are bytes, durations are milliseconds. */
export interface DsmirrorConfig {
  /** State: local CA, keys, CA bundle; the cache too unless cache.dir is set. */
  dataDir: string
  listen: {
    http: ListenConfig | false
    https: ListenConfig | false
    /** ms a client may take to send its request line and headers, on both listeners (408 after). */
    headersTimeout: number
  }
  tls: {
    mode: TlsMode
    /** SANs of the auto leaf; the local CA is name-constrained to them. */
    hostnames: string[]
    certFile: string | null
    keyFile: string | null
    /** Lifetime of an auto-issued leaf certificate, ms. */
    leafLifetime: number
  }
  upstream: {
    /** PEM files or directories added to the public roots. */
    caFiles: string[]
    systemStore: boolean
    /** 'env' (HTTPS_PROXY/NO_PROXY), 'none', or an http(s):// proxy URL. */
    proxy: string
    /** ms; minRate is bytes per second over minRateWindow ms (0: no minimum). */
    timeouts: { connect: number; headers: number; idle: number; minRate: number; minRateWindow: number }
    retries: number
    retryDelay: number
    maxRedirects: number
    /**
     * Canonical CIDR ranges (`10.0.0.0/8`, `fd00::/8`) of non-public addresses that resolved
     * upstream names may connect to (server/upstream/address-policy.ts); public addresses always may.
     */
    allowAddresses: string[]
  }
  cache: {
    dir: string
    maxSize: number
    revalidateAfter: number
    /** picomatch globs matched against the basename of the URL path. */
    immutable: string[]
    serveStale: boolean
    negativeTtl: number
    /** Honour CDN-Cache-Control (RFC 9213) over Cache-Control and Expires. */
    cdnCacheControl: boolean
    /** ms a download may run with no client before it is cancelled (0: never); prefetches are exempt. */
    orphanTimeout: number
  }
  /** Lower-case exact names, name:port, *.suffix, IPv4[:port] or [IPv6][:port]; presets expanded. */
  allowHosts: string[]
  /** Base URLs end with '/'. */
  mirrors: Record<string, { url: string }>
  /** Expected digests by absolute URL: 'md5:<hex>' or 'sha256:<hex>', hex lower-case. */
  checksums: Record<string, string>
  admin: {
    token: string | null
    /** Extra names (lower case, `*.suffix` allowed) clients use for /_/ pages (server/routes/admin-guard.ts). */
    allowedHosts: string[]
    /** Accept a listener beyond loopback without admin.token (issue 17); refused otherwise. */
    openOnNetwork: boolean
  }
  log: { level: LogLevel }
  /** The Hugging Face Hub mode (issue 11); mount false turns it off. */
  huggingface: {
    mount: string | false
    /** The upstream Hub, as an origin without a trailing slash. */
    endpoint: string
    /** ms a branch/tag -> commit resolution is reused. */
    revisionTtl: number
  }
  /** HTTPS_PROXY mode (issue 12; docs/forward-proxy.md). */
  forwardProxy: {
    enabled: boolean
    /** allowHosts grammar: CONNECT targets spliced blind (no interception, no cache). */
    tunnelHosts: string[]
    /** allowHosts grammar: absolute-form `http://` requests to these go upstream over plain http. */
    plainHttpHosts: string[]
    /**
     * Proxy-Authorization Basic credentials (user → password); null: none, allowed on a loopback
     * listener only; false: none, on purpose, on any listener.
     */
    auth: { users: Record<string, string> } | null | false
    /** ms, lifetime of each minted leaf. */
    leafLifetime: number
  }
  /** Where committed bodies live (issue 19; docs/s3.md). */
  store: {
    kind: StoreKind
    s3: {
      /** An http(s) origin (Ceph RGW, MinIO); null: AWS S3 for the region. */
      endpoint: string | null
      region: string
      bucket: string | null
      /** Key prefix inside the bucket; ends with '/' unless empty. */
      prefix: string
      /** Bytes the bucket may hold for this cache; least recently used entries go first. */
      maxSize: number
      /** Path-style URLs (http://endpoint/bucket/key); null: on when endpoint is set (RGW, MinIO), off for AWS. */
      forcePathStyle: boolean | null
    }
  }
  /** Replicas sharing store.kind s3 (issue 19): one upstream download per key across all of them. */
  cluster: {
    /** The internal listener peers stream in-flight downloads from; false: none (no single flight across replicas). */
    peer: ListenConfig | false
    /** How other replicas reach this one's peer listener; null: http://<peer.host>:<peer.port>. */
    advertiseUrl: string | null
    /** Shared secret of peer requests (DSMIRROR_CLUSTER_TOKEN); required when peer.host is beyond loopback. */
    token: string | null
    /** Cross-replica single flight through S3 leases; false: each replica downloads on its own (an engine without conditional writes). */
    singleFlight: boolean
    /** ms a lease lives without a heartbeat, by the store's clock. */
    leaseTtl: number
  }
}

export interface ConfigSchemaOptions {
  /** Relative paths are resolved against it. */
  cwd: string
  /** `~` at the start of a path expands to it (the caller's HOME); left as is when undefined. */
  home?: string | undefined
}

/** Runs a check that throws with a fix-it message, turning the throw into a zod issue. */
function leaf<T> (check: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return check(value)
    } catch (err: unknown) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
      return z.NEVER
    }
  })
}

function fail (message: string): never {
  throw new RangeError(message)
}

function checkPort (value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535) return value
  return fail(`${showValue(value)} is not a port. Use a whole number from 0 to 65535 (0 picks a free port).`)
}

function checkListenHost (value: unknown): string {
  if (typeof value === 'string') {
    // Node's listen() wants IPv6 without the brackets a URL has.
    const host = value.trim().replace(/^\[(.*)\]$/, '$1')
    if (isIP(host) !== 0 || isHostName(host.toLowerCase())) return host
  }
  return fail(`${showValue(value)} is not an address to listen on. Use an IP address (127.0.0.1, 0.0.0.0, ::) or a host name.`)
}

function checkCidr (value: unknown): string {
  if (typeof value === 'string') {
    const [address = '', prefixText, extra] = value.trim().split('/')
    const family = isIP(address)
    const max = family === 4 ? 32 : 128
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
    // A zone (fe80::1%eth0) names an interface, not a range.
    if (family !== 0 && !address.includes('%') && extra === undefined && prefix >= 0 && prefix <= max) return `${address.toLowerCase()}/${prefix}`
  }
  return fail(`${showValue(value)} is not an address range. Write a CIDR range like 10.0.0.0/8, 172.16.0.0/12, 127.0.0.0/8 or fd00::/8, or one address like 10.1.2.3.`)
}

function checkBoolean (value: unknown): boolean {
  if (typeof value === 'boolean') return value
  return fail(`${showValue(value)} is not true or false. Write true or false.`)
}

function checkCount (max: number) {
  return (value: unknown): number => {
    const count = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value
    if (typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= max) return count
    const range = Number.isFinite(max) ? `from 0 to ${max}` : '0 or more'
    return fail(`${showValue(value)} is not a valid count. Use a whole number ${range}.`)
  }
}

function checkDuration (min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: unknown): number => {
    const ms = parseDuration(value)
    if (ms < min) return fail(`${showValue(value)} is too short. Use at least ${min}ms${min === 1 ? ' (more than 0)' : ''}.`)
    if (ms > max) return fail(`${showValue(value)} is too long. Use at most ${max / DAY_MS}d.`)
    return ms
  }
}

function checkCacheSize (value: unknown): number {
  const bytes = parseSize(value)
  // lru-cache refuses a maxSize of 0, and an empty cache would store nothing anyway.
  if (bytes === 0) fail(`${showValue(value)} leaves no room to cache anything. Write a size like 50GiB.`)
  return bytes
}

function checkPath ({ cwd, home }: ConfigSchemaOptions) {
  return (value: unknown): string => {
    if (typeof value !== 'string' || value.trim() === '') {
      return fail(`${showValue(value)} is not a path. Write a file or directory path, absolute or relative to the working directory.`)
    }
    const text = value.trim()
    const expanded = home !== undefined && (text === '~' || text.startsWith('~/')) ? join(home, text.slice(1)) : text
    return isAbsolute(expanded) ? resolve(expanded) : resolve(cwd, expanded)
  }
}

function checkOptionalPath (options: ConfigSchemaOptions) {
  const checkOne = checkPath(options)
  return (value: unknown): string | null => value === null || value === undefined ? null : checkOne(value)
}

function checkTlsHostname (value: unknown): string {
  if (typeof value === 'string') {
    const name = value.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
    if (isIP(name) !== 0 || isHostName(name) || (name.startsWith('*.') && isHostName(name.slice(2), 2))) return name
  }
  return fail(`${showValue(value)} is not a host name or IP address for the certificate. Write it like localhost, mirror.corp, *.corp.example or 10.0.0.5.`)
}

function checkProxy (value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim()
    if (text === 'env' || text === 'none') return text
    if (URL.canParse(text)) {
      const url = new URL(text)
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') return text
    }
  }
  return fail(`${showValue(value)} is not a proxy setting. Use env (HTTPS_PROXY/NO_PROXY), none, or a URL like http://egress:3128.`)
}

function checkGlob (value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    return fail(`${showValue(value)} is not a file name pattern. Write a glob like *.tar.gz.`)
  }
  if (value.includes('/')) {
    return fail(`${showValue(value)} has a '/', but patterns are matched against the file name only. Write it like *.tar.gz.`)
  }
  return value.trim()
}

function checkMirrorUrl (value: unknown): string {
  if (typeof value === 'string' && URL.canParse(value.trim())) {
    const url = new URL(value.trim())
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') {
      if (url.search !== '' || url.hash !== '') {
        return fail(`${showValue(value)} has a query or fragment; a mirror URL is a base that request paths are appended to.`)
      }
      // Request paths are appended to the base, so it must name a directory.
      if (!url.pathname.endsWith('/')) url.pathname += '/'
      return url.href
    }
  }
  return fail(`${showValue(value)} is not an absolute http(s) URL. Write it like https://download.pytorch.org/.`)
}

function checkChecksumUrl (value: string): string {
  if (URL.canParse(value.trim())) {
    const url = new URL(value.trim())
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') return url.href
  }
  return fail(`${showValue(value)} is not an absolute http(s) URL. Key checksums by the full upstream URL, like https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz.`)
}

function checkChecksum (value: unknown): string {
  if (typeof value === 'string') {
    const match = /^(md5|sha256):([0-9a-f]+)$/i.exec(value.trim())
    const algorithm = match?.[1]?.toLowerCase()
    const hex = match?.[2]?.toLowerCase() ?? ''
    if ((algorithm === 'md5' && hex.length === 32) || (algorithm === 'sha256' && hex.length === 64)) return `${algorithm}:${hex}`
  }
  return fail(`${showValue(value)} is not a digest. Write md5:<32 hex digits> or sha256:<64 hex digits>.`)
}

function checkToken (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string' && value.trim() !== '' && !/\s/.test(value.trim())) return value.trim()
  if (typeof value === 'number') return fail(`${showValue(value)} was read as a number. Quote the token: '${value}'.`)
  return fail(`${showValue(value)} is not a bearer token. Use one word without spaces (e.g. from 'openssl rand -hex 32'), or null.`)
}

function checkEnum<T extends string> (what: string, allowed: readonly T[]) {
  return (value: unknown): T => {
    const text = typeof value === 'string' ? value.trim().toLowerCase() : undefined
    const found = allowed.find((option) => option === text)
    if (found !== undefined) return found
    return fail(`${showValue(value)} is not a ${what}. Use ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1] ?? ''}.`)
  }
}

/** A section of named keys. Null counts as absent, since YAML reads `cache:` with every line commented out as null. */
function section<S extends z.ZodRawShape> (shape: S) {
  const keys = Object.keys(shape).join(', ')
  const object = z.strictObject(shape, {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a section. Write it as nested keys: ${keys}.`
      : undefined
  })
  return z.preprocess((value) => value ?? {}, object)
}

function list<T> (what: string, example: string, item: z.ZodType<T>) {
  return z.array(item, {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a list of ${what}. Write it like ${example}.`
      : undefined
  })
}

function listener (host: string, port: number) {
  const object = z.strictObject({
    host: leaf(checkListenHost).default(host),
    port: leaf(checkPort).default(port)
  }, {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a listener. Write { host: ${host}, port: ${port} }, or false to turn it off.`
      : undefined
  })
  // `true` (and an empty key) means the default listener, so an env var can turn it back on.
  return z.preprocess((value) => value === true || value === null || value === undefined ? {} : value,
    z.union([z.literal(false), object], {
      error: (issue) => issue.code === 'invalid_union'
        ? `${showValue(issue.input)} is not a listener. Write { host: ${host}, port: ${port} }, or false to turn it off.`
        : undefined
    }))
}

function allowHostList () {
  return list('hosts', '[download.pytorch.org, "*.hf.co", "@torchvision"]', z.unknown())
    .transform((entries, ctx) => {
      const hosts: string[] = []
      entries.forEach((entry, index) => {
        try {
          if (typeof entry !== 'string') fail(`${showValue(entry)} is not a host name. Write it like download.pytorch.org.`)
          hosts.push(...(entry.trim().startsWith('@') ? expandPreset(entry) : [normalizeAllowHost(entry)]))
        } catch (err: unknown) {
          ctx.addIssue({ code: 'custom', path: [index], message: err instanceof Error ? err.message : String(err) })
        }
      })
      return [...new Set(hosts)]
    })
}

function checkProxyAuth (value: unknown): { users: Record<string, string> } | null | false {
  if (value === null || value === undefined) return null
  if (value === false) return false
  const fix = 'Write it as { users: { <name>: <password> } }, false for no credentials on purpose, or null.'
  if (typeof value !== 'object' || Array.isArray(value)) return fail(`${showValue(value)} is not proxy credentials. ${fix}`)
  const { users, ...extra } = value as Record<string, unknown>
  if (Object.keys(extra).length > 0) return fail(`has unknown keys ${Object.keys(extra).join(', ')}. ${fix}`)
  if (typeof users !== 'object' || users === null || Array.isArray(users) || Object.keys(users).length === 0) return fail(`has no users. ${fix}`)
  const out: Record<string, string> = {}
  for (const [name, password] of Object.entries(users as Record<string, unknown>)) {
    // RFC 7617 §2: the user-id cannot contain a colon.
    if (name === '' || name.includes(':') || /[\u0000-\u001f\u007f]/.test(name)) fail(`user ${showValue(name)} is not a user name: use letters, digits and punctuation other than ':'.`) // eslint-disable-line no-control-regex
    if (typeof password !== 'string' || password === '') fail(`the password of user '${name}' is not a non-empty string. Quote it in YAML.`)
    out[name] = password as string
  }
  return { users: out }
}

function forwardProxySection () {
  return section({
    enabled: leaf(checkBoolean).default(DEFAULT_FORWARD_PROXY_ENABLED),
    tunnelHosts: allowHostList().default(() => []),
    plainHttpHosts: allowHostList().default(() => []),
    auth: leaf(checkProxyAuth).default(null),
    leafLifetime: leaf(checkDuration(1, MAX_LEAF_LIFETIME_MS)).default(DEFAULT_FORWARD_PROXY_LEAF_LIFETIME_MS)
  })
}

function checkS3Endpoint (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string' && URL.canParse(value.trim())) {
    const url = new URL(value.trim())
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '' && url.username === '' && url.password === '') return url.origin
  }
  return fail(`${showValue(value)} is not an S3 endpoint. Write an origin like http://rgw.storage:7480 (no path, no credentials: they come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws), or null for AWS S3.`)
}

/** S3 bucket names (AWS's rules, which RGW and MinIO follow): 3-63 of a-z 0-9 . -, starting and ending alphanumeric. */
function checkBucket (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value.trim())) return value.trim()
  return fail(`${showValue(value)} is not a bucket name. Use 3-63 lower-case letters, digits, '.' and '-', like dsmirror-cache.`)
}

function checkS3Prefix (value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim().replace(/^\/+/, '')
    if (text === '') return ''
    if (!/[\u0000-\u001f\u007f\\]/.test(text) && !text.split('/').some((part) => part === '.' || part === '..')) return text.endsWith('/') ? text : `${text}/` // eslint-disable-line no-control-regex
  }
  return fail(`${showValue(value)} is not a key prefix. Write it like dsmirror/ (or '' for the bucket's root).`)
}

function checkRegion (value: unknown): string {
  if (typeof value === 'string' && /^[a-z0-9-]{1,64}$/.test(value.trim())) return value.trim()
  return fail(`${showValue(value)} is not a region. Write it like us-east-1 (RGW and MinIO accept any; us-east-1 is their usual default).`)
}

function checkOptionalBoolean (value: unknown): boolean | null {
  return value === null || value === undefined ? null : checkBoolean(value)
}

function checkAdvertiseUrl (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string' && URL.canParse(value.trim())) {
    const url = new URL(value.trim())
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '') return url.origin
  }
  return fail(`${showValue(value)} is not a peer URL. Write the origin other replicas reach this one's cluster.peer listener at, like http://10.1.2.3:8081 (in Kubernetes: http://$(POD_IP):8081).`)
}

function storeSection () {
  return section({
    kind: leaf(checkEnum('store kind', STORE_KINDS)).default(DEFAULT_STORE_KIND),
    s3: section({
      endpoint: leaf(checkS3Endpoint).default(null),
      region: leaf(checkRegion).default(DEFAULT_S3_REGION),
      bucket: leaf(checkBucket).default(null),
      prefix: leaf(checkS3Prefix).default(DEFAULT_S3_PREFIX),
      maxSize: leaf(parseSize).default(DEFAULT_S3_MAX_BYTES),
      forcePathStyle: leaf(checkOptionalBoolean).default(null)
    })
  }).superRefine((value, ctx) => {
    if (typeof value !== 'object' || value === null || value.kind !== 's3' || value.s3?.bucket !== null) return
    ctx.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'is not set, but store.kind is s3. Name the bucket (DSMIRROR_STORE_S3_BUCKET=dsmirror-cache); it must exist, dsmirror does not create it.' })
  }, { when: () => true })
}

function clusterSection () {
  return section({
    peer: listener(DEFAULT_CLUSTER_PEER_HOST, DEFAULT_CLUSTER_PEER_PORT),
    advertiseUrl: leaf(checkAdvertiseUrl).default(null),
    token: leaf(checkToken).default(null),
    singleFlight: leaf(checkBoolean).default(true),
    leaseTtl: leaf(checkDuration(1000)).default(DEFAULT_CLUSTER_LEASE_TTL_MS)
  })
}

/** The default allowHosts, expanded (the presets named by DEFAULT_ALLOW_HOSTS). */
export function defaultAllowHosts (): string[] {
  return [...new Set(DEFAULT_ALLOW_HOSTS.flatMap((token) => expandPreset(token)))]
}

/** Issues for record keys that `check` rejects. Runs even when values are bad (`when`), so both are listed at once. */
function checkRecordKeys (check: (key: string) => unknown) {
  return [(record: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if (typeof record !== 'object' || record === null) return
    for (const key of Object.keys(record)) {
      try {
        check(key)
      } catch (err: unknown) {
        ctx.addIssue({ code: 'custom', path: [key], message: err instanceof Error ? err.message : String(err) })
      }
    }
  }, { when: () => true }] as const
}

function checkHfMount (value: unknown): string | false {
  if (value === false) return false
  if (typeof value === 'string') {
    const text = value.trim().replace(/^\/+|\/+$/g, '')
    if (MIRROR_NAME_RE.test(text)) return text
  }
  return fail(`${showValue(value)} is not a mount. Write one path segment without a dot, like hf (HF_ENDPOINT=<base>/hf), or false to turn the mode off.`)
}

function checkHfEndpoint (value: unknown): string {
  if (typeof value === 'string' && URL.canParse(value.trim())) {
    const url = new URL(value.trim())
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '') return url.origin
  }
  return fail(`${showValue(value)} is not a Hub origin. Write it like https://huggingface.co (no path).`)
}

function checkMirrorName (name: string): void {
  if (!MIRROR_NAME_RE.test(name)) {
    fail(`${showValue(name)} is not a mirror name. Use lower-case letters, digits, '-' and '_', starting with a letter or digit, and no dot (e.g. pytorch).`)
  }
}

function mirrorRecord () {
  const mirror = z.strictObject({ url: leaf(checkMirrorUrl) }, {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a mirror. Write it as { url: https://download.pytorch.org/ }.`
      : undefined
  })
  const record = z.record(z.string(), mirror, {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a set of mirrors. Write it as { pytorch: { url: https://download.pytorch.org/ } }.`
      : undefined
  }).superRefine(...checkRecordKeys(checkMirrorName))
  const defaults = (): Record<string, { url: string }> =>
    Object.fromEntries(Object.entries(DEFAULT_MIRROR_URLS).map(([name, url]) => [name, { url }]))
  return z.preprocess((value) => value ?? undefined, record.default(defaults))
}

function checksumRecord () {
  const record = z.record(z.string(), leaf(checkChecksum), {
    error: (issue) => issue.code === 'invalid_type'
      ? `${showValue(issue.input)} is not a set of checksums. Write it as { "https://host/file.tar.gz": "sha256:<hex>" }.`
      : undefined
  }).superRefine(...checkRecordKeys(checkChecksumUrl))
    // Keys in WHATWG URL form (host lower-cased, default port dropped), as the upstream client sees them.
    // The torchvision md5s are always known; an entry in the config wins over the preset.
    .transform((checksums) => ({ ...TORCHVISION_CHECKSUMS, ...Object.fromEntries(Object.entries(checksums).map(([url, digest]) => [checkChecksumUrl(url), digest])) }))
  return z.preprocess((value) => value ?? undefined, record.default(() => ({ ...TORCHVISION_CHECKSUMS })))
}

/**
 * The zod schema of the config file (and of env overrides, merged into the same object).
 * Its output is the final DsmirrorConfig: defaults filled, units converted, paths absolute,
 * allowHosts presets expanded. Built per call because paths resolve against `cwd`.
 */
export function createConfigSchema (options: ConfigSchemaOptions): z.ZodType<DsmirrorConfig, unknown> {
  const tls = section({
    mode: leaf(checkEnum('TLS mode', TLS_MODES)).default(DEFAULT_TLS_MODE),
    hostnames: list('host names', '[localhost, mirror.corp, 10.0.0.5]', leaf(checkTlsHostname))
      .min(1, { error: 'is empty, but the certificate needs a name. List the names clients use, e.g. [localhost, mirror.corp].' })
      .default(() => [...DEFAULT_TLS_HOSTNAMES]),
    certFile: leaf(checkOptionalPath(options)).default(null),
    keyFile: leaf(checkOptionalPath(options)).default(null),
    leafLifetime: leaf(checkDuration(1, MAX_LEAF_LIFETIME_MS)).default(DEFAULT_LEAF_LIFETIME_MS)
  }).superRefine((value, ctx) => {
    // `when`: report a missing certFile even while another tls key is also wrong.
    if (typeof value !== 'object' || value === null || value.mode !== 'files') return
    if (value.certFile === null) {
      ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'is not set, but tls.mode is files. Set it to the PEM certificate chain file, e.g. /etc/dsmirror/tls.crt.' })
    }
    if (value.keyFile === null) {
      ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'is not set, but tls.mode is files. Set it to the PEM private key file, e.g. /etc/dsmirror/tls.key.' })
    }
  }, { when: () => true })

  const schema = section({
    dataDir: leaf(checkPath(options)).default(resolve(options.cwd, DEFAULT_DATA_DIR)),
    listen: section({
      http: listener(DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT),
      https: listener(DEFAULT_HTTPS_HOST, DEFAULT_HTTPS_PORT),
      headersTimeout: leaf(checkDuration(1)).default(DEFAULT_CLIENT_HEADERS_TIMEOUT_MS)
    }),
    tls,
    upstream: section({
      caFiles: list('paths', '[/etc/ssl/corp-root.pem]', leaf(checkPath(options))).default(() => []),
      systemStore: leaf(checkBoolean).default(true),
      proxy: leaf(checkProxy).default(DEFAULT_UPSTREAM_PROXY),
      timeouts: section({
        connect: leaf(checkDuration(0)).default(DEFAULT_CONNECT_TIMEOUT_MS),
        headers: leaf(checkDuration(0)).default(DEFAULT_HEADERS_TIMEOUT_MS),
        idle: leaf(checkDuration(0)).default(DEFAULT_IDLE_TIMEOUT_MS),
        minRate: leaf(parseSize).default(DEFAULT_MIN_RATE_BYTES_PER_SEC),
        minRateWindow: leaf(checkDuration(1)).default(DEFAULT_MIN_RATE_WINDOW_MS)
      }),
      retries: leaf(checkCount(Number.POSITIVE_INFINITY)).default(DEFAULT_RETRIES),
      retryDelay: leaf(checkDuration(0)).default(DEFAULT_RETRY_DELAY_MS),
      maxRedirects: leaf(checkCount(MAX_REDIRECTS_LIMIT)).default(DEFAULT_MAX_REDIRECTS),
      allowAddresses: list('address ranges', '[10.0.0.0/8, "fd00::/8"]', leaf(checkCidr)).default(() => [])
    }),
    cache: section({
      dir: leaf(checkOptionalPath(options)).default(null),
      maxSize: leaf(checkCacheSize).default(DEFAULT_MAX_CACHE_BYTES),
      revalidateAfter: leaf(checkDuration(0)).default(DEFAULT_REVALIDATE_AFTER_MS),
      immutable: list('file name patterns', '["*.tar.gz", "*.zip"]', leaf(checkGlob)).default(() => [...DEFAULT_IMMUTABLE_PATTERNS]),
      serveStale: leaf(checkBoolean).default(DEFAULT_SERVE_STALE),
      negativeTtl: leaf(checkDuration(0)).default(DEFAULT_NEGATIVE_TTL_MS),
      cdnCacheControl: leaf(checkBoolean).default(DEFAULT_CDN_CACHE_CONTROL),
      orphanTimeout: leaf(checkDuration(0)).default(DEFAULT_ORPHAN_TIMEOUT_MS)
    }),
    allowHosts: allowHostList().default(defaultAllowHosts),
    mirrors: mirrorRecord(),
    checksums: checksumRecord(),
    admin: section({
      token: leaf(checkToken).default(null),
      allowedHosts: list('host names', '[mirror.corp, "*.corp.example"]', leaf(checkTlsHostname)).default(() => []),
      openOnNetwork: leaf(checkBoolean).default(false)
    }),
    log: section({ level: leaf(checkEnum('log level', LOG_LEVELS)).default(DEFAULT_LOG_LEVEL) }),
    huggingface: section({
      mount: leaf(checkHfMount).default(DEFAULT_HF_MOUNT),
      endpoint: leaf(checkHfEndpoint).default(DEFAULT_HF_ENDPOINT),
      revisionTtl: leaf(checkDuration(0)).default(DEFAULT_HF_REVISION_TTL_MS)
    }),
    forwardProxy: forwardProxySection(),
    store: storeSection(),
    cluster: clusterSection()
  }).superRefine((value, ctx) => {
    // Runs even when other fields failed (to list every problem at once): read defensively.
    if (typeof value !== 'object' || value === null) return
    // `/hf/...` and `/<mirror>/...` share the first path segment (docs/design.md "URL scheme").
    const mount = value.huggingface?.mount
    if (mount !== false && mount !== undefined && value.mirrors !== undefined && Object.hasOwn(value.mirrors, mount)) {
      ctx.addIssue({ code: 'custom', path: ['mirrors', mount], message: 'has the name of huggingface.mount. Rename the mirror, or set huggingface.mount to another segment (or false).' })
    }
    // Issue 12 item 6: Basic proxy auth or an explicit opt-out before the proxy answers other machines.
    const forwardProxy = (value as { forwardProxy?: { enabled?: unknown, auth?: unknown } }).forwardProxy
    const http = (value as { listen?: { http?: unknown } }).listen?.http as { host?: unknown } | false | undefined
    if (forwardProxy?.enabled !== true || forwardProxy.auth !== null || http === false || typeof http?.host !== 'string') return
    if (!isLoopbackHost(http.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['forwardProxy', 'auth'],
        message: `is not set, but listen.http (${http.host}) is reachable from other machines, which could then use the forward proxy. Set forwardProxy.auth: { users: { <name>: <password> } }, or forwardProxy.auth: false to serve it without credentials on purpose, or forwardProxy.enabled: false, or bind listen.http to 127.0.0.1.`
      })
    }
  }, { when: () => true })

  return schema.superRefine((config, ctx) => {
    for (const issue of [...openListenerIssues(config), ...clusterIssues(config)]) ctx.addIssue({ code: 'custom', ...issue })
  }).transform((config): DsmirrorConfig => ({
    ...config,
    cache: { ...config.cache, dir: config.cache.dir ?? join(config.dataDir, DEFAULT_CACHE_SUBDIR) }
  }))
}

/**
 * Issue 19: followers stream from the leader's peer listener, so single flight across replicas
 * needs one; beyond loopback it serves every in-flight body, so it needs the shared token.
 */
function clusterIssues (config: { store: { kind: StoreKind }, cluster: { peer: ListenConfig | false, token: string | null, singleFlight: boolean } }): Array<{ path: string[], message: string }> {
  const { peer, token, singleFlight } = config.cluster
  if (config.store.kind !== 's3') return []
  if (peer === false) {
    return singleFlight
      ? [{ path: ['cluster', 'peer'], message: 'is false, but store.kind is s3 with cluster.singleFlight: replicas that lose a download race stream it from the leader\'s peer listener. Give it { host, port }, or set cluster.singleFlight: false (every replica then downloads on its own).' }]
      : []
  }
  if (token !== null || isLoopbackHost(peer.host)) return []
  return [{
    path: ['cluster', 'token'],
    message: `is not set, but cluster.peer listens on ${peer.host}, reachable from other machines, which could read every in-flight download. ` +
      "Set the same cluster.token on every replica (DSMIRROR_CLUSTER_TOKEN, e.g. from 'openssl rand -hex 32'), or bind cluster.peer to 127.0.0.1."
  }]
}

/**
 * Issue 17: a listener beyond loopback serves the status page (every cached URL) and the mirror's
 * allowlisted egress to whoever reaches it, so it needs admin.token, or admin.openOnNetwork: true
 * as the operator's explicit acceptance. Refused at load, so `dsmirror config check` says it too.
 */
function openListenerIssues (config: { listen: { http: ListenConfig | false, https: ListenConfig | false }, tls: { mode: string }, admin: { token: string | null, openOnNetwork: boolean } }): Array<{ path: string[], message: string }> {
  if (config.admin.token !== null || config.admin.openOnNetwork) return []
  const issues: Array<{ path: string[], message: string }> = []
  for (const scheme of ['http', 'https'] as const) {
    const listen = config.listen[scheme]
    if (listen === false || (scheme === 'https' && config.tls.mode === 'off') || isLoopbackHost(listen.host)) continue
    const envName = `DSMIRROR_LISTEN_${scheme.toUpperCase()}_HOST`
    issues.push({
      path: ['listen', scheme, 'host'],
      message: `is ${listen.host}, reachable from other machines, and admin.token is not set: anyone who reaches ` +
        `port ${listen.port} could read the status page (every cached URL) and use the mirror's egress. ` +
        "Set admin.token (e.g. 'openssl rand -hex 32'; DSMIRROR_ADMIN_TOKEN) so only its holders can change the cache, " +
        'or set admin.openOnNetwork: true (DSMIRROR_ADMIN_OPENONNETWORK=true) to accept that, ' +
        `or listen on 127.0.0.1 (${envName}=127.0.0.1).`
    })
  }
  return issues
}
