// HTTP caching semantics the cache engine asks about (issue #13; docs/design.md
// "HTTP caching semantics"). http-cache-semantics (h-c-s) does freshness, storability, Vary bookkeeping and
// 304 selection; what it gets wrong is its input parsing, so it is fed normalized headers:
//   - its Cache-Control parser accepts `max-age = 3600`, `max-age=3600a`, `+3600`, `3600.5` and
//     takes the last of conflicting duplicates, and is case-sensitive: RFC 9111 §1.2.2, §4.2.1,
//     §5.2 say such a response must not become fresh, and directive names are case-insensitive;
//   - it reads dates with Date.parse, which accepts `UTC`, ISO 8601, dashes and one-digit hours:
//     RFC 9110 §5.6.7 has three formats, and RFC 9111 §5.3 makes any other Expires "in the past";
//   - it knows nothing of CDN-Cache-Control (RFC 9213).
// The headers stored with an entry and sent to clients are the upstream's (stored-headers.ts);
// only the policy sees the normalized copy.
import CachePolicy from 'http-cache-semantics'

type Headers = Record<string, string | string[] | undefined>

export interface SemanticsOptions {
  /** cache.cdnCacheControl: honour CDN-Cache-Control (RFC 9213) as this cache's field. */
  cdnCacheControl: boolean
}

export const DEFAULT_SEMANTICS: SemanticsOptions = { cdnCacheControl: false }

/** RFC 9111 §1.2.2: delta-seconds beyond 2^31 are taken as 2^31. */
const MAX_DELTA_SECONDS = 2147483648
/** Directives whose argument is delta-seconds (RFC 9111 §5.2.1, §5.2.2; RFC 5861). */
const DELTA_DIRECTIVES = new Set(['max-age', 's-maxage', 'max-stale', 'min-fresh', 'stale-while-revalidate', 'stale-if-error'])
/** A date h-c-s reads as long past (RFC 9111 §5.3: invalid Expires means already expired). */
const LONG_AGO = 'Thu, 01 Jan 1970 00:00:00 GMT'

/**
 * Fields a 304 never changes in the stored response (RFC 9111 §3.2): they describe the stored
 * bytes, which the 304 does not replace (the cache keeps identity bytes as received).
 */
export const NOT_UPDATED_BY_304 = new Set([
  'content-length', 'content-encoding', 'content-range', 'transfer-encoding', 'content-md5', 'content-digest', 'repr-digest', 'digest'
])

// ---------------------------------------------------------------------------------------------
// Dates (RFC 9110 §5.6.7)

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTH = `(${MONTHS.join('|')})`
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)'
const IMF = new RegExp(`^(?:${DAYS.join('|')}), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`)
const RFC850 = new RegExp(`^(?:${LONG_DAYS.join('|')}), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`)
const ASCTIME = new RegExp(`^(?:${DAYS.join('|')}) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`)

/** Milliseconds since the epoch of an HTTP-date in one of its three formats, else null. */
export function parseHttpDate (value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null
  let m = IMF.exec(value)
  if (m !== null) return utc(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6])
  m = RFC850.exec(value)
  if (m !== null) {
    // A two-digit year more than 50 years ahead is the most recent past year with those digits.
    const thisYear = new Date(now).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3])
    if (year > thisYear + 50) year -= 100
    return utc(year, m[2], Number(m[1]), m[4], m[5], m[6])
  }
  m = ASCTIME.exec(value)
  if (m !== null) return utc(Number(m[6]), m[1], Number((m[2] ?? '').trim()), m[3], m[4], m[5])
  return null
}

function utc (year: number, month: string | undefined, day: number, h: string | undefined, mi: string | undefined, s: string | undefined): number | null {
  const hours = Number(h)
  const minutes = Number(mi)
  const seconds = Number(s)
  const monthIndex = MONTHS.indexOf(month ?? '')
  if (monthIndex < 0 || day < 1 || day > 31 || hours > 23 || minutes > 59 || seconds > 60) return null
  const time = Date.UTC(year, monthIndex, day, hours, minutes, seconds)
  // Rejects 31 Feb and friends rather than rolling over.
  return new Date(time).getUTCDate() === day ? time : null
}

// ---------------------------------------------------------------------------------------------
// Cache-Control (RFC 9111 §5.2)

