// What the cache did for one response, as one type (issue 10 item 4;
// docs/design.md "Cache outcomes"). The code that decides sets it on the reply with setCacheStatus; the Cache-Status
// header (RFC 9211) is rendered from it once, and metrics, the request log line and the aborted
// response's log line read the type (reply.cacheStatus), never the header text.
import type { DsmCode } from '../errors.js'

/**
 * RFC 9211 §2.2 `fwd`, why the cache went upstream: `miss` (nothing stored), `stale` (stored, not
 * fresh), `vary-miss` (stored for other Vary values), `request` (the request asked for
 * validation), `method` (a method the cache never serves).
 */
export type Forward = 'miss' | 'stale' | 'vary-miss' | 'request' | 'method'

/**
 * The cache's own reasons, as RFC 9211 §2.8 `detail` tokens: `negative` (a remembered 404/410),
 * `in-flight` (joined a download already running), `no-space` / `cache-unwritable` (the cache
 * could not keep the body, passed through), `uncacheable` (the response may not be shared),
 * `stale-if-error` (stored copy served because the upstream answered 5xx), `local` (dsmirror's
 * own pages, never a cache matter).
 */
export type DetailToken = 'negative' | 'in-flight' | 'no-space' | 'cache-unwritable' | 'uncacheable' | 'stale-if-error' | 'local'

/** Why the response may not be stored, in the response's words (rendered as a quoted string). */
export interface DetailReason { reason: string }

export interface CacheStatus {
  /** RFC 9211 §2.1: answered from the cache (a committed body, a joined download, a negative entry). */
  hit?: true
  fwd?: Forward
  /** RFC 9211 §2.3: the status the upstream answered the forwarded request with. */
  fwdStatus?: number
  /** RFC 9211 §2.5: the response is being stored (dropped again when the download fails). */
  stored?: true
  /** The first `detail`: the cache's token, the DSM code that made it serve a stale copy, or the response's reason. */
  detail?: DetailToken | DsmCode | DetailReason
  /**
   * The code the response itself ended with (an error response, a 416, a download that failed
   * before or after the headers): a DSM code, or the code of a framework error below 500 (e.g.
   * FST_ERR_CTP_INVALID_MEDIA_TYPE). Rendered as `detail`, after any `detail` above.
   */
  error?: string
}

/**
 * What the cache did for one response, as metrics count it: hit (stored, fresh), coalesced
 * (joined a download in flight), revalidated (stored, confirmed by a 304), stale (stored, served
 * because the upstream failed), miss (fetched from upstream), bypass (not cacheable: other
 * methods, no-store, Vary mismatch), error (a DSM_* error response), local (dsmirror's own pages).
 */
export const OUTCOMES = ['hit', 'coalesced', 'revalidated', 'stale', 'miss', 'bypass', 'error', 'local'] as const
export type Outcome = typeof OUTCOMES[number]
/** Outcomes whose bytes did not have to come from upstream for this response. */
export const FROM_CACHE: ReadonlySet<Outcome> = new Set(['hit', 'coalesced', 'revalidated', 'stale'])

/** The proxy's own pages. */
export const LOCAL: CacheStatus = Object.freeze({ detail: 'local' })

declare module 'fastify' {
  interface FastifyReply {
    /** What the cache did for this response; null until something decided (server/cache/cache-status.ts). */
    cacheStatus: CacheStatus | null
  }
}

export type { DsmCode }

export function isDsmCode (value: unknown): value is DsmCode {
  return typeof value === 'string' && value.startsWith('DSM_')
}

/** The Cache-Status field value (RFC 9211 §2: the cache's name, then its parameters). */
export function renderCacheStatus (status: CacheStatus): string {
  let text = 'dsmirror'
  if (status.hit === true) text += '; hit'
  if (status.fwd !== undefined) text += `; fwd=${status.fwd}`
  if (status.fwdStatus !== undefined) text += `; fwd-status=${status.fwdStatus}`
  if (status.stored === true) text += '; stored'
  if (status.detail !== undefined) text += `; detail=${renderDetail(status.detail)}`
  if (status.error !== undefined) text += `; detail=${status.error}`
  return text
}

