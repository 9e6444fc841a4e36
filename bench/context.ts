import { runCommand } from './children.js'
import { download } from './curl.js'
import type { Download } from './curl.js'
import { classifyCacheStatus } from './peer.js'
import type { CacheOutcome, Peer } from './peer.js'
import type { BenchUpstream } from './upstream.js'
import { setTimeout as sleep } from 'node:timers/promises'

const COMMIT_WAIT_MS = 60_000
const COMMIT_POLL_MS = 200

// What every measurement gets: the upstream, the bench CA, a run id for fresh cache keys, and
// places for progress, notes (anything a reader of the table must know) and raw numbers.
export interface BenchContext {
  upstream: BenchUpstream
  caFile: string
  runId: string
  notes: string[]
  details: string[]
  progress: (message: string) => void
}

export function directUrl (context: BenchContext, path: string): string {
  return `https://${context.upstream.origin}${path}`
}

// Writes back dirty pages (a previous cold fill) before a timed transfer, so one measurement
// does not pay for the disk writes of the one before.
export async function settle (): Promise<void> {
  await runCommand('sync', 'sync', [])
}

// After a cold fill, waits until the peer answers a HEAD from its cache, so the next request
// measures a hit and not a fill that is still being committed.
export async function waitUntilCached (peer: Peer, path: string): Promise<CacheOutcome> {
  const deadline = Date.now() + COMMIT_WAIT_MS
  let outcome: CacheOutcome = 'unknown'
  while (Date.now() < deadline) {
    const head: Download = await download(peer.url(path), { method: 'HEAD' })
    outcome = classifyCacheStatus(head.cacheStatus)
    if (head.status === 200 && outcome === 'hit') return outcome
    await sleep(COMMIT_POLL_MS)
  }
  return outcome
}
