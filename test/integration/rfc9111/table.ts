// The shape of a conformance row (issue #13, "Show"): what the scripted origin answers, what the
// client asks, what the client must get and what the origin must have received. Each row cites
// the RFC section it checks. Rows run in order against one origin and one proxy per distinct
// `config`, each under its own path, so nothing a row stores is seen by another.

/** One scripted origin response. Header values may hold date tokens (see `expandTokens`). */
export interface Scripted {
  status?: number
  /** Field lines in order; a name may repeat (two lines on the wire). */
  headers?: Array<[string, string]>
  /** Default `r<index>`: the body says which origin response the client got. */
  body?: string
  /** No Date field (by default one for "now" is added). */
  noDate?: boolean
  /** No Content-Length field (the body ends with the connection). */
  noLength?: boolean
}

/** What the origin received, as the script sees it. */
export interface OriginRequest {
  method: string
  path: string
  /** Lower-case names; repeated lines joined with ', '. */
  headers: Record<string, string>
}

/** A list (the last entry repeats) or a function of the request and its index for this row. */
export type OriginScript = Scripted[] | ((req: OriginRequest, index: number) => Scripted)

/** A header expectation: exact value, pattern, or null for "absent". */
export type HeaderExpect = string | RegExp | null

export interface Step {
  method?: string
  /** Appended to the row's path ('' by default); '?x=1' or '/other' name a neighbour URI. */
  suffix?: string
  /** 'host' uses the generic /<host>/<path> spelling instead of the named mirror. */
  via?: 'mirror' | 'host'
  headers?: Record<string, string>
  body?: string
  expect: {
    status?: number
    /** Expected body text; 'r0' is the first origin response's default body. */
    body?: string
    headers?: Record<string, HeaderExpect>
    /** Pattern for the Cache-Status field (RFC 9211). */
    cacheStatus?: RegExp
  }
  /** Origin requests for this row's paths after this step, in total. */
  originCount?: number
  /** Headers of the last origin request made during this step (one must have been made). */
  originSaw?: Record<string, HeaderExpect>
}

export interface Row {
  /** Unique, path-safe: the row's URL is /<section>/<id>. */
  id: string
  /** e.g. 'RFC 9111 §5.2.2.1'. */
  rfc: string
  title: string
  /** Set while the row fails on the code under test; tap reports it as todo, not failed. */
  todo?: string
  /** Raw config merged over the defaults for this row's proxy (cache.immutable, ...). */
  config?: Record<string, unknown>
  /** Extension appended to the path (`.bin` rows match the default cache.immutable). */
  ext?: string
  origin: OriginScript
  steps: Step[]
}

export interface Section {
  /** Short path-safe name, e.g. 'fields'. */
  name: string
  /** Issue #13 item number(s) and a title, for the report. */
  title: string
  rows: Row[]
}

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const LONG_DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/**
 * `{imf+3600}`, `{imf-60}`, `{rfc850+3600}`, `{asctime+3600}`: an HTTP-date that many seconds
 * from now in the given format (RFC 9110 §5.6.7), so no row depends on today's date.
 */
export function expandTokens (value: string, now: number): string {
  return value.replace(/\{(imf|rfc850|asctime|utc|hour1|dashes|iso|noday|lowgmt|numtz|nosec|yy|day3|lowmon|longday|est|rfc850y4)([+-]\d+)?\}/g, (_m, format: string, offset: string | undefined) => {
    const d = new Date(now + Number(offset ?? 0) * 1000)
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
    const day = DAY_NAMES[d.getUTCDay()] ?? ''
    const month = MONTHS[d.getUTCMonth()] ?? ''
    const year = d.getUTCFullYear()
    if (format === 'imf') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${time} GMT`
    // Invalid spellings (RFC 9110 §5.6.7 has exactly three formats): for rows on §5.3.
    if (format === 'utc') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${time} UTC`
    if (format === 'hour1') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${d.getUTCHours() % 10}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT`
    if (format === 'dashes') return `${day}, ${pad(d.getUTCDate())}-${month}-${year} ${time} GMT`
    if (format === 'iso') return d.toISOString()
    if (format === 'noday') return `${pad(d.getUTCDate())} ${month} ${year} ${time} GMT`
    if (format === 'lowgmt') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${time} gmt`
    if (format === 'numtz') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${time} +0000`
    if (format === 'nosec') return `${day}, ${pad(d.getUTCDate())} ${month} ${year} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} GMT`
    if (format === 'yy') return `${day}, ${pad(d.getUTCDate())} ${month} ${pad(year % 100)} ${time} GMT`
    if (format === 'day3') return `${day}, ${pad(d.getUTCDate(), 3)} ${month} ${year} ${time} GMT`
    if (format === 'lowmon') return `${day}, ${pad(d.getUTCDate())} ${month.toLowerCase()} ${year} ${time} GMT`
    if (format === 'longday') return `${LONG_DAY_NAMES[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${month} ${year} ${time} GMT`
    // The wall-clock time of the instant in EST, so the instant is right and only the zone name is wrong.
    if (format === 'est') { const e = new Date(d.getTime() - 5 * 3600_000); return `${DAY_NAMES[e.getUTCDay()]}, ${pad(e.getUTCDate())} ${MONTHS[e.getUTCMonth()]} ${e.getUTCFullYear()} ${pad(e.getUTCHours())}:${pad(e.getUTCMinutes())}:${pad(e.getUTCSeconds())} EST` }
    if (format === 'rfc850y4') return `${LONG_DAY_NAMES[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${month}-${year} ${time} GMT`
    if (format === 'rfc850') return `${LONG_DAY_NAMES[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${pad(d.getUTCFullYear() % 100)} ${time} GMT`
    return `${DAY_NAMES[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`
  })
}

// Row builders: most rows are "store, then ask again" with one expectation on the second request.

const HIT = /^dsmirror; hit/

/** Two GETs: the second is served from the cache without the origin (count stays 1). */
export function reused (extra: Partial<Step> = {}): Step[] {
  return [
    { expect: { status: 200, body: 'r0' }, originCount: 1 },
    { ...extra, expect: { status: 200, body: 'r0', cacheStatus: HIT, ...extra.expect }, originCount: 1 }
  ]
}

/** Two GETs: the second goes to the origin (count 2). */
export function notReused (extra: Partial<Step> = {}): Step[] {
  return [
    { expect: { status: 200, body: 'r0' }, originCount: 1 },
    { ...extra, expect: { status: 200, ...extra.expect }, originCount: 2 }
  ]
}

export const patterns = { HIT }