interface Directive { name: string, value: string | null, valid: boolean }

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Splits on commas outside quoted-strings. */
function splitList (value: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? ''
    if (quoted && c === '\\') {
      current += c + (value[i + 1] ?? '')
      i++
      continue
    }
    if (c === '"') quoted = !quoted
    if (c === ',' && !quoted) {
      parts.push(current)
      current = ''
      continue
    }
    current += c
  }
  parts.push(current)
  return parts.map((p) => p.trim()).filter((p) => p !== '')
}

/** `name[=token|quoted-string]` per directive; whitespace around `=` makes it invalid (RFC 9111 §5.2). */
function parseDirectives (value: string): Directive[] {
  return splitList(value).map((part) => {
    const eq = part.indexOf('=')
    const rawName = eq < 0 ? part : part.slice(0, eq)
    const name = rawName.trim().toLowerCase()
    if (!TOKEN.test(rawName)) return { name, value: null, valid: false }
    if (eq < 0) return { name, value: null, valid: true }
    const raw = part.slice(eq + 1)
    if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) return { name, value: raw.slice(1, -1).replace(/\\(.)/g, '$1'), valid: true }
    return { name, value: raw, valid: TOKEN.test(raw) }
  })
}

/**
 * Cache-Control rewritten so that h-c-s reads what RFC 9111 means: names lower-cased; a
 * delta-seconds directive that is malformed or repeated with different values becomes 0 (it must
 * not make the response fresh, §4.2.1, §1.2.2), capped at 2^31; other directives kept as sent.
 */
export function normalizeCacheControl (value: string): string {
  const out = new Map<string, string | null>()
  for (const d of parseDirectives(value)) {
    if (DELTA_DIRECTIVES.has(d.name)) {
      // max-stale alone means "any staleness" (§5.2.1.2).
      if (d.name === 'max-stale' && d.value === null && d.valid) {
        if (!out.has(d.name)) out.set(d.name, null)
        continue
      }
      const seconds = d.valid && d.value !== null && /^\d+$/.test(d.value) ? String(Math.min(Number(d.value), MAX_DELTA_SECONDS)) : '0'
      const previous = out.get(d.name)
      out.set(d.name, previous !== undefined && previous !== seconds ? '0' : seconds)
      continue
    }
    if (d.name === '' || !TOKEN.test(d.name)) continue
    if (!out.has(d.name)) out.set(d.name, d.value)
  }
  return [...out].map(([name, v]) => v === null ? name : /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v) ? `${name}=${v}` : `${name}="${v.replace(/["\\]/g, '\\$&')}"`).join(', ')
}

// ---------------------------------------------------------------------------------------------
// CDN-Cache-Control (RFC 9213): a Structured Fields Dictionary (RFC 8941 §3.2)

const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/
const SF_BARE = /^(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[^"\\]|\\["\\])*"|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|\?[01]|:[A-Za-z0-9+/=]*:)$/

/** The dictionary as Cache-Control text, or null when it is not a valid Dictionary (then ignored, RFC 9213 §2.1). */
export function cdnCacheControlAsCacheControl (value: string): string | null {
  if (value.trim() === '') return null
  const members = value.split(',')
  const out: string[] = []
  for (const member of members) {
    const trimmed = member.trim()
    if (trimmed === '') return null
    // Parameters (`;a=b`) carry nothing RFC 9213 defines: dropped.
    const [item = ''] = trimmed.split(';')
    const eq = item.indexOf('=')
    const key = eq < 0 ? item : item.slice(0, eq)
    if (!SF_KEY.test(key)) return null
    if (eq < 0) {
      out.push(key)
      continue
    }
    const v = item.slice(eq + 1)
    if (!SF_BARE.test(v)) return null
    if (v === '?0') continue
    if (v === '?1') out.push(key)
    else if (/^-?\d+$/.test(v)) out.push(`${key}=${v}`)
    else if (v.startsWith('"')) out.push(`${key}=${v}`)
    // A token or decimal where RFC 9213 expects an integer: an invalid directive, read as 0 below.
    else out.push(`${key}=${v}x`)
  }
  return out.join(', ')
}

// ---------------------------------------------------------------------------------------------
// Responses and requests as h-c-s sees them

