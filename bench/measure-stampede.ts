import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { directUrl, MAX_OTHER_SHARE, settle } from './context.js'
import type { BenchContext } from './context.js'
import { cpuBetween, formatCpu, snapshotCpu } from './cpu.js'
import { checkComplete, download } from './curl.js'
import type { Download } from './curl.js'
import type { BenchObject } from './objects.js'
import { classifyCacheStatus } from './peer.js'
import type { CacheOutcome, Peer } from './peer.js'
import { cpuRow, formatBytes, formatMB, formatRatio, formatSeconds, secondsPerGiB } from './report.js'
import type { Row } from './report.js'
import { sampleRss } from './rss.js'

// (c) N clients start together on an object no cache has, which the throttled upstream takes
// about 30 s to send. Counted at the upstream: requests for that path. Timed: from the first
// spawn to the last curl's exit, against one cold download of the same object straight from
// the upstream, timed the same way in the same run.
// (d) While (c) runs against a freshly started dsmirror, its resident memory is sampled every
// 100 ms (and VmHWM read), nginx's master + workers likewise.

export const STAMPEDE_TIME_TARGET_RATIO = 1.1
export const RSS_TARGET_BYTES = 200e6

export interface StampedeOptions {
  dsmirror: Peer
  nginx: Peer
  object: BenchObject
  clients: number
  workDir: string
  withRss: boolean
}

interface StampedeResult {
  upstreamRequests: number
  lastDoneSeconds: number
  failures: string[]
  outcomes: Map<CacheOutcome, number>
  peakRssBytes: number
  intact: boolean
  proxyCpuSeconds: number
}

