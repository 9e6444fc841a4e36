// What the Hugging Face mode changes in the Hub's answers (hf-protocol.md §2.5, §2.6, §2.7): the
// Xet data plane is hidden (clients that see it talk to the CAS hosts directly, past the mirror),
// pagination links point back at the mirror, and only the headers clients read are relayed.

/**
 * Hub response headers relayed to clients (hf-protocol.md §2.7). Everything else (Location, the
 * Xet headers, Content-Encoding, Set-Cookie, the CDN's caching headers) stays here.
 */
const RELAYED_HEADERS = [
  'content-type', 'x-repo-commit', 'x-error-code', 'x-error-message', 'x-request-id', 'ratelimit', 'ratelimit-policy',
  'retry-after', 'x-hf-warning', 'etag', 'x-linked-etag', 'x-linked-size', 'last-modified'
]

/** The relayed subset of Hub headers, as single strings. */
export function relayedHeaders (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of RELAYED_HEADERS) {
    const value = headers[name]
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

/**
 * A Hub `Link` header for the client: the Xet rels dropped (`xet-auth`, `xet-reconstruction-info`:
 * hf-protocol.md §2.5 rule 4) and every link on the Hub's origin (or relative to it) moved to the
 * mirror's base, prefix kept (rule 5: both clients follow `rel="next"` verbatim). Null when nothing is left.
 */
export function rewriteLink (value: string | undefined, hubOrigin: string, mirrorBase: string): string | null {
  if (value === undefined || value.trim() === '') return null
  const kept: string[] = []
  // Link values are `<uri>; params` separated by commas outside the <> (RFC 8288 §3).
  for (const match of value.matchAll(/<([^>]*)>([^,]*)/g)) {
    const uri = match[1] ?? ''
    const params = match[2] ?? ''
    if (/rel\s*=\s*"?[^";]*xet/i.test(params)) continue
    let url: URL
    try {
      url = new URL(uri, hubOrigin)
    } catch {
      continue
    }
    // A link elsewhere (not the Hub) is not one the mirror can answer: dropped, never followed past it.
    if (url.origin !== hubOrigin) continue
    kept.push(`<${mirrorBase}${url.pathname}${url.search}>${params}`)
  }
  return kept.length === 0 ? null : kept.join(', ')
}

/**
 * Tree and paths-info entries (and repo info siblings) without `xetHash`: with it and hf_xet
 * installed, snapshot_download skips the resolve HEAD and asks `xet-read-token` (hf-protocol.md
 * §1.3, §2.5; artifact-keeper#3334). A body that is not JSON is returned as it came.
 */
export function stripXet (body: Buffer): Buffer {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return body
  }
  let changed = false
  const strip = (entries: unknown): void => {
    if (!Array.isArray(entries)) return
    for (const entry of entries) {
      if (typeof entry === 'object' && entry !== null && 'xetHash' in entry) {
        delete (entry as Record<string, unknown>).xetHash
        changed = true
      }
    }
  }
  strip(parsed)
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) strip((parsed as Record<string, unknown>).siblings)
  return changed ? Buffer.from(JSON.stringify(parsed)) : body
}

/** An ETag's opaque value: `W/` and the quotes removed, as huggingface_hub `_normalize_etag` does. */
export function etagValue (value: string | string[] | undefined): string | null {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined) return null
  return text.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')
}