function text (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

/** The response headers h-c-s is given (see the file comment); the input is not changed. */
export function policyResponseHeaders (headers: Headers, opts: SemanticsOptions = DEFAULT_SEMANTICS, now: number = Date.now()): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = value
  const cdn = opts.cdnCacheControl ? text(out['cdn-cache-control']) : undefined
  const targeted = cdn === undefined ? null : cdnCacheControlAsCacheControl(cdn)
  if (targeted !== null) {
    // RFC 9213 §2.1: a valid targeted field replaces Cache-Control and Expires (and Pragma).
    out['cache-control'] = targeted
    delete out.expires
    delete out.pragma
  }
  const cc = text(out['cache-control'])
  if (cc !== undefined) out['cache-control'] = normalizeCacheControl(cc)
  for (const name of ['date', 'last-modified']) {
    const value = text(out[name])
    if (value === undefined) continue
    const time = parseHttpDate(value, now)
    if (time === null) delete out[name]
    else out[name] = new Date(time).toUTCString()
  }
  const expires = text(out.expires)
  if (expires !== undefined) {
    const time = parseHttpDate(expires, now)
    out.expires = time === null ? LONG_AGO : new Date(time).toUTCString()
  }
  const age = text(out.age)
  if (age !== undefined) {
    // RFC 9111 §5.1: a list-based Age (or Age sent twice) counts by its first member; an invalid
    // value is ignored.
    const first = (age.split(',')[0] ?? '').trim()
    if (/^\d+$/.test(first)) out.age = first
    else delete out.age
  }
  return out
}

/**
 * The request headers h-c-s is given: Cache-Control normalized like a response's; Pragma dropped
 * when Cache-Control is present (RFC 9111 §5.4).
 */
export function policyRequestHeaders (headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = value
  const cc = text(out['cache-control'])
  if (cc !== undefined) {
    out['cache-control'] = normalizeCacheControl(cc)
    delete out.pragma
  }
  return out
}

/** A shared-cache policy for `status` and the upstream's `headers`, read as above. */
export function newPolicy (request: CachePolicy.Request, status: number, headers: Headers, opts: SemanticsOptions = DEFAULT_SEMANTICS): CachePolicy {
  return new CachePolicy({ ...request, headers: policyRequestHeaders(request.headers) as CachePolicy.Headers }, { status, headers: policyResponseHeaders(headers, opts) as CachePolicy.Headers }, { shared: true })
}

/**
 * The policy as stored with an entry: the request headers kept are only those Vary selects
 * (RFC 9111 §4.1), never the client's credentials or cookies h-c-s would otherwise keep.
 */
export function storablePolicyObject (policy: CachePolicy): Record<string, unknown> {
  const object = policy.toObject() as unknown as Record<string, unknown>
  const resh = object.resh as Headers | undefined
  const reqh = object.reqh as Headers | null | undefined
  const vary = text(resh?.vary)
  if (reqh === null || reqh === undefined || vary === undefined) return object
  const kept: Headers = {}
  for (const field of vary.toLowerCase().split(',')) {
    const name = field.trim()
    if (name !== '' && reqh[name] !== undefined) kept[name] = reqh[name]
  }
  return { ...object, reqh: kept }
}

/** The names of `Vary`, lower-cased; '*' included when present. */
export function varyNames (headers: Headers): string[] {
  const vary = text(headers.vary)
  if (vary === undefined) return []
  return vary.toLowerCase().split(',').map((n) => n.trim()).filter((n) => n !== '')
}

/**
 * Issue #13 item 11: cache.immutable patterns only extend heuristic freshness (RFC 9111 §4.2.2).
 * A response that says anything explicit about its freshness or reuse is taken at its word.
 */
export function immutablePatternMayApply (headers: Headers, opts: SemanticsOptions = DEFAULT_SEMANTICS): boolean {
  const normalized = policyResponseHeaders(headers, opts)
  if (normalized.expires !== undefined) return false
  if (varyNames(normalized).includes('*')) return false
  const cc = text(normalized['cache-control'])
  if (cc === undefined) return true
  const names = new Set(parseDirectives(cc).map((d) => d.name))
  return !['max-age', 's-maxage', 'no-cache', 'no-store', 'must-revalidate', 'proxy-revalidate', 'private'].some((n) => names.has(n))
}

/** Fields the response names in Connection (RFC 9110 §7.6.1), lower-cased. */
export function connectionOptions (headers: Headers): Set<string> {
  const connection = text(headers.connection)
  if (connection === undefined) return new Set()
  return new Set(connection.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))
}