async function sha256File (file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

async function stampede (context: BenchContext, peer: Peer, options: StampedeOptions, expectedSha256: string): Promise<StampedeResult> {
  const path = `/slow/c-${peer.name}-${context.runId}/slow.bin`
  // Client 0 keeps what it received, to prove the bytes; the others discard them.
  const keptFile = join(options.workDir, `stampede-${peer.name}.bin`)
  await rm(keptFile, { force: true })
  await settle()
  context.progress(`(c) ${options.clients} clients on a cold object through ${peer.name}`)
  const sampler = sampleRss(peer.pid)
  const cpuStart = await snapshotCpu(peer.pid)
  const startedAt = performance.now()
  const runs: Download[] = await Promise.all(Array.from({ length: options.clients }, async (_, i) =>
    await download(peer.url(path), i === 0 ? { output: keptFile } : {})
  ))
  const endedAt = Math.max(...runs.map((run) => run.exitedAt))
  const cpu = cpuBetween(cpuStart, await snapshotCpu(peer.pid))
  const rss = await sampler.stop()
  const failures = runs.map((run) => checkComplete(run, options.object.size)).filter((p): p is string => p !== undefined)
  const outcomes = new Map<CacheOutcome, number>()
  for (const run of runs) {
    const outcome = classifyCacheStatus(run.cacheStatus)
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
  }
  const intact = failures.length === 0 && await sha256File(keptFile) === expectedSha256
  await rm(keptFile, { force: true })
  const result: StampedeResult = {
    upstreamRequests: context.upstream.requestCount(path),
    lastDoneSeconds: (endedAt - startedAt) / 1000,
    failures,
    outcomes,
    peakRssBytes: Math.max(rss.peakTreeRssBytes, rss.peakHwmBytes),
    intact,
    proxyCpuSeconds: cpu.proxySeconds
  }
  const spread = runs.map((run) => (run.exitedAt - startedAt) / 1000)
  context.details.push(`(c) ${peer.name}: ${result.upstreamRequests} upstream request(s); clients done between ${formatSeconds(Math.min(...spread))} and ${formatSeconds(Math.max(...spread))}; Cache-Status ${[...outcomes].map(([k, v]) => `${k}×${v}`).join(', ')}; client 0 sha256 ${intact ? 'matches' : 'DOES NOT match'}; ${formatCpu(cpu, peer.name)}`)
  if (cpu.otherShare > MAX_OTHER_SHARE) context.notes.push(`(c) ${peer.name}: other processes used ${(100 * cpu.otherShare).toFixed(0)}% of the CPUs during the run`)
  context.details.push(`(d) ${peer.name}: peak RSS ${formatMB(result.peakRssBytes)} (${formatMB(rss.firstTreeRssBytes)} when the clients started; largest sampled tree VmRSS ${formatMB(rss.peakTreeRssBytes)}, VmHWM ${formatMB(rss.peakHwmBytes)}, ${rss.samples} samples)`)
  for (const failure of failures.slice(0, 5)) context.notes.push(`(c) ${peer.name}: ${failure}`)
  if (failures.length > 5) context.notes.push(`(c) ${peer.name}: ${failures.length - 5} more failed clients`)
  if (failures.length === 0 && !intact) context.notes.push(`(c) ${peer.name}: client 0 received ${formatBytes(options.object.size)} whose sha256 differs from the object's`)
  context.progress(`(c) ${peer.name}: ${result.upstreamRequests} upstream request(s), last client done at ${formatSeconds(result.lastDoneSeconds)}, peak RSS ${formatMB(result.peakRssBytes)}`)
  return result
}

export async function measureStampede (context: BenchContext, options: StampedeOptions): Promise<Row[]> {
  const expectedSha256 = await sha256File(options.object.file)
  const size = formatBytes(options.object.size)

  context.progress(`(c) one cold download of the ${size} throttled object, direct from the upstream`)
  await settle()
  const single = await download(directUrl(context, `/slow/c-direct-${context.runId}/slow.bin`), { caFile: context.caFile })
  const singleProblem = checkComplete(single, options.object.size)
  if (singleProblem !== undefined) throw new Error(`(c) the single direct download failed, so there is nothing to compare with: ${singleProblem}`)
  const singleSeconds = (single.exitedAt - single.spawnedAt) / 1000
  context.details.push(`(c) one cold download, direct: ${formatSeconds(singleSeconds)} (curl's own time ${formatSeconds(single.seconds)})`)
  context.progress(`(c) one cold download took ${formatSeconds(singleSeconds)}`)

  const dsm = await stampede(context, options.dsmirror, options, expectedSha256)
  const ngx = await stampede(context, options.nginx, options, expectedSha256)

  const dsmOk = dsm.failures.length === 0 && dsm.intact
  const ngxOk = ngx.failures.length === 0 && ngx.intact
  const timeRatio = dsm.lastDoneSeconds / singleSeconds
  const clients = `${options.clients} concurrent clients, cold ${size} object`
  const rows: Row[] = [
    {
      id: 'c-req',
      measurement: `${clients}: upstream requests`,
      dsmirror: dsmOk ? String(dsm.upstreamRequests) : `${dsm.upstreamRequests} (${dsm.failures.length} clients failed${dsm.intact ? '' : ', bytes wrong'})`,
      peer: `${ngx.upstreamRequests} (nginx, proxy_cache_lock)${ngxOk ? '' : ' — clients failed'}`,
      ratio: '—',
      target: 'exactly 1',
      met: dsmOk && dsm.upstreamRequests === 1 ? 'yes' : 'no'
    },
    {
      id: 'c-time',
      measurement: `${clients}: time until the last client is done`,
      dsmirror: formatSeconds(dsm.lastDoneSeconds),
      peer: `${formatSeconds(ngx.lastDoneSeconds)} (nginx, ${formatRatio(ngx.lastDoneSeconds / singleSeconds)}× one download)`,
      ratio: `${formatRatio(timeRatio)}× one download`,
      target: `<= ${STAMPEDE_TIME_TARGET_RATIO.toFixed(2)}× one cold download (${formatSeconds(singleSeconds)}, direct)`,
      met: dsmOk && timeRatio <= STAMPEDE_TIME_TARGET_RATIO ? 'yes' : 'no'
    }
  ]
  // Per GiB handed to the clients (clients × object): one upstream transfer fanned out.
  const served = options.clients * options.object.size
  rows.push(cpuRow('c-cpu', `${clients}: proxy CPU per GiB served (in-flight join, one upstream transfer)`,
    dsmOk ? secondsPerGiB(dsm.proxyCpuSeconds, served) : Number.NaN, ngxOk ? secondsPerGiB(ngx.proxyCpuSeconds, served) : Number.NaN, null))
  if (options.withRss) {
    rows.push({
      id: 'd',
      measurement: `peak RSS during (c), fresh process (${options.clients} clients)`,
      dsmirror: formatMB(dsm.peakRssBytes),
      peer: `${formatMB(ngx.peakRssBytes)} (nginx master + workers)`,
      ratio: '—',
      target: `<= ${formatMB(RSS_TARGET_BYTES)}`,
      met: dsm.peakRssBytes <= RSS_TARGET_BYTES ? 'yes' : 'no'
    })
  }
  return rows
}
