// A 304 answer to a revalidation, applied to the stored entry (RFC 9111 §4.3.4): the stored
// headers and freshness are updated from the 304, unless its validator selects another response,
// in which case the stored one must not be touched at all.
import CachePolicy from 'http-cache-semantics'
import type { EntryMeta } from './cache-store.js'
import { NOT_UPDATED_BY_304, policyRequestHeaders, policyResponseHeaders, storablePolicyObject, type SemanticsOptions } from './http-semantics.js'
import { storedHeaders } from './stored-headers.js'

/** The entry refreshed by a 304, or null when the 304 is not about the stored response. */
export function freshenedByNotModified (
  stored: EntryMeta,
  request: CachePolicy.Request,
  notModifiedHeaders: Record<string, string | string[] | undefined>,
  now: number,
  semantics?: SemanticsOptions
): EntryMeta | null {
  const old = CachePolicy.fromObject(stored.policy as unknown as CachePolicy.CachePolicyObject)
  // Issue #13 item 6: fields that describe the stored bytes are not the 304's to change (§3.2).
  const update = Object.fromEntries(Object.entries(storedHeaders(notModifiedHeaders)).filter(([name]) => !NOT_UPDATED_BY_304.has(name)))
  const { policy, matches } = old.revalidatedPolicy(
    { ...request, headers: policyRequestHeaders(request.headers) as CachePolicy.Headers },
    { status: 304, headers: policyResponseHeaders(update, semantics) as CachePolicy.Headers }
  )
  if (!matches) return null
  return {
    ...stored,
    headers: { ...stored.headers, ...update },
    policy: storablePolicyObject(policy),
    fetchedAt: now
  }
}
