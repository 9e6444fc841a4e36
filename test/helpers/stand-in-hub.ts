// A stand-in Hugging Face Hub for tests (issue 11, hf-protocol.md §6.2): a real node:http or
// node:https server on 127.0.0.1 that answers the way huggingface.co answered the real clients
// (huggingface_hub 1.33/2.0, datasets 5.0.1, transformers 5.x, @huggingface/hub 2.17), with its
// CDN on a DIFFERENT host name of the same port (`localhost:P` while the Hub is `127.0.0.1:P`).
// The difference matters: huggingface_hub 1.33 follows a same-host redirect during its metadata
// HEAD and then misses X-Repo-Commit; the real Hub's CDN is another host (§2.2 [obs]).
//
// What it serves (hf-protocol.md section in brackets):
//   HEAD/GET /{P}{org}/{name}/resolve/{rev}/{path}   routed on the RAW path: `refs%2Fconvert%2Fparquet`
//     is one segment (§1.7). Regular file: 307 to the relative /api/resolve-cache/... (§3);
//     LFS file: 302 with X-Linked-Etag/X-Linked-Size/ETag/X-Repo-Commit to a signed, expiring CDN
//     URL; missing file 404 EntryNotFound + X-Repo-Commit; unknown revision 404 RevisionNotFound;
//     unknown repo 401 RepoNotFound; gated repo 401 (no token) / 403 (wrong token) GatedRepo (§2.3).
//   GET /api/resolve-cache/{T}/{org}/{name}/{sha}/{path}?...  200 with ETag (git blob sha1), Range.
//   GET http://localhost:P/repos/{aa}/{bb}/{sha256}?Expires&Signature  the CDN: Range/206/416,
//     403 once expired or with a bad signature (§3 "Expiry").
//   GET /api/{T}/{org}/{name}[/revision/{rev}]  repo info {id, sha, private, gated, siblings} (§2.6).
//   GET /api/{T}/{org}/{name}/tree/{rev}[/{path}]  pages of `pageSize` (2) entries with an ABSOLUTE
//     Link rel="next" on the stand-in's own origin (§2.6, both clients follow it verbatim).
//   POST /api/{T}/{org}/{name}/paths-info/{rev}  form body (Python) or JSON body (JS) (§1.6, §1.7).
//   Xet (on by default): X-Xet-Hash + Link xet-auth/xet-reconstruction-info on LFS resolves,
//     xetHash in tree/paths-info JSON, the xet-fileinfo JSON answer to the JS client's Accept, and
//     /xet-read-token/{rev} handing out a CAS URL under `.invalid` that nobody can reach (§2.5).
//   Fault injection (§6.2 item 7): status (429 with Retry-After/RateLimit, 5xx), cut body, stall
//     before headers or between chunks, wrong bytes (same length, so only a digest check sees it),
//     the whole Hub down (`down()`/`up()` on the same port), and moving a branch (`commit`, `moveRef`).
//   A request log of everything received (§6.2 item 8).
//
// Hand-written rather than a library: nothing on npm imitates the Hub's redirects and headers,
// and the point is to reproduce exactly what the research observed.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { getTestPki, type KeyPairPem } from './pki.js'

export type HubRepoType = 'model' | 'dataset' | 'space'
export type HubRouteKind = 'resolve' | 'resolve-cache' | 'cdn' | 'api-info' | 'tree' | 'paths-info' | 'xet-read-token' | 'other'

export interface HubFileSpec {
  path: string
  body: Buffer | string
  /** Stored in Git LFS (served through the CDN, addressed by sha256). */
  lfs?: boolean
}

export interface HubRepoSpec {
  id: string
  type?: HubRepoType
  /** The files of `main`. */
  files: HubFileSpec[]
  /** Other refs (branches, tags, `refs/convert/parquet`, `refs/pr/1`) with their own file sets. */
  refs?: Record<string, HubFileSpec[]>
  gated?: false | 'auto' | 'manual'
  private?: boolean
  /** Bearer tokens that may read a gated or private repo. */
  tokens?: string[]
}

/** What the Hub knows about a file at one commit; the digests are the real ones. */
export interface HubFile {
  path: string
  body: Buffer
  lfs: boolean
  size: number
  sha256: string
  /** Git blob sha1 of what git stores: the bytes for a regular file, the pointer for LFS. */
  gitSha1: string
  /** Git blob sha1 of the bytes themselves (the blob name clients use for regular files). */
  blobSha1: string
  pointer?: Buffer
  xetHash: string
  lastCommit: string
}

export interface HubRequest {
  method: string
  /** The raw request target, percent-encoding untouched. */
  url: string
  host: string
  kind: HubRouteKind
  headers: IncomingHttpHeaders
  range?: string
  accept?: string
  authorization: boolean
  body?: string
  /** The file the request addressed, when it addressed one. */
  file?: { path: string, sha256: string, gitSha1: string }
  repo?: string
  at: number
}

export type HubFault =
  | { type: 'status', status: number, headers?: Record<string, string>, body?: string }
  /** Destroy the socket after this many body bytes of a GET. */
  | { type: 'cut', afterBytes: number }
  /** Wait before the headers (afterBytes undefined) or after that many body bytes; ms undefined: until close(). */
  | { type: 'stall', afterBytes?: number, ms?: number }
  /** Serve bytes that differ from the file's digest by one byte, same length. */
  | { type: 'corrupt' }

