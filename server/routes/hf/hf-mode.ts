// The Hugging Face Hub mode (issue 11; the contract is hf-protocol.md §0): answers HF_ENDPOINT
// requests as the Hub would, from the cache where it can.
//   resolve at a branch/tag ─> commit (reused revisionTtl) ─> relative 307 to /{mount}/.../resolve/{sha}/...
//   resolve at a commit ─────> file metadata (one Hub HEAD per commit+path, kept) ─> HEAD: headers
//                                                                              └─> GET: BlobCache (by sha256 / git blob id)
//   api info / tree / paths-info ─> JSON kept by commit (a branch for revisionTtl), xetHash removed, Link rewritten
// When the Hub cannot be reached (or answers 5xx/429), what is known is served and marked stale;
// what is not gets a 5xx, never a 404 (clients remember 404s as "file absent", §2.3).
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { BlobCache, BlobRequest } from '../../cache/blob-cache.js'
import type { Download } from '../../cache/download.js'
import type { SmallObjects } from '../../cache/small-objects.js'
import { setCacheStatus, type CacheStatus } from '../../cache/cache-status.js'
import { type DsmError, HfBadHubAnswerError, isDsmError } from '../../errors.js'
import { mapUpstreamError, type Upstream, type UpstreamResponse } from '../../upstream/upstream.js'
import { COMMIT_RE, type HfRepo, type HfRoute, repoPrefix } from './hf-path.js'
import { etagValue, relayedHeaders, rewriteLink, stripXet } from './hf-rewrite.js'

/** File metadata (commit + path), repo info, tree pages and paths-info kept in memory. */
export const MAX_HF_ENTRIES = 50_000
/** Bytes of JSON kept in memory (tree pages, repo info, paths-info). */
export const MAX_HF_JSON_BYTES = 64 * 1024 * 1024
/**
 * How long the Hub's confirmation of one caller's access to a non-public repo is reused
 * (issue 11 item 6); olah uses 60 s (`_VIS_TTL`). Short: access can be withdrawn.
 */
export const ACCESS_TTL_MS = 60_000
/** Error bodies and JSON larger than this are not buffered. */
export const MAX_HF_BODY_BYTES = 16 * 1024 * 1024
/** Hops of the Hub's own same-origin redirects followed for a regular file's metadata. */
const MAX_META_HOPS = 3
const GIT_SHA1_RE = /^[0-9a-f]{40}$/
const SHA256_RE = /^[0-9a-f]{64}$/
/** Statuses when stale data beats none: the Hub is failing or limiting us (hf-protocol.md §4.4). */
const STALE_STATUSES = (status: number): boolean => status >= 500 || status === 429

export interface HfModeOptions {
  mount: string
  /** The Hub's origin, no trailing slash. */
  endpoint: string
  revisionTtl: number
  upstream: Upstream
  blobs: BlobCache
  log: Logger
  now: () => number
  /** prom-client registry the Hub counters join (server/metrics.ts). */
  registry?: Registry
  /** Where file metadata and branch resolutions are kept across restarts (absent: memory only). */
  records?: SmallObjects
  /**
   * Whether a request reached the mode through a forward-proxy tunnel to the Hub's host (issue 12
   * item 4): that client asked `https://<hub>/<path>`, so redirects and Links it gets name the Hub's
   * own paths; `/<mount>/...` would come back through the tunnel as `/<mount>/<mount>/...`.
   */
  throughTunnel?: (request: FastifyRequest) => boolean
}

/** A Hub answer kept or relayed whole (small: JSON, errors, HEADs). */
interface HubAnswer {
  status: number
  /** Raw Hub headers, single strings. */
  headers: Record<string, string>
  body: Buffer
}

interface Resolution { sha: string; at: number; public: boolean }

type FileMeta =
  | { kind: 'lfs' | 'git'; digest: string; size: number; contentType: string | null; public: boolean }
  | { kind: 'absent'; answer: HubAnswer; public: boolean }

interface ApiEntry { answer: HubAnswer; at: number; immutable: boolean }

/** What the Hub mode counts, for /_/metrics and the status page. */
export interface HfStats {
  repos: number
  resolvesLocal: number
  resolvesUpstream: number
  staleServed: number
  rateLimitsAvoided: number
}

