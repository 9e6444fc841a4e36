// The cache key of an upstream URL (docs/design.md "Cache"): sha256 of its canonical form, so every
// spelling of the same resource shares one entry and no spelling can reach another host's entry.
import { createHash } from 'node:crypto'

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/**
 * Canonical form of an upstream URL: scheme and host lower-cased, default port dropped and
 * dot-segments resolved (all three done by the WHATWG parser), percent-encoding normalised in the
 * path (RFC 3986 §6.2.2: unreserved characters decoded, hex digits upper-cased), fragment dropped,
 * query kept as given because upstreams (signed URLs, HF revisions) give it meaning.
 */
export function canonicalUrl (input: string | URL): string {
  const url = new URL(typeof input === 'string' ? input : input.href)
  url.hash = ''
  // Every trailing dot, not one: stripping one from `example.org..` would leave a form that a
  // second pass changes again, and the key must be a fixed point (idempotent).
  const hostname = url.hostname.replace(/\.+$/, '')
  if (hostname !== '' && hostname !== url.hostname) url.hostname = hostname
  url.pathname = url.pathname.replace(/%([0-9a-fA-F]{2})/g, (_match, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
  return url.href
}

/** Hex sha256 of the canonical URL: the name of the entry on disk and in the index. */
export function cacheKey (input: string | URL): string {
  return createHash('sha256').update(canonicalUrl(input)).digest('hex')
}
