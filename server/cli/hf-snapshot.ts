// `dsmirror prefetch hf://[datasets/|spaces/]{repo}[@rev]` (issue 11 item 7): the list of files of
// one snapshot, asked of a running server's Hugging Face mode the way snapshot_download asks the
// Hub (hf-protocol.md §1.3): the revision's commit, then every tree page (following the
// mirror-rewritten `Link rel="next"`), then one resolve URL per file at that commit. Fetching those
// through the server warms exactly what clients will ask for.
import { CommandRefusedError } from './cli-common.js'
import type { AdminClient } from './admin-client.js'

/** A tree listing with more pages than this is refused rather than walked for ever. */
export const MAX_TREE_PAGES = 10_000

export interface HfSnapshotRef {
  type: 'models' | 'datasets' | 'spaces'
  repo: string
  rev: string
}

/** Parses `hf://[datasets/|spaces/]{org}/{name}[@rev]`; null when `url` is not an hf:// URL. */
export function parseHfUrl (url: string): HfSnapshotRef | null {
  if (!url.startsWith('hf://')) return null
  let rest = url.slice('hf://'.length)
  let type: HfSnapshotRef['type'] = 'models'
  for (const prefix of ['datasets', 'spaces'] as const) {
    if (rest.startsWith(`${prefix}/`)) {
      type = prefix
      rest = rest.slice(prefix.length + 1)
    }
  }
  const at = rest.indexOf('@')
  const repo = at === -1 ? rest : rest.slice(0, at)
  const rev = at === -1 ? 'main' : rest.slice(at + 1)
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/.test(repo) || rev === '') {
    throw new CommandRefusedError(`'${url}' is not a Hugging Face snapshot. Write hf://org/name, hf://datasets/org/name or hf://org/name@revision.`)
  }
  return { type, repo, rev }
}

/** The mirror paths of every file of the snapshot, resolved at its commit. */
export async function listHfSnapshot (client: AdminClient, mount: string, ref: HfSnapshotRef, headers: Record<string, string>): Promise<string[]> {
  const api = `/${mount}/api/${ref.type}/${ref.repo}`
  const info = await client.getJson(`${api}/revision/${encodeURIComponent(ref.rev)}`, headers)
  const sha = (info.body as { sha?: unknown } | null)?.sha
  if (info.status !== 200 || typeof sha !== 'string') {
    throw new CommandRefusedError(`hf://${ref.type === 'models' ? '' : `${ref.type}/`}${ref.repo}@${ref.rev}: the server answered ${info.status} (${info.text.slice(0, 200)}).`)
  }
  const files: string[] = []
  let next: string | null = `${api}/tree/${sha}?recursive=true&expand=false`
  for (let page = 0; next !== null; page++) {
    if (page >= MAX_TREE_PAGES) throw new CommandRefusedError(`hf://${ref.repo}: the tree has more than ${MAX_TREE_PAGES} pages.`)
    const listing = await client.getJson(next, headers)
    if (listing.status !== 200 || !Array.isArray(listing.body)) throw new CommandRefusedError(`hf://${ref.repo}: listing the files answered ${listing.status} (${listing.text.slice(0, 200)}).`)
    for (const entry of listing.body as Array<{ type?: unknown, path?: unknown }>) {
      if (entry.type === 'file' && typeof entry.path === 'string') {
        files.push(`/${mount}/${ref.type === 'models' ? '' : `${ref.type}/`}${ref.repo}/resolve/${sha}/${entry.path.split('/').map(encodeURIComponent).join('/')}`)
      }
    }
    // The mirror rewrote the Link to its own base: keep the path and query, on this server.
    const link = listing.link === null ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(listing.link)?.[1] ?? null
    next = link === null ? null : (({ pathname, search }) => pathname + search)(new URL(link, client.server))
  }
  return files
}
