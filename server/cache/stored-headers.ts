// Which upstream response headers are stored with an entry and replayed to clients. Everything
// end-to-end is kept (Hugging Face clients read X-Repo-Commit, X-Linked-Etag and friends), except
// what describes one connection or one transfer, and cookies, which must never be shared.

import { connectionOptions } from './http-semantics.js'

// hop-by-hop (RFC 9110 §7.6.1): never forwarded, stored or not
const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade'
]

const NOT_STORED = new Set([
  ...HOP_BY_HOP,
  // per transfer: dsmirror sets its own for what it serves
  'content-length', 'content-range', 'accept-ranges', 'age', 'cache-status',
  // never shared between clients
  'set-cookie', 'set-cookie2'
])

const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'cache-status'])

export function storedHeaders (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  return filterHeaders(headers, NOT_STORED)
}

function filterHeaders (headers: Readonly<Record<string, string | string[] | undefined>>, drop: ReadonlySet<string>): Record<string, string | string[]> {
  // Fields the sender names in Connection are for this hop only (RFC 9110 §7.6.1; issue #13 item 9).
  const listed = connectionOptions(headers)
  const kept: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value !== undefined && !drop.has(lower) && !listed.has(lower)) kept[lower] = value
  }
  return kept
}

/** Headers of an upstream response passed through to one client uncached (cookies included). */
export function forwardedHeaders (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  return filterHeaders(headers, NOT_FORWARDED)
}