export interface HubFaultRule {
  kind?: HubRouteKind | HubRouteKind[]
  method?: string
  /** The repo file path the request addresses (resolve, resolve-cache and CDN requests). */
  path?: string
  when?: (req: HubRequest) => boolean
  /** How many matching requests get the fault; default: all. */
  times?: number
  fault: HubFault
}

export interface StartStandInHubOptions {
  repos?: HubRepoSpec[]
  /** Serve HTTPS with the test leaf (names 127.0.0.1 and localhost) or the given pair. Default plain HTTP. */
  tls?: boolean | (KeyPairPem & { ca?: string })
  /** Xet headers, xetHash and the xet-fileinfo answer. Default true (the Hub's default for new repos). */
  xet?: boolean
  /** Tree page size. Default 2, so every listing of more than two entries pages. */
  pageSize?: number
  /** The clock for signed CDN URLs (ms since the epoch). */
  now?: () => number
  /** How long a signed CDN URL is valid. Default one hour, like the Hub's. */
  cdnUrlTtlMs?: number
  /**
   * Host names for the Hub and its CDN in place of 127.0.0.1 and localhost (the forward proxy
   * intercepts names only; a test resolver maps them to 127.0.0.1). Default none.
   */
  names?: { hub: string, cdn: string }
}

export interface StandInHub {
  /** http(s)://127.0.0.1:<port>: what HF_ENDPOINT points at in a direct run. */
  origin: string
  /** http(s)://localhost:<port>: where the signed LFS URLs point. */
  cdnOrigin: string
  /** 127.0.0.1:<port> */
  host: string
  /** localhost:<port> */
  cdnHost: string
  port: number
  /** The unreachable CAS URL /xet-read-token hands out. */
  casUrl: string
  xet: boolean
  requests: HubRequest[]
  /** File body bytes written to clients so far (resolve-cache and CDN), for byte accounting in bench/hf.ts. */
  readonly bytesOut: number
  /** Requests matching every given field. */
  count: (filter?: { kind?: HubRouteKind, method?: string, host?: string, path?: string }) => number
  addRepo: (spec: HubRepoSpec) => void
  /** Commits `files` (replacing the ref's file set) on `ref` (default main) and returns the new sha. */
  commit: (repo: string, files: HubFileSpec[], opts?: { type?: HubRepoType, ref?: string }) => string
  /** Points `ref` at an existing commit (a branch moved). */
  moveRef: (repo: string, ref: string, sha: string, type?: HubRepoType) => void
  /** The commit a ref points at. */
  sha: (repo: string, ref?: string, type?: HubRepoType) => string
  /** A file at a ref or commit. */
  file: (repo: string, path: string, rev?: string, type?: HubRepoType) => HubFile
  /** Every file at a ref or commit, by path. */
  files: (repo: string, rev?: string, type?: HubRepoType) => HubFile[]
  inject: (rule: HubFaultRule) => void
  clearFaults: () => void
  /** Called for each request after it is logged and routed, before it is answered. */
  onRequest: ((req: HubRequest) => void) | undefined
  clearLog: () => void
  /** The Hub is down: stop listening and reset every open connection. */
  down: () => Promise<void>
  /** Listen again on the same port. */
  up: () => Promise<void>
  close: () => Promise<void>
}

const DEFAULT_PAGE_SIZE = 2
const DEFAULT_CDN_URL_TTL_MS = 60 * 60 * 1000
const CHUNK_BYTES = 64 * 1024
const MAX_REQUEST_BODY_BYTES = 1024 * 1024
const COMMIT_DATE = '2026-01-01T00:00:00.000Z'
const TYPE_PREFIX: Record<HubRepoType, string> = { model: '', dataset: 'datasets/', space: 'spaces/' }
const TYPE_PLURAL: Record<HubRepoType, string> = { model: 'models', dataset: 'datasets', space: 'spaces' }
const PLURAL_TYPE: Record<string, HubRepoType> = { models: 'model', datasets: 'dataset', spaces: 'space' }

interface Commit { sha: string, files: Map<string, HubFile> }
interface Repo {
  type: HubRepoType
  id: string
  gated: false | 'auto' | 'manual'
  private: boolean
  tokens: Set<string>
  commits: Map<string, Commit>
  refs: Map<string, string>
  counter: number
}

/** sha1("blob <len>\0" + bytes): the name git gives a file's contents. */
export function gitBlobSha1 (body: Buffer): string {
  return createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex')
}

