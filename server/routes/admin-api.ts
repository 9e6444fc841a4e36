// The admin API under /_/api/ (docs/design.md "Operations"): list, delete, pin and prefetch cache
// entries, list in-flight downloads. Reads are open like the status page; every other method
// needs `Authorization: Bearer <admin.token>`, or, with no token configured, a loopback peer.
// Mirror URLs are accepted in the form clients use (/<host>/<path>, /<mirror>/<path>) and parsed
// by parseMirrorTarget, so the allowlist and the path checks apply to them as to any request.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { CacheStore, EntryMeta } from '../cache/cache-store.js'
import { listAll } from '../cache/store-listing.js'
import { AdminBadRequestError, AdminForbiddenError, AdminNoDownloadError, AdminNotFoundError, AdminUnauthorizedError, type DsmError } from '../errors.js'
import { parseMirrorTarget, type MirrorTarget, type MirrorTargetOptions } from './mirror-target.js'
import { redactUrl } from '../http/redact-url.js'

export const DEFAULT_PAGE_ENTRIES = 100
export const MAX_PAGE_ENTRIES = 1000
export const MAX_PREFETCH_URLS = 1000
const KEY = /^[0-9a-f]{64}$/
const READ_METHODS = new Set(['GET', 'HEAD'])

export interface AdminApiOptions {
  targetOptions: MirrorTargetOptions
  /** The loopback decision on the socket's remote address (config/loopback.ts; tests inject another). */
  isLoopback: (remoteAddress: string | undefined) => boolean
}

export interface AdminAuthInput {
  /** admin.token, null when none is configured. */
  token: string | null
  /** The request's Authorization header. */
  authorization: string | undefined
  loopback: boolean
  /** 'METHOD /path', for the message. */
  what: string
}

/** Null when the mutation may proceed, else the error to answer with (401 no token, 403 wrong or not allowed). */
export function authorizeAdmin ({ token, authorization, loopback, what }: AdminAuthInput): DsmError | null {
  const given = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')?.[1]
  if (token === null) {
    if (loopback) return null
    return new AdminForbiddenError(what, "admin.token is not set, so changes are accepted from loopback only. Set admin.token (e.g. 'openssl rand -hex 32') and send it as 'Authorization: Bearer <token>'.")
  }
  if (given === undefined) return new AdminUnauthorizedError(what)
  // Hashes first: timingSafeEqual needs equal lengths, and the length must not leak either.
  const same = timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest())
  return same ? null : new AdminForbiddenError(what, 'the bearer token is not admin.token. Send the token from the server\'s config (admin.token or DSMIRROR_ADMIN_TOKEN).')
}