function renderDetail (detail: NonNullable<CacheStatus['detail']>): string {
  if (typeof detail === 'string') return detail
  // An RFC 8941 sf-string: `"` and `\` escaped (no reason dsmirror gives has either today).
  return `"${detail.reason.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/** Records what the cache did on the reply and writes the one header that says so. */
export function setCacheStatus<R extends { cacheStatus: CacheStatus | null, header: (name: string, value: string) => unknown }> (reply: R, status: CacheStatus): R {
  reply.cacheStatus = status
  reply.header('cache-status', renderCacheStatus(status))
  return reply
}

/**
 * The status once the response failed with `code` after its status was set (serve-object.ts:
 * before the first byte, or a 416): nothing is stored after all, and the code says why.
 */
export function failedWith (status: CacheStatus, code: string): CacheStatus {
  const { stored: _stored, ...rest } = status
  return { ...rest, error: code }
}

/** The first DSM code the status carries, the one a failed response is logged with. */
export function errorCode (status: CacheStatus | null): DsmCode | undefined {
  if (status === null) return undefined
  if (isDsmCode(status.detail)) return status.detail
  return isDsmCode(status.error) ? status.error : undefined
}

/** The metrics outcome of a response with this status (null: nothing set) and this HTTP status code. */
export function outcomeOf (status: CacheStatus | null, statusCode: number): Outcome {
  if (status === null) return 'local'
  const { hit, fwd, fwdStatus, stored, detail } = status
  // The first rendered `detail`: a DSM code in either place reads the same on the wire.
  const first = detail ?? status.error
  const plain = fwdStatus === undefined && stored !== true
  if (statusCode >= 400 && errorCode(status) !== undefined) return 'error'
  if (detail === 'local') return 'local'
  if (detail === 'stale-if-error' || (fwd === 'stale' && plain && isDsmCode(first))) return 'stale'
  if (hit === true && fwd === undefined && plain && first === 'in-flight') return 'coalesced'
  if (hit === true) return 'hit'
  if (fwdStatus === 304) return 'revalidated'
  if (fwd === 'method' || detail === 'uncacheable' || typeof detail === 'object' || (fwd === 'vary-miss' && plain && first === 'in-flight')) return 'bypass'
  if (fwd !== undefined) return 'miss'
  return 'local'
}

/**
 * A Cache-Status value dsmirror wrote, read back: for readers outside the server that only see the
 * header (a chained dsmirror's answer, tests). The server itself never parses its own header.
 */
export function parseCacheStatus (value: unknown): CacheStatus | null {
  if (typeof value !== 'string' || !value.startsWith('dsmirror')) return null
  const status: CacheStatus = {}
  const details: Array<NonNullable<CacheStatus['detail']>> = []
  // Parameters are `; name[=value]`; a quoted reason may itself hold `; `, so split by a scanner.
  for (const match of value.slice('dsmirror'.length).matchAll(/;\s*([a-z-]+)(?:=("(?:[^"\\]|\\.)*"|[^;]*))?/g)) {
    const [, name, raw] = match
    if (name === 'hit') status.hit = true
    else if (name === 'stored') status.stored = true
    else if (name === 'fwd' && raw !== undefined) status.fwd = raw as Forward
    else if (name === 'fwd-status' && raw !== undefined) status.fwdStatus = Number(raw)
    else if (name === 'detail' && raw !== undefined) {
      details.push(raw.startsWith('"') ? { reason: raw.slice(1, -1).replace(/\\(.)/g, '$1') } : raw as DetailToken | DsmCode)
    }
  }
  const [first, second] = details
  if (first !== undefined) status.detail = first
  if (typeof second === 'string') status.error = second
  return status
}

/** The outcome a Cache-Status header value (and the response status) stands for; see parseCacheStatus. */
export function cacheOutcome (cacheStatus: unknown, statusCode: number): Outcome {
  return outcomeOf(parseCacheStatus(cacheStatus), statusCode)
}