/** A Hub answer the client gets as it is (status, X-Error-Code ...): not an error of dsmirror's. */
class HubRefusal {
  constructor (readonly answer: HubAnswer) {}
}

export class HfMode {
  readonly #opts: HfModeOptions
  readonly #resolutions = new LRUCache<string, Resolution>({ max: MAX_HF_ENTRIES })
  readonly #files = new LRUCache<string, FileMeta>({ max: MAX_HF_ENTRIES })
  readonly #apiCache = new LRUCache<string, ApiEntry>({ max: MAX_HF_ENTRIES, maxSize: MAX_HF_JSON_BYTES, sizeCalculation: (e) => Math.max(1, e.answer.body.length) })
  /** `${scope}|${repo}` -> until when the Hub confirmed that caller's access. */
  readonly #access = new LRUCache<string, number>({ max: MAX_HF_ENTRIES })
  /** Repositories seen (bounded: names come from clients). */
  readonly #repos = new LRUCache<string, true>({ max: MAX_HF_ENTRIES })
  /**
   * Hub calls in flight by what they ask: eight clients cold on one repo make one revision call
   * and one metadata HEAD per file, not eight (the Hub's `resolvers` rate limit, §3).
   */
  readonly #inFlight = new Map<string, Promise<HubAnswer>>()
  readonly #stats = { resolvesLocal: 0, resolvesUpstream: 0, staleServed: 0, rateLimitsAvoided: 0 }
  readonly #counters: { resolves?: Counter<'answered'>, stale?: Counter, limited?: Counter }

  constructor (opts: HfModeOptions) {
    this.#opts = opts
    const registers = opts.registry === undefined ? [] : [opts.registry]
    const repos = this.#repos
    this.#counters = opts.registry === undefined
      ? {}
      : {
          resolves: new Counter({ name: 'dsmirror_hf_resolves_total', help: 'Hugging Face resolves (branch/tag to commit, and file metadata) by where they were answered: local or upstream.', labelNames: ['answered'], registers }),
          stale: new Counter({ name: 'dsmirror_hf_stale_total', help: 'Hugging Face answers served from what was known because the Hub failed.', registers }),
          limited: new Counter({ name: 'dsmirror_hf_rate_limits_avoided_total', help: 'Hub 429 answers replaced by a known answer.', registers })
        }
    if (opts.registry !== undefined) {
      // eslint-disable-next-line no-new
      new Gauge({ name: 'dsmirror_hf_repos', help: 'Hugging Face repositories seen since start.', registers, collect () { this.set(repos.size) } })
    }
  }

  /** Blob downloads in flight, for the status page. */
  get blobDownloads (): ReadonlyMap<string, Download> {
    return this.#opts.blobs.downloads
  }