export function lfsPointer (sha256: string, size: number): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`)
}

function sha256Hex (body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex')
}

export async function startStandInHub (opts: StartStandInHubOptions = {}): Promise<StandInHub> {
  const now = opts.now ?? Date.now
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE
  const cdnUrlTtlMs = opts.cdnUrlTtlMs ?? DEFAULT_CDN_URL_TTL_MS
  const signingKey = randomBytes(32)
  const tls: (KeyPairPem & { ca?: string }) | undefined = opts.tls === true ? (await getTestPki()).leaf : opts.tls === false || opts.tls === undefined ? undefined : opts.tls
  const scheme = tls === undefined ? 'http' : 'https'
  const repos = new Map<string, Repo>()
  const faults: Array<HubFaultRule & { used: number }> = []
  const requests: HubRequest[] = []
  const sockets = new Set<Socket>()
  let closing = new AbortController()
  let bytesOut = 0

  const key = (type: HubRepoType, id: string): string => `${type}:${id}`

  function getRepo (id: string, type: HubRepoType = 'model'): Repo {
    const repo = repos.get(key(type, id))
    if (repo === undefined) throw new Error(`stand-in hub: no ${type} repo '${id}'`)
    return repo
  }

  function makeCommit (repo: Repo, ref: string, specs: HubFileSpec[]): string {
    const previous = repo.refs.has(ref) ? repo.commits.get(repo.refs.get(ref) ?? '') : undefined
    const sha = createHash('sha1').update(`${repo.type}\0${repo.id}\0${ref}\0${repo.counter++}`).digest('hex')
    const files = new Map<string, HubFile>()
    for (const spec of specs) {
      const body = Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body)
      const lfs = spec.lfs === true
      const sha256 = sha256Hex(body)
      const pointer = lfs ? lfsPointer(sha256, body.length) : undefined
      const gitSha1 = gitBlobSha1(pointer ?? body)
      const before = previous?.files.get(spec.path)
      files.set(spec.path, {
        path: spec.path,
        body,
        lfs,
        size: body.length,
        sha256,
        gitSha1,
        blobSha1: gitBlobSha1(body),
        ...(pointer === undefined ? {} : { pointer }),
        // Not the real Xet merkle hash (that needs xet-core's chunker): a stable 64-hex stand-in.
        xetHash: sha256Hex(`xet\0${sha256}`),
        lastCommit: before !== undefined && before.gitSha1 === gitSha1 ? before.lastCommit : sha
      })
    }
    repo.commits.set(sha, { sha, files })
    repo.refs.set(ref, sha)
    return sha
  }

  function addRepo (spec: HubRepoSpec): void {
    const type = spec.type ?? 'model'
    const repo: Repo = {
      type,
      id: spec.id,
      gated: spec.gated ?? false,
      private: spec.private ?? false,
      tokens: new Set(spec.tokens ?? []),
      commits: new Map(),
      refs: new Map(),
      counter: 0
    }
    repos.set(key(type, spec.id), repo)
    makeCommit(repo, 'main', spec.files)
    for (const [ref, files] of Object.entries(spec.refs ?? {})) makeCommit(repo, ref, files)
  }
  for (const spec of opts.repos ?? []) addRepo(spec)

  function commitAt (repo: Repo, rev: string): Commit | undefined {
    const sha = /^[0-9a-f]{40}$/.test(rev) && repo.commits.has(rev) ? rev : repo.refs.get(rev)
    return sha === undefined ? undefined : repo.commits.get(sha)
  }

  // --- routing -------------------------------------------------------------------------------

  interface Route {
    kind: HubRouteKind
    repo?: Repo
    /** The repo id as the request spelled it (for errors about unknown repos). */
    repoId?: string
    type?: HubRepoType
    /** The revision, percent-decoded. */
    rev?: string
    /** The revision segment as received. */
    rawRev?: string
    path?: string
    rawPath?: string
    sha256?: string
    file?: HubFile
  }

  /** Splits the raw path BEFORE decoding, so `refs%2Fconvert%2Fparquet` stays one segment (§1.7). */
  function route (method: string, url: string, host: string): Route {
    const pathname = url.split('?')[0] ?? '/'
    const seg = pathname.split('/').slice(1)
    const dec = (s: string | undefined): string => decodeURIComponent(s ?? '')
    if (host === cdnHost) {
      // /repos/{aa}/{bb}/{sha256}
      if (seg[0] === 'repos' && seg.length === 4 && /^[0-9a-f]{64}$/.test(seg[3] ?? '')) return { kind: 'cdn', sha256: seg[3] ?? '' }
      return { kind: 'other' }
    }
    if (seg[0] === 'api' && seg[1] === 'resolve-cache') {
      const type = PLURAL_TYPE[seg[2] ?? '']
      if (type === undefined || seg.length < 7) return { kind: 'other' }
      const repoId = `${dec(seg[3])}/${dec(seg[4])}`
      return { kind: 'resolve-cache', type, repoId, repo: repos.get(key(type, repoId)), rev: dec(seg[5]), rawRev: seg[5] ?? '', path: seg.slice(6).map(dec).join('/') }
    }
    if (seg[0] === 'api') {
      const type = PLURAL_TYPE[seg[1] ?? '']
      if (type === undefined || seg.length < 4) return { kind: 'other' }
      const repoId = `${dec(seg[2])}/${dec(seg[3])}`
      const base = { type, repoId, repo: repos.get(key(type, repoId)) }
      const verb = seg[4]
      if (verb === undefined || verb === '') return { kind: 'api-info', ...base }
      if (verb === 'revision' && seg.length === 6) return { kind: 'api-info', ...base, rev: dec(seg[5]), rawRev: seg[5] ?? '' }
      if (verb === 'tree' && seg.length >= 6) {
        const rawPath = seg.slice(6).join('/')
        return { kind: 'tree', ...base, rev: dec(seg[5]), rawRev: seg[5] ?? '', path: seg.slice(6).map(dec).join('/').replace(/\/+$/, ''), rawPath }
      }
      if (verb === 'paths-info' && seg.length === 6 && method === 'POST') return { kind: 'paths-info', ...base, rev: dec(seg[5]), rawRev: seg[5] ?? '' }
      if (verb === 'xet-read-token' && seg.length === 6) return { kind: 'xet-read-token', ...base, rev: dec(seg[5]), rawRev: seg[5] ?? '' }
      return { kind: 'other' }
    }
    let type: HubRepoType = 'model'
    let rest = seg
    if (seg[0] === 'datasets' || seg[0] === 'spaces') {
      type = seg[0] === 'datasets' ? 'dataset' : 'space'
      rest = seg.slice(1)
    }
    if (rest.length >= 5 && rest[2] === 'resolve') {
      const repoId = `${dec(rest[0])}/${dec(rest[1])}`
      return { kind: 'resolve', type, repoId, repo: repos.get(key(type, repoId)), rev: dec(rest[3]), rawRev: rest[3] ?? '', path: rest.slice(4).map(dec).join('/') }
    }
    return { kind: 'other' }
  }

  // --- responses -----------------------------------------------------------------------------

  function sendJson (res: ServerResponse, status: number, value: unknown, headers: OutgoingHttpHeaders = {}): void {
    const body = Buffer.from(JSON.stringify(value))
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length), ...headers })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }

  function sendError (res: ServerResponse, status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}): void {
    sendJson(res, status, { error: message }, { 'x-error-code': code, 'x-error-message': message, 'x-request-id': `Root=stand-in-${requests.length}`, ...headers })
  }

  function bearer (req: IncomingMessage): string | undefined {
    const value = req.headers.authorization
    return typeof value === 'string' && value.startsWith('Bearer ') ? value.slice('Bearer '.length) : undefined
  }

  /**
   * Answers 401/403 and returns false when the caller may not read the repo. The Hub answers 401
   * RepoNotFound for a private repo without access (as for a missing one), and 401/403 GatedRepo
   * for a gated repo's files (§2.3); gated repo metadata stays public.
   */
  function checkAccess (req: IncomingMessage, res: ServerResponse, r: Route, contentRequest: boolean): boolean {
    const repo = r.repo
    if (repo === undefined) return false
    const token = bearer(req)
    if (repo.private && (token === undefined || !repo.tokens.has(token))) {
      sendError(res, 401, 'RepoNotFound', 'Repository not found')
      return false
    }
    if (repo.gated !== false && contentRequest && (token === undefined || !repo.tokens.has(token))) {
      const what = `${repo.type === 'model' ? 'model' : repo.type} ${repo.id}`
      if (token === undefined) sendError(res, 401, 'GatedRepo', `Access to ${what} is restricted. You must have access to it and be authenticated to access it. Please log in.`)
      else sendError(res, 403, 'GatedRepo', `Access to ${what} is restricted and you are not in the authorized list. Visit https://huggingface.co/${TYPE_PREFIX[repo.type]}${repo.id} to ask for access.`)
      return false
    }
    return true
  }

  function unknownRepo (res: ServerResponse): void {
    sendError(res, 401, 'RepoNotFound', 'Repository not found')
  }

  function unknownRevision (res: ServerResponse, rev: string): void {
    sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`)
  }

  function xetLinks (repo: Repo, sha: string, file: HubFile): string {
    return `<${origin}/api/${TYPE_PLURAL[repo.type]}/${repo.id}/xet-read-token/${sha}>; rel="xet-auth", <${casUrl}/v1/reconstructions/${file.xetHash}>; rel="xet-reconstruction-info"`
  }

  function signCdnUrl (sha256: string): string {
    const expires = Math.floor((now() + cdnUrlTtlMs) / 1000)
    const path = `/repos/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`
    const signature = createHmac('sha256', signingKey).update(`${path}\0${expires}`).digest('hex')
    return `${cdnOrigin}${path}?response-content-disposition=inline&Expires=${expires}&Signature=${signature}&Key-Pair-Id=STANDIN`
  }

  function cdnUrlValid (url: string, sha256: string): 'ok' | 'expired' | 'bad' {
    const query = new URLSearchParams(url.split('?')[1] ?? '')
    const expires = Number(query.get('Expires'))
    const path = `/repos/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`
    const expected = createHmac('sha256', signingKey).update(`${path}\0${expires}`).digest('hex')
    if (!Number.isInteger(expires) || query.get('Signature') !== expected) return 'bad'
    return now() > expires * 1000 ? 'expired' : 'ok'
  }

  function handleResolve (req: IncomingMessage, res: ServerResponse, r: Route): void {
    const repo = r.repo
    if (repo === undefined || r.rev === undefined || r.path === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, true)) return
    const commit = commitAt(repo, r.rev)
    if (commit === undefined) { unknownRevision(res, r.rev); return }
    const file = commit.files.get(r.path)
    if (file === undefined) {
      sendError(res, 404, 'EntryNotFound', `${r.path} does not exist on "${r.rev}"`, { 'x-repo-commit': commit.sha })
      return
    }
    const accept = req.headers.accept ?? ''
    if (file.lfs) {
      const headers: OutgoingHttpHeaders = {
        'x-repo-commit': commit.sha,
        'x-linked-etag': `"${file.sha256}"`,
        'x-linked-size': String(file.size),
        etag: `"${file.gitSha1}"`,
        'accept-ranges': 'bytes'
      }
      if (hub.xet) {
        headers['x-xet-hash'] = file.xetHash
        headers.link = xetLinks(repo, commit.sha, file)
        // The JS client asks for Xet file info with this Accept; the Hub then answers 200 JSON
        // instead of the redirect (§1.6).
        if (accept.includes('application/vnd.xet-fileinfo+json')) {
          sendJson(res, 200, { hash: file.xetHash, refreshUrl: `${origin}/api/${TYPE_PLURAL[repo.type]}/${repo.id}/xet-read-token/${commit.sha}`, reconstructionUrl: `${casUrl}/v1/reconstructions/${file.xetHash}`, etag: file.sha256, size: file.size },
            { ...headers, 'content-type': 'application/vnd.xet-fileinfo+json' })
          return
        }
      }
      const location = signCdnUrl(file.sha256)
      const text = Buffer.from(`Found. Redirecting to ${location}`)
      res.writeHead(302, { ...headers, location, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length) })
      res.end(req.method === 'HEAD' ? undefined : text)
      return
    }
    // The Hub's relative redirect for regular files: the query carries the requested URL and the
    // etag (§3), which is why a mirror must never key by it.
    const requested = `/${TYPE_PREFIX[repo.type]}${repo.id}/resolve/${r.rawRev ?? ''}/${r.path}`
    const location = `/api/resolve-cache/${TYPE_PLURAL[repo.type]}/${repo.id}/${commit.sha}/${encodePath(file.path)}?${encodeURIComponent(requested)}=&etag=%22${file.gitSha1}%22`
    const text = Buffer.from(`Temporary Redirect. Redirecting to ${location}`)
    res.writeHead(307, { 'x-repo-commit': commit.sha, etag: `"${file.gitSha1}"`, location, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length) })
    res.end(req.method === 'HEAD' ? undefined : text)
  }

  function handleResolveCache (req: IncomingMessage, res: ServerResponse, r: Route, fault: HubFault | undefined): void {
    const repo = r.repo
    if (repo === undefined || r.rev === undefined || r.path === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, true)) return
    const commit = commitAt(repo, r.rev)
    const file = commit?.files.get(r.path)
    if (commit === undefined || file === undefined || file.lfs) { sendError(res, 404, 'EntryNotFound', `${r.path} not found`); return }
    void serveBytes(req, res, file.body, { 'x-repo-commit': commit.sha, etag: `"${file.gitSha1}"`, 'content-type': contentTypeOf(file.path) }, fault)
  }

  function handleCdn (req: IncomingMessage, res: ServerResponse, r: Route, fault: HubFault | undefined): void {
    const file = findBySha256(r.sha256 ?? '')
    if (file === undefined) { sendPlain(res, 404, 'NoSuchKey'); return }
    const valid = cdnUrlValid(req.url ?? '', file.sha256)
    // CloudFront answers 403 to an expired or tampered signed URL (§3 "Expiry").
    if (valid !== 'ok') { sendPlain(res, 403, valid === 'expired' ? 'Request has expired' : 'Invalid signature'); return }
    void serveBytes(req, res, file.body, { etag: `"${file.sha256}"`, 'content-type': 'binary/octet-stream', 'x-cache': 'Miss from cloudfront' }, fault)
  }

  function findBySha256 (sha256: string): HubFile | undefined {
    for (const repo of repos.values()) {
      for (const commit of repo.commits.values()) {
        for (const file of commit.files.values()) if (file.lfs && file.sha256 === sha256) return file
      }
    }
    return undefined
  }

  function repoInfo (repo: Repo, commit: Commit, query: URLSearchParams): Record<string, unknown> {
    const blobs = query.get('blobs') === 'true'
    const siblings = [...commit.files.values()].sort((a, b) => a.path.localeCompare(b.path)).map((f) => blobs
      ? { rfilename: f.path, size: f.size, blobId: f.gitSha1, ...(f.lfs ? { lfs: { size: f.size, sha256: f.sha256, pointerSize: f.pointer?.length ?? 0 } } : {}) }
      : { rfilename: f.path })
    const [author] = repo.id.split('/')
    return {
      _id: createHash('sha1').update(repo.id).digest('hex').slice(0, 24),
      id: repo.id,
      author,
      sha: commit.sha,
      lastModified: COMMIT_DATE,
      private: repo.private,
      disabled: false,
      gated: repo.gated,
      downloads: 0,
      likes: 0,
      tags: [],
      ...(repo.type === 'model' ? { library_name: 'transformers', modelId: repo.id } : {}),
      ...(repo.type === 'space' ? { sdk: 'static', runtime: { stage: 'RUNNING' } } : {}),
      siblings,
      createdAt: COMMIT_DATE,
      usedStorage: [...commit.files.values()].reduce((n, f) => n + f.size, 0)
    }
  }

  function handleApiInfo (req: IncomingMessage, res: ServerResponse, r: Route, query: URLSearchParams): void {
    const repo = r.repo
    if (repo === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, false)) return
    const commit = commitAt(repo, r.rev ?? 'main')
    if (commit === undefined) { unknownRevision(res, r.rev ?? 'main'); return }
    sendJson(res, 200, repoInfo(repo, commit, query))
  }

  function entryOf (file: HubFile, expand: boolean, withXet: boolean): Record<string, unknown> {
    return {
      type: 'file',
      oid: file.gitSha1,
      size: file.size,
      path: file.path,
      ...(file.lfs ? { lfs: { oid: file.sha256, size: file.size, pointerSize: file.pointer?.length ?? 0 } } : {}),
      ...(file.lfs && withXet ? { xetHash: file.xetHash } : {}),
      ...(expand ? { lastCommit: { id: file.lastCommit, title: 'Upload', date: COMMIT_DATE }, securityFileStatus: { status: 'safe' } } : {})
    }
  }

  function directoryEntry (path: string, expand: boolean, commit: Commit): Record<string, unknown> {
    return {
      type: 'directory',
      oid: createHash('sha1').update(`tree\0${commit.sha}\0${path}`).digest('hex'),
      size: 0,
      path,
      ...(expand ? { lastCommit: { id: commit.sha, title: 'Upload', date: COMMIT_DATE } } : {})
    }
  }

  /** Files and directories under `dir` (all levels when recursive), directories first at each level like the Hub. */
  function listTree (commit: Commit, dir: string, recursive: boolean, expand: boolean): Array<Record<string, unknown>> | undefined {
    const prefix = dir === '' ? '' : `${dir}/`
    const dirs = new Set<string>()
    const files: HubFile[] = []
    for (const file of commit.files.values()) {
      if (!file.path.startsWith(prefix)) continue
      const rest = file.path.slice(prefix.length)
      const parts = rest.split('/')
      for (let i = 1; i < parts.length; i++) {
        if (!recursive && i > 1) break
        dirs.add(prefix + parts.slice(0, i).join('/'))
      }
      if (recursive || parts.length === 1) files.push(file)
    }
    if (dir !== '' && files.length === 0 && dirs.size === 0) return undefined
    const entries: Array<{ path: string, value: Record<string, unknown> }> = [
      ...[...dirs].map((path) => ({ path, value: directoryEntry(path, expand, commit) })),
      ...files.map((file) => ({ path: file.path, value: entryOf(file, expand, hub.xet) }))
    ]
    return entries.sort((a, b) => a.path.localeCompare(b.path)).map((e) => e.value)
  }

  function handleTree (req: IncomingMessage, res: ServerResponse, r: Route, url: string, query: URLSearchParams): void {
    const repo = r.repo
    if (repo === undefined || r.rev === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, false)) return
    const commit = commitAt(repo, r.rev)
    if (commit === undefined) { unknownRevision(res, r.rev); return }
    const entries = listTree(commit, r.path ?? '', query.get('recursive') === 'true', query.get('expand') === 'true')
    if (entries === undefined) { sendError(res, 404, 'EntryNotFound', `${r.path ?? ''} does not exist on "${r.rev}"`, { 'x-repo-commit': commit.sha }); return }
    const cursor = query.get('cursor')
    const start = cursor === null ? 0 : Number(Buffer.from(cursor, 'base64url').toString())
    if (!Number.isInteger(start) || start < 0) { sendError(res, 400, 'BadRequest', 'invalid cursor'); return }
    const page = entries.slice(start, start + pageSize)
    const headers: OutgoingHttpHeaders = {}
    if (start + pageSize < entries.length) {
      // ABSOLUTE, on the Hub's own origin, as huggingface.co sends it (§2.6): a mirror must rewrite it.
      const next = new URLSearchParams(query)
      next.set('cursor', Buffer.from(String(start + pageSize)).toString('base64url'))
      headers.link = `<${origin}${url.split('?')[0] ?? ''}?${next.toString()}>; rel="next"`
    }
    sendJson(res, 200, page, headers)
  }

  function handlePathsInfo (req: IncomingMessage, res: ServerResponse, r: Route, body: string): void {
    const repo = r.repo
    if (repo === undefined || r.rev === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, false)) return
    const commit = commitAt(repo, r.rev)
    if (commit === undefined) { unknownRevision(res, r.rev); return }
    let paths: string[]
    let expand: boolean
    const type = String(req.headers['content-type'] ?? '')
    try {
      if (type.includes('application/json')) {
        const parsed = JSON.parse(body) as { paths?: unknown, expand?: unknown }
        paths = Array.isArray(parsed.paths) ? parsed.paths.map(String) : []
        expand = parsed.expand === true || parsed.expand === 'true'
      } else {
        const form = new URLSearchParams(body)
        paths = form.getAll('paths')
        expand = form.get('expand') === 'true' || form.get('expand') === 'True'
      }
    } catch {
      sendError(res, 400, 'BadRequest', 'paths-info: body is neither a form nor JSON')
      return
    }
    const out: Array<Record<string, unknown>> = []
    for (const p of paths) {
      const path = p.replace(/^\/+|\/+$/g, '')
      const file = commit.files.get(path)
      if (file !== undefined) out.push(entryOf(file, expand, hub.xet))
      else if ([...commit.files.keys()].some((f) => f.startsWith(`${path}/`))) out.push(directoryEntry(path, expand, commit))
      // Missing paths are silently omitted, like the Hub (§2.6).
    }
    sendJson(res, 200, out)
  }

  function handleXetReadToken (req: IncomingMessage, res: ServerResponse, r: Route): void {
    const repo = r.repo
    if (repo === undefined) { unknownRepo(res); return }
    if (!checkAccess(req, res, r, true)) return
    const exp = Math.floor(now() / 1000) + 3600
    const accessToken = `stand-in-xet-${randomBytes(8).toString('hex')}`
    sendJson(res, 200, { accessToken, exp, casUrl }, { 'x-xet-cas-url': casUrl, 'x-xet-access-token': accessToken, 'x-xet-token-expiration': String(exp) })
  }

  /** 200 or 206/416 for `body`, honouring one `bytes=` range, with the fault applied to the body. */
  async function serveBytes (req: IncomingMessage, res: ServerResponse, original: Buffer, headers: OutgoingHttpHeaders, fault: HubFault | undefined): Promise<void> {
    let body = original
    if (fault?.type === 'corrupt' && body.length > 0) {
      body = Buffer.from(original)
      const at = Math.floor(body.length / 2)
      body[at] = (body[at] ?? 0) ^ 0xff
    }
    const size = body.length
    const range = parseRange(req.headers.range, size)
    const base: OutgoingHttpHeaders = { 'accept-ranges': 'bytes', 'last-modified': 'Thu, 01 Jan 2026 00:00:00 GMT', ...headers }
    if (range === 'unsatisfiable') {
      const text = Buffer.from('Range Not Satisfiable')
      res.writeHead(416, { ...base, 'content-range': `bytes */${size}`, 'content-type': 'text/plain', 'content-length': String(text.length) })
      res.end(req.method === 'HEAD' ? undefined : text)
      return
    }
    const start = range?.start ?? 0
    const end = range?.end ?? size
    const out: OutgoingHttpHeaders = { ...base, 'content-length': String(end - start) }
    if (range !== undefined) out['content-range'] = `bytes ${start}-${end - 1}/${size}`
    res.writeHead(range === undefined ? 200 : 206, out)
    if (req.method === 'HEAD') { res.end(); return }
    res.flushHeaders()
    const slice = body.subarray(start, end)
    const cutAfter = fault?.type === 'cut' ? fault.afterBytes : undefined
    const stallAfter = fault?.type === 'stall' && fault.afterBytes !== undefined ? fault.afterBytes : undefined
    let sent = 0
    const signal = closing.signal
    try {
      while (sent < slice.length) {
        if (res.destroyed || signal.aborted) return
        let limit = Math.min(sent + CHUNK_BYTES, slice.length)
        if (cutAfter !== undefined) limit = Math.min(limit, cutAfter)
        if (stallAfter !== undefined && sent < stallAfter) limit = Math.min(limit, stallAfter)
        if (limit > sent) {
          await write(res, slice.subarray(sent, limit))
          bytesOut += limit - sent
          sent = limit
        }
        if (cutAfter !== undefined && sent >= cutAfter) { res.socket?.destroy(); return }
        if (stallAfter !== undefined && sent === stallAfter && fault?.type === 'stall') {
          if (fault.ms === undefined) return // stalled until close()
          await sleep(fault.ms, undefined, { signal })
        }
      }
      res.end()
    } catch {
      res.destroy()
    }
  }

  // --- server --------------------------------------------------------------------------------

  function takeFault (r: HubRequest): HubFault | undefined {
    for (const rule of faults) {
      const kinds = rule.kind === undefined ? undefined : Array.isArray(rule.kind) ? rule.kind : [rule.kind]
      if (kinds !== undefined && !kinds.includes(r.kind)) continue
      if (rule.method !== undefined && rule.method !== r.method) continue
      if (rule.path !== undefined && rule.path !== r.file?.path) continue
      if (rule.when !== undefined && !rule.when(r)) continue
      if (rule.times !== undefined && rule.used >= rule.times) continue
      rule.used++
      return rule.fault
    }
    return undefined
  }

  async function onRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {})
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const host = req.headers.host ?? ''
    let body: string | undefined
    if (method === 'POST') {
      const chunks: Buffer[] = []
      let total = 0
      for await (const chunk of req as AsyncIterable<Buffer>) {
        total += chunk.length
        if (total > MAX_REQUEST_BODY_BYTES) { res.destroy(); return }
        chunks.push(chunk)
      }
      body = Buffer.concat(chunks).toString()
    }
    const r = route(method, url, host)
    if (r.repo !== undefined && r.rev !== undefined && r.path !== undefined && (r.kind === 'resolve' || r.kind === 'resolve-cache')) {
      r.file = commitAt(r.repo, r.rev)?.files.get(r.path)
    }
    if (r.kind === 'cdn') r.file = findBySha256(r.sha256 ?? '')
    const logged: HubRequest = {
      method,
      url,
      host,
      kind: r.kind,
      headers: req.headers,
      ...(typeof req.headers.range === 'string' ? { range: req.headers.range } : {}),
      ...(typeof req.headers.accept === 'string' ? { accept: req.headers.accept } : {}),
      authorization: req.headers.authorization !== undefined,
      ...(body === undefined ? {} : { body }),
      ...(r.file === undefined ? {} : { file: { path: r.file.path, sha256: r.file.sha256, gitSha1: r.file.gitSha1 } }),
      ...(r.repoId === undefined ? {} : { repo: r.repoId }),
      at: Date.now()
    }
    requests.push(logged)
    hub.onRequest?.(logged)
    const fault = takeFault(logged)
    if (fault?.type === 'status') {
      const defaults: Record<string, string> = fault.status === 429
        ? { 'retry-after': '1', ratelimit: '"resolvers";r=0;t=1', 'ratelimit-policy': '"fixed window";"resolvers";q=3000;w=300' }
        : {}
      const text = Buffer.from(fault.body ?? `stand-in fault ${fault.status}`)
      res.writeHead(fault.status, { 'content-type': 'text/plain', 'content-length': String(text.length), ...defaults, ...fault.headers })
      res.end(method === 'HEAD' ? undefined : text)
      return
    }
    if (fault?.type === 'stall' && fault.afterBytes === undefined) {
      if (fault.ms === undefined) return // no answer until close()
      try { await sleep(fault.ms, undefined, { signal: closing.signal }) } catch { res.destroy(); return }
    }
    const query = new URLSearchParams(url.split('?')[1] ?? '')
    const bodyFault = fault?.type === 'cut' || fault?.type === 'corrupt' || fault?.type === 'stall' ? fault : undefined
    if ((method === 'GET' || method === 'HEAD') || (method === 'POST' && r.kind === 'paths-info')) {
      switch (r.kind) {
        case 'resolve': handleResolve(req, res, r); return
        case 'resolve-cache': handleResolveCache(req, res, r, bodyFault); return
        case 'cdn': handleCdn(req, res, r, bodyFault); return
        case 'api-info': handleApiInfo(req, res, r, query); return
        case 'tree': handleTree(req, res, r, url, query); return
        case 'paths-info': handlePathsInfo(req, res, r, body ?? ''); return
        case 'xet-read-token': handleXetReadToken(req, res, r); return
        default: break
      }
    }
    sendPlain(res, 404, `stand-in hub: nothing at ${method} ${url}`)
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => { void onRequest(req, res).catch(() => { res.destroy() }) }
  const server = tls === undefined ? http.createServer(handler) : https.createServer({ cert: tls.certPem, key: tls.keyPem, ...(tls.ca === undefined ? {} : { ca: tls.ca }) }, handler)
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => {})
  })
  server.on('tlsClientError', () => {})
  server.on('clientError', (_err, socket) => { socket.destroy() })

  const listen = async (port: number): Promise<number> => await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') reject(new Error('stand-in hub: no TCP address'))
      else resolve(address.port)
    })
  })
  const port = await listen(0)
  let listening = true
  const host = `${opts.names?.hub ?? '127.0.0.1'}:${port}`
  const cdnHost = `${opts.names?.cdn ?? 'localhost'}:${port}`
  const origin = `${scheme}://${host}`
  const cdnOrigin = `${scheme}://${cdnHost}`
  // `.invalid` never resolves (RFC 6761 §6.4): a client that reaches for the CAS fails loudly.
  const casUrl = 'https://cas-server.stand-in-hub.invalid'

  const stopListening = async (): Promise<void> => {
    if (!listening) return
    listening = false
    closing.abort()
    const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    for (const socket of sockets) socket.destroy()
    await closed
  }

  const hub: StandInHub = {
    origin,
    cdnOrigin,
    host,
    cdnHost,
    port,
    casUrl,
    xet: opts.xet ?? true,
    requests,
    get bytesOut () { return bytesOut },
    onRequest: undefined,
    count (filter = {}): number {
      return requests.filter((r) => (filter.kind === undefined || r.kind === filter.kind) &&
        (filter.method === undefined || r.method === filter.method) &&
        (filter.host === undefined || r.host === filter.host) &&
        (filter.path === undefined || r.file?.path === filter.path)).length
    },
    addRepo,
    commit (repo, files, o = {}): string {
      return makeCommit(getRepo(repo, o.type), o.ref ?? 'main', files)
    },
    moveRef (repo, ref, sha, type): void {
      const r = getRepo(repo, type)
      if (!r.commits.has(sha)) throw new Error(`stand-in hub: ${repo} has no commit ${sha}`)
      r.refs.set(ref, sha)
    },
    sha (repo, ref = 'main', type): string {
      const sha = getRepo(repo, type).refs.get(ref)
      if (sha === undefined) throw new Error(`stand-in hub: ${repo} has no ref ${ref}`)
      return sha
    },
    file (repo, path, rev = 'main', type): HubFile {
      const file = commitAt(getRepo(repo, type), rev)?.files.get(path)
      if (file === undefined) throw new Error(`stand-in hub: ${repo}@${rev} has no file ${path}`)
      return file
    },
    files (repo, rev = 'main', type): HubFile[] {
      const commit = commitAt(getRepo(repo, type), rev)
      if (commit === undefined) throw new Error(`stand-in hub: ${repo} has no revision ${rev}`)
      return [...commit.files.values()]
    },
    inject (rule): void { faults.push({ ...rule, used: 0 }) },
    clearFaults (): void { faults.length = 0 },
    clearLog (): void { requests.length = 0 },
    down: stopListening,
    async up (): Promise<void> {
      if (listening) return
      closing = new AbortController()
      await listen(port)
      listening = true
    },
    close: stopListening
  }
  return hub
}

/** quote(path) with '/' kept, as huggingface_hub builds URLs (§1.7). */
export function encodePath (path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

function contentTypeOf (path: string): string {
  if (path.endsWith('.json')) return 'application/json'
  if (path.endsWith('.csv')) return 'text/csv; charset=utf-8'
  if (path.endsWith('.md') || path.endsWith('.txt')) return 'text/plain; charset=utf-8'
  return 'application/octet-stream'
}

function sendPlain (res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text)
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

async function write (res: ServerResponse, chunk: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onClose = (): void => { reject(new Error('response closed')) }
    res.once('close', onClose)
    res.write(chunk, (err?: Error | null) => {
      res.off('close', onClose)
      if (err != null) reject(err)
      else resolve()
    })
  })
}

/** One `bytes=a-b`, `a-` or `-n` range as [start, end) (RFC 9110 §14.1.2); anything else is ignored. */
function parseRange (header: string | undefined, size: number): { start: number, end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null) return undefined
  const [, first = '', last = ''] = m
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  if (last !== '' && Number(last) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return { start, end: last === '' ? size : Math.min(Number(last) + 1, size) }
}
