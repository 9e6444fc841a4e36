// The Hugging Face mode's URL shapes (hf-protocol.md §1.7), parsed on the RAW target: a revision
// is one segment (`refs%2Fconvert%2Fparquet`, `refs%2Fpr%2F5`) and is forwarded upstream encoded
// exactly as it came, so the path is split before any percent-decoding.
import { BadPathError } from '../../errors.js'

export type RepoType = 'models' | 'datasets' | 'spaces'

export interface HfRepo {
  type: RepoType
  /** `org/name` or a legacy `name`, raw segments. */
  id: string
}

export type HfRoute =
  | { kind: 'resolve'; repo: HfRepo; rev: string; path: string; query: string }
  | { kind: 'info'; repo: HfRepo; rev: string | null; query: string }
  | { kind: 'tree'; repo: HfRepo; rev: string; path: string; query: string }
  | { kind: 'paths-info'; repo: HfRepo; rev: string; query: string }
  | { kind: 'xet-read-token'; repo: HfRepo; rev: string }
  /** Anything else (refs, commits, whoami, telemetry): passed to the Hub uncached. */
  | { kind: 'other'; path: string; query: string }

const TYPE_PREFIXES: Record<string, RepoType> = { datasets: 'datasets', spaces: 'spaces' }
const API_TYPES = new Set<string>(['models', 'datasets', 'spaces'])
const API_VERBS = new Set(['revision', 'tree', 'paths-info', 'xet-read-token', 'refs', 'commits', 'preupload', 'commit', 'resolve-cache'])
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
/** A commit id: a revision that names immutable content (hf-protocol.md §4.1). */
export const COMMIT_RE = /^[0-9a-f]{40}$/

function refuse (target: string, reason: string): never {
  throw new BadPathError(target.length > 200 ? `${target.slice(0, 200)}...` : target, `${reason} (Hugging Face mode)`)
}

/** A path segment as given, checked: no traversal once decoded, no control characters or separators. */
function checkSegment (raw: string, target: string): string {
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    return refuse(target, `segment '${raw}' is not valid percent-encoding`)
  }
  if (decoded === '' || decoded === '.' || decoded === '..') refuse(target, 'it has an empty, . or .. segment')
  if (/[\u0000-\u001f\u007f\\]/.test(decoded)) refuse(target, 'it has a control character or backslash') // eslint-disable-line no-control-regex
  return raw
}

/** A file path inside a repo: raw segments, `/` kept, each checked. */
function checkFilePath (segments: string[], target: string): string {
  for (const segment of segments) {
    checkSegment(segment, target)
    if (/%2f/i.test(segment)) refuse(target, 'a file path has an encoded /')
  }
  return segments.join('/')
}

function checkRepoSegment (segment: string | undefined, target: string): string {
  if (segment === undefined || !SEGMENT_RE.test(segment) || segment.includes('..')) refuse(target, `'${segment ?? ''}' is not a repository name`)
  return segment
}

/** A revision: one raw segment (an encoded / inside is part of it). */
function checkRevision (segment: string | undefined, target: string): string {
  if (segment === undefined) return refuse(target, 'the revision is missing')
  checkSegment(segment, target)
  return segment
}

/**
 * Parses the part of a raw target after the mount (`/api/models/acme/x/revision/main?...`).
 * `//` is collapsed: `datasets` builds `HF_ENDPOINT + "/datasets/..."` from the raw variable, so a
 * trailing `/` there doubles it (hf-protocol.md §1.7).
 */
export function parseHfPath (rawAfterMount: string): HfRoute {
  const target = rawAfterMount
  const queryAt = target.indexOf('?')
  const query = queryAt === -1 ? '' : target.slice(queryAt)
  const path = (queryAt === -1 ? target : target.slice(0, queryAt)).replace(/\/{2,}/g, '/')
  const segments = path.split('/').slice(1)
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop()

  if (segments[0] === 'api') {
    const type = segments[1]
    if (type !== undefined && API_TYPES.has(type) && segments.length >= 3) {
      const oneSegment = segments.length === 3 || API_VERBS.has(segments[3] ?? '')
      const id = oneSegment
        ? checkRepoSegment(segments[2], target)
        : `${checkRepoSegment(segments[2], target)}/${checkRepoSegment(segments[3], target)}`
      const repo: HfRepo = { type: type as RepoType, id }
      const rest = segments.slice(oneSegment ? 3 : 4)
      const verb = rest[0]
      if (verb === undefined) return { kind: 'info', repo, rev: null, query }
      if (verb === 'revision' && rest.length === 2) return { kind: 'info', repo, rev: checkRevision(rest[1], target), query }
      if (verb === 'tree' && rest.length >= 2) return { kind: 'tree', repo, rev: checkRevision(rest[1], target), path: checkFilePath(rest.slice(2), target), query }
      if (verb === 'paths-info' && rest.length === 2) return { kind: 'paths-info', repo, rev: checkRevision(rest[1], target), query }
      if (verb === 'xet-read-token' && rest.length === 2) return { kind: 'xet-read-token', repo, rev: checkRevision(rest[1], target) }
    }
    return { kind: 'other', path: checkFilePath(segments, target), query }
  }

  const type = TYPE_PREFIXES[segments[0] ?? ''] ?? 'models'
  const repoSegments = type === 'models' ? segments : segments.slice(1)
  // `{org}/{name}/resolve/...` or a legacy `{name}/resolve/...`.
  const at = repoSegments[1] === 'resolve' ? 1 : repoSegments[2] === 'resolve' ? 2 : -1
  if (at !== -1 && repoSegments.length >= at + 3) {
    const id = repoSegments.slice(0, at).map((s) => checkRepoSegment(s, target)).join('/')
    return {
      kind: 'resolve',
      repo: { type, id },
      rev: checkRevision(repoSegments[at + 1], target),
      path: checkFilePath(repoSegments.slice(at + 2), target),
      query
    }
  }
  return { kind: 'other', path: checkFilePath(segments, target), query }
}

/** The URL prefix of a repo's files: `""`, `datasets/` or `spaces/` before the id. */
export function repoPrefix (repo: HfRepo): string {
  return repo.type === 'models' ? '' : `${repo.type}/`
}