  get stats (): HfStats {
    return { repos: this.#repos.size, ...this.#stats }
  }

  /** Answers one Hugging Face request already parsed (hf-path.ts). */
  async handle (request: FastifyRequest, reply: FastifyReply, route: HfRoute): Promise<FastifyReply> {
    try {
      switch (route.kind) {
        case 'resolve': return await this.#resolve(request, reply, route)
        case 'info':
        case 'tree':
        case 'paths-info': return await this.#api(request, reply, route)
        case 'xet-read-token':
          // Rule 4: the Xet data plane is never handed out; a client with a stale tree cache
          // fails loudly here instead of reaching the CAS hosts past the mirror (hf-protocol.md §2.5).
          return this.#send(request, reply, {
            status: 404,
            headers: { 'content-type': 'application/json', 'x-error-code': 'EntryNotFound', 'x-error-message': 'Xet is not served through dsmirror; files are served over the resolve route.' },
            body: Buffer.from(JSON.stringify({ error: 'Xet is not served through dsmirror; files are served over the resolve route.' }))
          }, { detail: 'local' })
        case 'other': return await this.#passThrough(request, reply, route)
      }
    } catch (err: unknown) {
      if (err instanceof HubRefusal) return this.#send(request, reply, err.answer, reply.cacheStatus ?? { fwd: 'miss', fwdStatus: err.answer.status })
      throw err
    }
  }

  // ---- resolve -------------------------------------------------------------------------------

  async #resolve (request: FastifyRequest, reply: FastifyReply, route: Extract<HfRoute, { kind: 'resolve' }>): Promise<FastifyReply> {
    const { repo } = route
    this.#repos.set(repoKey(repo), true)
    const auth = authorization(request)
    if (!COMMIT_RE.test(route.rev)) {
      const { sha, status } = await this.#resolveRevision(repo, route.rev, auth, reply)
      // Rule 2 / §2.2: a relative redirect on this host to the commit URL; every client follows
      // it, and the GET is pinned to the commit the HEAD saw (huggingface_hub#4815).
      const location = `${this.#prefix(request)}/${repoPrefix(repo)}${repo.id}/resolve/${sha}/${route.path}${route.query}`
      return setCacheStatus(reply.code(307), status).header('location', location).header('x-repo-commit', sha).header('content-length', '0').send()
    }
    const sha = route.rev
    const meta = await this.#fileMeta(repo, sha, route.path, auth, reply)
    if (meta.kind === 'absent') {
      return this.#send(request, reply, withCommit(meta.answer, sha), reply.cacheStatus ?? { hit: true })
    }
    const headers: Record<string, string> = {
      'x-repo-commit': sha,
      etag: `"${meta.digest}"`,
      'content-type': meta.contentType ?? 'application/octet-stream'
    }
    if (meta.kind === 'lfs') {
      headers['x-linked-etag'] = `"${meta.digest}"`
      headers['x-linked-size'] = String(meta.size)
    }
    const blob: BlobRequest = {
      id: meta.kind === 'lfs' ? `hf-lfs:sha256:${meta.digest}` : `hf-git:sha1:${meta.digest}`,
      url: new URL(`${this.#opts.endpoint}/${repoPrefix(repo)}${repo.id}/resolve/${sha}/${route.path}`),
      upstreamHeaders: hubHeaders(request, auth),
      digest: meta.kind === 'lfs' ? { algorithm: 'sha256', hex: meta.digest } : { algorithm: 'git-sha1', hex: meta.digest, size: meta.size },
      headers,
      etag: `"${meta.digest}"`
    }
    const metaStatus = reply.cacheStatus
    if (request.method === 'HEAD' && !await this.#opts.blobs.has(blob)) {
      // Rule 7: a HEAD is answered from metadata at once; the bytes are fetched by the GET.
      return setCacheStatus(reply.code(200).headers(headers), metaStatus ?? { hit: true })
        .header('content-length', String(meta.size)).header('accept-ranges', 'bytes').send()
    }
    return await this.#opts.blobs.serve(request, reply, blob)
  }

  /**
   * A branch or tag -> its commit: reused for revisionTtl, and past it while the Hub fails
   * (marked stale). Looked up from the repo's `revision` API, which also says whether the repo is
   * public (then the answer is shared by every caller; otherwise per caller).
   */
  async #resolveRevision (repo: HfRepo, rev: string, auth: string | undefined, reply: FastifyReply): Promise<{ sha: string, status: CacheStatus }> {
    const key = `${repoKey(repo)}@${rev}`
    const scoped = `${scope(auth)}|${key}`
    const known = this.#resolutions.get(`public|${key}`) ?? this.#resolutions.get(scoped) ??
      await this.#loadResolution(`public|${key}`) ?? await this.#loadResolution(scoped)
    const now = this.#opts.now()
    if (known !== undefined && now - known.at < this.#opts.revisionTtl) {
      this.#countResolve('local')
      return { sha: known.sha, status: { hit: true } }
    }
    const url = new URL(`${this.#opts.endpoint}/api/${repo.type}/${repo.id}/revision/${rev}`)
    let answer: HubAnswer
    try {
      answer = await this.#fetch(url, { method: 'GET', headers: hubHeaders(null, auth) })
    } catch (err: unknown) {
      const mapped = toDsm(err, url)
      if (known !== undefined) return { sha: known.sha, status: this.#stale(mapped.code) }
      setCacheStatus(reply, { fwd: known === undefined ? 'miss' : 'stale', error: mapped.code })
      throw mapped
    }
    if (answer.status !== 200) {
      if (known !== undefined && STALE_STATUSES(answer.status)) return { sha: known.sha, status: this.#stale(answer.status) }
      setCacheStatus(reply, { fwd: 'miss', fwdStatus: answer.status })
      throw new HubRefusal(answer)
    }
    const info = parseJson(answer.body)
    const sha = typeof info?.sha === 'string' && COMMIT_RE.test(info.sha) ? info.sha : null
    if (sha === null) throw new HfBadHubAnswerError(url.href, 'a repo info without a 40-hex "sha"')
    this.#countResolve('upstream')
    const isPublic = info?.private === false && (info.gated === false || info.gated === undefined)
    this.#setResolution(isPublic ? `public|${key}` : scoped, { sha, at: now, public: isPublic })
    return { sha, status: known === undefined ? { fwd: 'miss', fwdStatus: 200 } : { fwd: 'stale', fwdStatus: 200 } }
  }

  /**
   * What the Hub says of one file at one commit (immutable, kept): LFS (sha256 and size from the
   * first hop's X-Linked-* headers: the CDN's own headers say nothing of the Hub's), a regular
   * file (git blob id and size after the Hub's same-origin 307 to /api/resolve-cache), or absent.
   * A non-public repo's metadata is served to a caller only once the Hub confirmed their access.
   */
  async #fileMeta (repo: HfRepo, sha: string, path: string, auth: string | undefined, reply: FastifyReply): Promise<FileMeta> {
    const key = `${repoKey(repo)}@${sha}/${path}`
    const url = new URL(`${this.#opts.endpoint}/${repoPrefix(repo)}${repo.id}/resolve/${sha}/${path}`)
    const known = this.#files.get(key) ?? await this.#loadFile(key)
    if (known !== undefined) {
      if (!known.public) await this.#confirmAccess(repo, url, auth, reply)
      this.#countResolve('local')
      setCacheStatus(reply, { hit: true })
      return known
    }
    let answer: HubAnswer
    let current = url
    try {
      for (let hop = 0; ; hop++) {
        answer = await this.#fetch(current, { method: 'HEAD', headers: hubHeaders(null, auth), redirect: 'manual' })
        const location = answer.headers.location
        // LFS: the 302 to the CDN carries everything (§3); only the Hub's own redirects are followed.
        if (answer.status < 300 || answer.status >= 400 || location === undefined || answer.headers['x-linked-etag'] !== undefined) break
        const next = new URL(location, current)
        if (next.origin !== url.origin || hop >= MAX_META_HOPS) break
        current = next
      }
    } catch (err: unknown) {
      const mapped = toDsm(err, url)
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    }
    this.#countResolve('upstream')
    setCacheStatus(reply, { fwd: 'miss', fwdStatus: answer.status })
    const isPublic = auth === undefined
    if (answer.status === 404 && answer.headers['x-error-code'] === 'EntryNotFound') {
      // Immutable at a commit: clients probe optional files (`<name>.py`, `.huggingface.yaml`,
      // `dataset_infos.json`) on every load (§1.4).
      const meta: FileMeta = { kind: 'absent', answer, public: isPublic }
      this.#setFile(key, meta)
      return meta
    }
    if (answer.status >= 400) throw new HubRefusal(answer)
    if (auth !== undefined) this.#access.set(`${scope(auth)}|${repoKey(repo)}`, this.#opts.now() + ACCESS_TTL_MS)
    const linked = etagValue(answer.headers['x-linked-etag'])
    const contentType = answer.headers['content-type'] ?? null
    let meta: FileMeta
    if (linked !== null) {
      const size = parseSize(answer.headers['x-linked-size'] ?? answer.headers['content-length'])
      if (!SHA256_RE.test(linked) || size === null) throw new HfBadHubAnswerError(url.href, `an LFS answer with X-Linked-Etag '${linked}' and X-Linked-Size '${answer.headers['x-linked-size'] ?? ''}'`)
      meta = { kind: 'lfs', digest: linked, size, contentType: answer.status < 300 ? contentType : null, public: isPublic }
    } else {
      const etag = etagValue(answer.headers.etag)
      const size = parseSize(answer.headers['content-length'])
      if (answer.status >= 300 || etag === null || !GIT_SHA1_RE.test(etag) || size === null) {
        throw new HfBadHubAnswerError(url.href, `status ${answer.status}, ETag '${answer.headers.etag ?? ''}' and Content-Length '${answer.headers['content-length'] ?? ''}' (a git blob id and a size were expected)`)
      }
      meta = { kind: 'git', digest: etag, size, contentType, public: isPublic }
    }
    this.#setFile(key, meta)
    return meta
  }

  /**
   * Issue 11 item 6: cached content of a repo that was not seen anonymously goes to a caller only
   * after the Hub confirmed that caller's access (a HEAD on the file with their token), memoised
   * ACCESS_TTL_MS per token hash; the token itself is kept nowhere.
   */
  async #confirmAccess (repo: HfRepo, url: URL, auth: string | undefined, reply: FastifyReply): Promise<void> {
    const key = `${scope(auth)}|${repoKey(repo)}`
    if ((this.#access.get(key) ?? 0) > this.#opts.now()) return
    let answer: HubAnswer
    try {
      answer = await this.#fetch(url, { method: 'HEAD', headers: hubHeaders(null, auth), redirect: 'manual' })
    } catch (err: unknown) {
      const mapped = toDsm(err, url)
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    }
    if (answer.status >= 400 && !(answer.status === 404 && answer.headers['x-error-code'] === 'EntryNotFound')) {
      setCacheStatus(reply, { fwd: 'miss', fwdStatus: answer.status })
      throw new HubRefusal(answer)
    }
    this.#access.set(key, this.#opts.now() + ACCESS_TTL_MS)
  }

  // ---- api -----------------------------------------------------------------------------------

  /**
   * Repo info, tree pages and paths-info: kept by commit (immutable) or for revisionTtl (a branch,
   * or no revision), per caller scope (anonymous, or a token's hash); served past their time,
   * marked stale, while the Hub fails.
   */
  async #api (request: FastifyRequest, reply: FastifyReply, route: Extract<HfRoute, { kind: 'info' | 'tree' | 'paths-info' }>): Promise<FastifyReply> {
    const { repo } = route
    this.#repos.set(repoKey(repo), true)
    const auth = authorization(request)
    const upstreamPath = route.kind === 'info'
      ? `/api/${repo.type}/${repo.id}${route.rev === null ? '' : `/revision/${route.rev}`}`
      : route.kind === 'tree'
        ? `/api/${repo.type}/${repo.id}/tree/${route.rev}${route.path === '' ? '' : `/${route.path}`}`
        : `/api/${repo.type}/${repo.id}/paths-info/${route.rev}`
    const url = new URL(`${this.#opts.endpoint}${upstreamPath}${route.query}`)
    const method = route.kind === 'paths-info' ? 'POST' : 'GET'
    const body = method === 'POST' ? requestBody(request) : undefined
    const contentType = request.headers['content-type']
    const key = [scope(auth), method, url.pathname + url.search, typeof contentType === 'string' ? contentType : '', body === undefined ? '' : createHash('sha256').update(body).digest('hex')].join('|')
    const known = this.#apiCache.get(key)
    const now = this.#opts.now()
    if (known !== undefined && (known.immutable || now - known.at < this.#opts.revisionTtl)) {
      return this.#send(request, reply, known.answer, { hit: true })
    }
    const headers = hubHeaders(request, auth)
    if (typeof contentType === 'string' && body !== undefined) headers['content-type'] = contentType
    let answer: HubAnswer
    try {
      answer = await this.#fetch(url, { method, headers, ...(body === undefined ? {} : { body }) })
    } catch (err: unknown) {
      const mapped = toDsm(err, url)
      if (known !== undefined) return this.#send(request, reply, known.answer, this.#stale(mapped.code))
      setCacheStatus(reply, { fwd: 'miss', error: mapped.code })
      throw mapped
    }
    if (known !== undefined && STALE_STATUSES(answer.status)) return this.#send(request, reply, known.answer, this.#stale(answer.status))
    const kept: HubAnswer = answer.status === 200 ? { ...answer, body: stripXet(answer.body) } : answer
    const cacheable = answer.status === 200 || (answer.status === 404 && answer.headers['x-error-code'] === 'EntryNotFound')
    const rev = route.rev
    if (cacheable) this.#apiCache.set(key, { answer: kept, at: now, immutable: rev !== null && COMMIT_RE.test(rev) })
    if (route.kind === 'info' && answer.status === 200 && rev !== null && !COMMIT_RE.test(rev)) {
      // The same answer resolves the branch for /resolve/ (one Hub call, not two).
      const info = parseJson(answer.body)
      if (typeof info?.sha === 'string' && COMMIT_RE.test(info.sha)) {
        const isPublic = info.private === false && (info.gated === false || info.gated === undefined)
        const resolutionKey = `${repoKey(repo)}@${rev}`
        this.#setResolution(isPublic ? `public|${resolutionKey}` : `${scope(auth)}|${resolutionKey}`, { sha: info.sha, at: now, public: isPublic })
      }
    }
    return this.#send(request, reply, kept, { fwd: known === undefined ? 'miss' : 'stale', fwdStatus: answer.status })
  }

  /** Other Hub paths (refs, commits, whoami, telemetry): relayed uncached, same header rules. */
  async #passThrough (request: FastifyRequest, reply: FastifyReply, route: Extract<HfRoute, { kind: 'other' }>): Promise<FastifyReply> {
    const url = new URL(`${this.#opts.endpoint}/${route.path}${route.query}`)
    const auth = authorization(request)
    const method = request.method === 'HEAD' ? 'HEAD' : request.method === 'GET' ? 'GET' : 'POST'
    const body = method === 'POST' ? requestBody(request) : undefined
    const headers = hubHeaders(request, auth)
    const contentType = request.headers['content-type']
    if (typeof contentType === 'string' && body !== undefined) headers['content-type'] = contentType
    let answer: HubAnswer
    try {
      answer = await this.#fetch(url, { method, headers, ...(body === undefined ? {} : { body }) })
    } catch (err: unknown) {
      const mapped = toDsm(err, url)
      setCacheStatus(reply, { fwd: 'method', error: mapped.code })
      throw mapped
    }
    return this.#send(request, reply, answer, { fwd: request.method === 'GET' || request.method === 'HEAD' ? 'miss' : 'method', fwdStatus: answer.status })
  }

  // ---- kept across restarts ------------------------------------------------------------------

  #setFile (key: string, meta: FileMeta): void {
    this.#files.set(key, meta)
    const record = meta.kind === 'absent' ? { ...meta, answer: { ...meta.answer, body: meta.answer.body.toString('base64') } } : meta
    void this.#opts.records?.put(`hf-file:${key}`, record)
  }

  async #loadFile (key: string): Promise<FileMeta | undefined> {
    const record = await this.#opts.records?.get(`hf-file:${key}`) as Record<string, unknown> | undefined
    if (typeof record !== 'object' || record === null) return undefined
    let meta: FileMeta
    if (record.kind === 'absent') {
      const answer = record.answer as { status: number, headers: Record<string, string>, body: string }
      meta = { kind: 'absent', answer: { ...answer, body: Buffer.from(answer.body, 'base64') }, public: record.public === true }
    } else if ((record.kind === 'lfs' || record.kind === 'git') && typeof record.digest === 'string' && typeof record.size === 'number') {
      meta = record as FileMeta
    } else {
      return undefined
    }
    this.#files.set(key, meta)
    return meta
  }

  #setResolution (key: string, resolution: Resolution): void {
    this.#resolutions.set(key, resolution)
    // Only as the last known answer for when the Hub fails: a token's scope is a hash, never the token.
    void this.#opts.records?.put(`hf-rev:${key}`, resolution)
  }

  async #loadResolution (key: string): Promise<Resolution | undefined> {
    const record = await this.#opts.records?.get(`hf-rev:${key}`) as Partial<Resolution> | undefined
    if (typeof record?.sha !== 'string' || !COMMIT_RE.test(record.sha) || typeof record.at !== 'number') return undefined
    const resolution = { sha: record.sha, at: record.at, public: record.public === true }
    this.#resolutions.set(key, resolution)
    return resolution
  }

  // ---- plumbing ------------------------------------------------------------------------------

  #send (request: FastifyRequest, reply: FastifyReply, answer: HubAnswer, status: CacheStatus): FastifyReply {
    const headers = relayedHeaders(answer.headers)
    const link = rewriteLink(answer.headers.link, this.#opts.endpoint, `${requestOrigin(request)}${this.#prefix(request)}`)
    if (link !== null) headers.link = link
    return setCacheStatus(reply.code(answer.status).headers(headers), status)
      .header('content-length', String(answer.body.length))
      .send(request.method === 'HEAD' ? undefined : answer.body)
  }

  /** `/<mount>`, or nothing for a client of the forward proxy that addressed the Hub itself. */
  #prefix (request: FastifyRequest): string {
    return this.#opts.throughTunnel?.(request) === true ? '' : `/${this.#opts.mount}`
  }

  #stale (cause: string | number): CacheStatus {
    this.#stats.staleServed++
    this.#counters.stale?.inc()
    if (cause === 429) {
      this.#stats.rateLimitsAvoided++
      this.#counters.limited?.inc()
    }
    return typeof cause === 'number' ? { fwd: 'stale', fwdStatus: cause, detail: 'stale-if-error' } : { fwd: 'stale', detail: cause as DsmError['code'] }
  }

  #countResolve (answered: 'local' | 'upstream'): void {
    if (answered === 'local') this.#stats.resolvesLocal++
    else this.#stats.resolvesUpstream++
    this.#counters.resolves?.inc({ answered })
  }

  /** One Hub request, its body buffered (bounded). */
  async #fetch (url: URL, req: { method: 'GET' | 'HEAD' | 'POST', headers: Record<string, string>, body?: Buffer, redirect?: 'manual' }): Promise<HubAnswer> {
    // Shared only between callers who would send the same request: same URL, method, body and credentials.
    const key = [req.method, url.href, req.redirect ?? '', scope(req.headers.authorization), req.headers['content-type'] ?? '',
      req.body === undefined ? '' : createHash('sha256').update(req.body).digest('hex')].join('|')
    const running = this.#inFlight.get(key)
    if (running !== undefined) return await running
    const call = (async () => {
      const res = await this.#opts.upstream.request(url, req)
      return { status: res.status, headers: singleHeaders(res.headers), body: await readBounded(res, url) }
    })()
    this.#inFlight.set(key, call)
    try {
      return await call
    } finally {
      this.#inFlight.delete(key)
    }
  }
}

