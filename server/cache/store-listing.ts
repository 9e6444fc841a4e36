// Reading a whole CacheStore through its paged `list` (cache-store.ts), for the views that sort or
// rank every entry: the admin API's listing by URL, the status page's largest and newest entries.
import type { CacheStore, EntryMeta } from './cache-store.js'

/** Entries per `list` call: few calls on a disk index, bounded responses from a remote store. */
export const LIST_ALL_PAGE_ENTRIES = 10_000

/** Every committed entry, in key order, following the cursors to the last page. */
export async function listAll (store: Pick<CacheStore, 'list'>): Promise<EntryMeta[]> {
  const entries: EntryMeta[] = []
  let after: string | undefined
  for (;;) {
    const page = await store.list(after === undefined ? { limit: LIST_ALL_PAGE_ENTRIES } : { after, limit: LIST_ALL_PAGE_ENTRIES })
    entries.push(...page.entries)
    if (page.next === null) return entries
    after = page.next
  }
}