export const adminApi: FastifyPluginAsync<AdminApiOptions> = async (app, opts) => {
  const { cache, config } = app.dsmirror
  const store: CacheStore = app.dsmirror.cacheStore

  app.addHook('onRequest', async (request, reply) => {
    // Answers about a cache that changes under them: never stored by anyone.
    reply.header('cache-control', 'no-store')
    if (READ_METHODS.has(request.method)) return
    const refused = authorizeAdmin({
      token: config.admin.token,
      authorization: request.headers.authorization,
      loopback: opts.isLoopback(request.raw.socket.remoteAddress),
      what: `${request.method} ${request.routeOptions.url ?? request.url}`
    })
    if (refused === null) return
    if (refused.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="dsmirror"')
    throw refused
  })

  app.get('/_/api/entries', async (request) => {
    const query = request.query as Record<string, string | undefined>
    const limit = pageLimit(request, query.limit)
    const prefix = query.prefix === undefined || query.prefix === '' ? '' : redactUrl(upstreamPrefix(request, query.prefix, opts.targetOptions))
    // Listed, filtered, sorted and paged by the redacted URL (issue 12 item 12): a prefix or a
    // cursor compared with the full URL would let a reader guess a signature byte by byte.
    const cursor = parseCursor(query.cursor ?? '')
    const matching = (await listAll(store)).map((meta) => ({ meta, shown: redactUrl(meta.url) }))
      .filter(({ shown }) => shown.startsWith(prefix)).sort((a, b) => compare(a.shown, b.shown) || compare(a.meta.key, b.meta.key))
    const after = matching.filter(({ meta, shown }) => (compare(shown, cursor.url) || compare(meta.key, cursor.key)) > 0)
    const page = after.slice(0, limit)
    const last = page[page.length - 1]
    const stats = store.stats
    return {
      entries: page.map(({ meta }) => entryJson(meta)),
      // Paging by the last URL (and key: redacted URLs can be equal), not an offset: entries
      // added or evicted meanwhile shift no page.
      next: after.length > limit && last !== undefined ? `${last.shown} ${last.meta.key}` : null,
      total: matching.length,
      cache: { bytes: stats.bytes, entries: stats.entries, maxSize: stats.maxSize, pinnedBytes: stats.pinnedBytes, pinnedEntries: stats.pinnedEntries }
    }
  })

  app.delete('/_/api/entries/:key', async (request) => {
    const meta = await entryOf(request)
    await store.delete(meta.key)
    request.log.info({ key: meta.key, url: meta.url }, 'admin: entry deleted')
    return { ...entryJson(meta), deleted: true }
  })

  const pin = (pinned: boolean) => async (request: FastifyRequest) => {
    const meta = await store.setPinned((await entryOf(request)).key, pinned)
    if (meta === undefined) throw new AdminNotFoundError((request.params as { key: string }).key)
    request.log.info({ key: meta.key, url: meta.url, pinned }, pinned ? 'admin: entry pinned' : 'admin: entry unpinned')
    return entryJson(meta)
  }
  app.put('/_/api/entries/:key/pin', pin(true))
  app.delete('/_/api/entries/:key/pin', pin(false))

  app.post('/_/api/prefetch', async (request, reply) => {
    const { urls, pin: pinAfter } = prefetchBody(request)
    // Every URL is checked before anything starts: one refused URL refuses the request.
    const targets = urls.map((url) => ({ url, target: mirrorTarget(url, opts.targetOptions) }))
    const results = []
    for (const { url, target } of targets) {
      const started = await cache.prefetch(target)
      if (pinAfter) {
        void started.done.then(async (cached) => {
          if (cached) await store.setPinned(started.key, true)
        }).catch((err: unknown) => { request.log.warn({ err, key: started.key }, 'admin: could not pin a prefetched entry') })
      }
      results.push({ url: redactUrl(url), upstream: redactUrl(target.url.href), key: started.key, state: started.state })
    }
    request.log.info({ urls: results.length, pin: pinAfter }, 'admin: prefetch started')
    return await reply.code(202).send({ results })
  })

  app.get('/_/api/downloads', async () => ({
    downloads: [...cache.downloads.values()].map((d) => ({
      key: d.key,
      url: redactUrl(d.url.href),
      state: d.state,
      written: d.written,
      size: d.size,
      startedAt: new Date(d.startedAt).toISOString()
    }))
  }))

  // Issue 12 item 8: an operator stops a download (a trickling upstream, a file nobody wants).
  // Joined clients are aborted, never ended cleanly; nothing is cached.
  app.delete('/_/api/downloads/:key', async (request) => {
    const { key } = request.params as { key: string }
    if (!KEY.test(key)) throw new AdminBadRequestError(request.url, `'${key}' is not a cache key (64 lower-case hex digits, as GET /_/api/downloads lists them)`)
    const download = cache.cancel(key, 'an operator cancelled it (DELETE /_/api/downloads/<key>)')
    if (download === undefined) throw new AdminNoDownloadError(key)
    await download.settled().catch(() => {})
    request.log.info({ key, url: download.url.href, written: download.written }, 'admin: download cancelled')
    return { key, url: download.url.href, written: download.written, cancelled: true }
  })

  async function entryOf (request: FastifyRequest): Promise<EntryMeta> {
    const { key } = request.params as { key: string }
    if (!KEY.test(key)) throw new AdminBadRequestError(request.url, `'${key}' is not a cache key (64 lower-case hex digits, as GET /_/api/entries lists them)`)
    const meta = await store.peek(key)
    if (meta === undefined) throw new AdminNotFoundError(key)
    return meta
  }
}

/** A cursor as `next` gives it: the last redacted URL, a space, its key (a bare URL pages from after it). */
function parseCursor (cursor: string): { url: string; key: string } {
  const space = cursor.lastIndexOf(' ')
  return space === -1 ? { url: cursor, key: '\uffff' } : { url: cursor.slice(0, space), key: cursor.slice(space + 1) }
}

function entryJson (meta: EntryMeta): Record<string, unknown> {
  return {
    key: meta.key,
    url: redactUrl(meta.url),
    size: meta.size,
    sha256: meta.sha256,
    pinned: meta.pinned === true,
    immutable: meta.immutable,
    fetchedAt: new Date(meta.fetchedAt).toISOString(),
    lastAccess: new Date(meta.lastAccess).toISOString()
  }
}

function pageLimit (request: FastifyRequest, text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_PAGE_ENTRIES
  const limit = /^\d+$/.test(text) ? Number(text) : NaN
  if (!(limit >= 1 && limit <= MAX_PAGE_ENTRIES)) throw new AdminBadRequestError(request.url, `limit '${text}' is not a whole number from 1 to ${MAX_PAGE_ENTRIES}`)
  return limit
}

/** A prefix as entries store URLs: an upstream URL as given, or a mirror-form path resolved like a request. */
function upstreamPrefix (request: FastifyRequest, prefix: string, targetOptions: MirrorTargetOptions): string {
  if (/^https?:\/\//i.test(prefix)) return prefix
  if (!prefix.startsWith('/')) throw new AdminBadRequestError(request.url, `prefix '${prefix}' is neither a mirror path (/<host>/<path>) nor an upstream URL (https://<host>/<path>)`)
  return parseMirrorTarget(prefix, targetOptions).url.href
}

/**
 * A URL to prefetch, as a client would request it: a mirror path, or a whole dsmirror URL whose
 * path is taken raw (new URL() would resolve dot-segments before parseMirrorTarget could refuse them).
 */
function mirrorTarget (url: string, targetOptions: MirrorTargetOptions): MirrorTarget {
  const path = /^https?:\/\/[^/?#]+(\/.*)$/i.exec(url)?.[1] ?? url
  return parseMirrorTarget(path, targetOptions)
}

function prefetchBody (request: FastifyRequest): { urls: string[]; pin: boolean } {
  const body = request.body as { urls?: unknown; pin?: unknown } | null | undefined
  const urls = body?.urls
  if (!Array.isArray(urls) || urls.length === 0 || urls.length > MAX_PREFETCH_URLS || !urls.every((u): u is string => typeof u === 'string' && u !== '')) {
    throw new AdminBadRequestError(request.url, `the body must be JSON {"urls": ["/<host>/<path>", ...], "pin": false} with 1 to ${MAX_PREFETCH_URLS} mirror URLs`)
  }
  if (body?.pin !== undefined && typeof body.pin !== 'boolean') throw new AdminBadRequestError(request.url, "'pin' must be true or false")
  return { urls, pin: body?.pin === true }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