function repoKey (repo: HfRepo): string {
  return `${repo.type}/${repo.id}`
}

function authorization (request: FastifyRequest): string | undefined {
  const value = request.headers.authorization
  return typeof value === 'string' && value.trim() !== '' ? value : undefined
}

/** Who is asking, without keeping the token: anonymous, or a hash of the Authorization value. */
function scope (auth: string | undefined): string {
  return auth === undefined ? 'anon' : `tok:${createHash('sha256').update(auth).digest('hex').slice(0, 32)}`
}

/**
 * Headers for a Hub request: identity encoding (§2.4: the Hub gzips text, and sizes and digests
 * are of the raw bytes), the caller's token (Hub hosts only: the upstream client drops it on a
 * cross-origin hop to the CDN), the client's User-Agent, and its Accept minus Xet (rule 4).
 */
function hubHeaders (request: FastifyRequest | null, auth: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' }
  if (auth !== undefined) headers.authorization = auth
  const ua = request?.headers['user-agent']
  if (typeof ua === 'string') headers['user-agent'] = ua
  const accept = request?.headers.accept
  if (typeof accept === 'string') {
    const kept = accept.split(',').map((part) => part.trim()).filter((part) => part !== '' && !/xet/i.test(part))
    if (kept.length > 0) headers.accept = kept.join(', ')
  }
  return headers
}

/** `<scheme>://<host>` as this client reached the mirror: rewritten Links point below it. */
function requestOrigin (request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.host}`
}

function withCommit (answer: HubAnswer, sha: string): HubAnswer {
  // Rule 6: a client records `.no_exist/{commit}/{path}` only when the 404 names the commit.
  return answer.headers['x-repo-commit'] === undefined ? { ...answer, headers: { ...answer.headers, 'x-repo-commit': sha } } : answer
}

function requestBody (request: FastifyRequest): Buffer {
  const body = request.body
  if (Buffer.isBuffer(body)) return body
  if (typeof body === 'string') return Buffer.from(body)
  return Buffer.alloc(0)
}

function singleHeaders (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  return out
}

async function readBounded (res: UpstreamResponse, url: URL): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > MAX_HF_BODY_BYTES) {
      res.body.destroy()
      throw new HfBadHubAnswerError(url.href, `a body over ${MAX_HF_BODY_BYTES} bytes where JSON or an error was expected`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function parseSize (value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null
  return Number(value.trim())
}

function parseJson (body: Buffer): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'))
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : null
  } catch {
    return null
  }
}

function toDsm (err: unknown, url: URL): DsmError {
  return isDsmError(err) ? err : mapUpstreamError(err, url)
}
