import { open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { runCommand } from './children.js'
import { cpuBetween, formatCpu, snapshotCpu, waitForQuiet } from './cpu.js'
import type { CpuUsage } from './cpu.js'
import { download } from './curl.js'
import type { Download, DownloadOptions } from './curl.js'
import { classifyCacheStatus } from './peer.js'
import type { CacheOutcome, Peer } from './peer.js'
import type { BenchUpstream } from './upstream.js'

const COMMIT_WAIT_MS = 60_000
const COMMIT_POLL_MS = 200
// A timed transfer during which other processes used more than this share of the CPUs is
// repeated (after waiting for quiet), up to MAX_ATTEMPTS; the last attempt is kept and flagged.
export const MAX_OTHER_SHARE = 0.15
const MAX_ATTEMPTS = 3
const QUIET_WAIT_MS = 20_000
const READ_WHOLE_CHUNK_BYTES = 8 * 1024 * 1024

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

// Reads a file once, untimed, so the upstream serves it from the page cache: this VM pages out
// memory left idle for a minute (DAMON), which would charge a disk read to whichever transfer
// comes first.
export async function readWhole (file: string): Promise<void> {
  const handle = await open(file, 'r')
  const buffer = Buffer.allocUnsafe(READ_WHOLE_CHUNK_BYTES)
  try {
    while ((await handle.read(buffer, 0, buffer.length, null)).bytesRead > 0);
  } finally {
    await handle.close()
  }
}

export function rotate<T> (items: T[], by: number): T[] {
  const k = by % items.length
  return [...items.slice(k), ...items.slice(0, k)]
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

export interface TimedDownload {
  run: Download
  cpu: CpuUsage
  attempts: number
}

export interface TransferSpec {
  url: string
  options?: DownloadOptions
}

// One timed transfer with its CPU accounting. `spec` is asked again for every attempt, so a
// cold measurement can use a fresh key each time.
export async function timedDownload (context: BenchContext, label: string, spec: (attempt: number) => TransferSpec, proxy?: Peer, sourceFile?: string): Promise<TimedDownload> {
  let last: TimedDownload | undefined
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) {
      context.progress(`${label}: other processes used ${(100 * (last?.cpu.otherShare ?? 0)).toFixed(0)}% of the CPUs; waiting for quiet and measuring again`)
      await waitForQuiet(MAX_OTHER_SHARE, QUIET_WAIT_MS)
    }
    const { url, options } = spec(attempt)
    if (sourceFile !== undefined) await readWhole(sourceFile)
    await settle()
    const start = await snapshotCpu(proxy?.pid)
    const run = await download(url, { caFile: context.caFile, ...options })
    const cpu = cpuBetween(start, await snapshotCpu(proxy?.pid))
    last = { run, cpu, attempts: attempt + 1 }
    if (cpu.otherShare <= MAX_OTHER_SHARE || run.error !== undefined) break
  }
  if (last === undefined) throw new Error('unreachable: no attempt made')
  context.details.push(`${label}: ${(last.run.bytes / last.run.seconds / 1e6).toFixed(0)} MB/s in ${last.run.seconds.toFixed(2)} s; ${formatCpu(last.cpu, proxy?.name ?? '')}${last.attempts > 1 ? `; attempt ${last.attempts}` : ''}`)
  if (last.cpu.otherShare > MAX_OTHER_SHARE) {
    context.notes.push(`${label}: other processes used ${(100 * last.cpu.otherShare).toFixed(0)}% of the CPUs during the kept attempt (after ${last.attempts}); the machine was not quiet`)
  }
  return last
}
