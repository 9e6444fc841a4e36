// A 304 answer to a revalidation, applied to the stored entry (RFC 9111 §4.3.4): the stored
// headers and freshness are updated from the 304, unless its validator selects another response,
// in which case the stored one must not be touched at all.
import CachePolicy from 'http-cache-semantics'
import type { EntryMeta } from './cache-store.js'
import { storedHeaders } from './stored-headers.js'

/** The entry refreshed by a 304, or null when the 304 is not about the stored response. */
export function freshenedByNotModified (
  stored: EntryMeta,
  request: CachePolicy.Request,
  notModifiedHeaders: Record<string, string | string[] | undefined>,
  now: number
): EntryMeta | null {
  const old = CachePolicy.fromObject(stored.policy as unknown as CachePolicy.CachePolicyObject)
  const { policy, matches } = old.revalidatedPolicy(request, { status: 304, headers: notModifiedHeaders })
  if (!matches) return null
  return {
    ...stored,
    headers: { ...stored.headers, ...storedHeaders(notModifiedHeaders) },
    policy: policy.toObject() as unknown as Record<string, unknown>,
    fetchedAt: now
  }
}
