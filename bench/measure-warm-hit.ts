import { MAX_OTHER_SHARE, rotate, timedDownload, waitUntilCached } from './context.js'
import type { BenchContext, TimedDownload } from './context.js'
import { waitForQuiet } from './cpu.js'
import { checkComplete, download } from './curl.js'
import type { BenchObject } from './objects.js'
import { classifyCacheStatus } from './peer.js'
import type { Peer } from './peer.js'
import { cpuRow, formatBytes, formatRate, formatRatio, median, secondsPerGiB } from './report.js'
import type { Row } from './report.js'

// (a) A warm hit: the object is in both caches (filled first, commit awaited), then each peer
// serves it `reps` times to one curl over loopback, the peers taking turns. Median throughput.

export const WARM_HIT_TARGET_RATIO = 0.6
// Over TLS neither peer can use sendfile, so the issue asks for parity.
export const WARM_HIT_TLS_TARGET_RATIO = 1.0
const QUIET_BEFORE_MS = 20_000

export interface WarmHitOptions {
  dsmirror: Peer
  // dsmirror's HTTPS listener (tls.mode files, the same certificate as nginx's).
  dsmirrorHttps: Peer
  nginx: Peer
  nginxHttps: Peer
  object: BenchObject
  reps: number
}

interface Series {
  label: string
  peer: Peer
  path: string
  rates: number[]
  proxyCpuSeconds: number[]
  failures: number
}

async function fill (context: BenchContext, series: Series, object: BenchObject): Promise<void> {
  context.progress(`(a) filling ${series.label} with ${formatBytes(object.size)}`)
  const fillRun = await download(series.peer.url(series.path))
  const problem = checkComplete(fillRun, object.size)
  if (problem !== undefined) {
    context.notes.push(`(a) filling ${series.label} failed: ${problem}`)
    series.failures++
    return
  }
  const outcome = await waitUntilCached(series.peer, series.path)
  if (outcome !== 'hit') context.notes.push(`(a) ${series.label} still answers '${outcome}' after its fill; hits below may not be hits`)
}

function record (context: BenchContext, series: Series, timed: TimedDownload, size: number): void {
  const { run } = timed
  const problem = checkComplete(run, size)
  const outcome = classifyCacheStatus(run.cacheStatus)
  if (problem !== undefined) {
    series.failures++
    context.notes.push(`(a) ${series.label}: ${problem}`)
    return
  }
  if (outcome !== 'hit') {
    series.failures++
    context.notes.push(`(a) ${series.label}: expected a cache hit, got Cache-Status '${run.cacheStatus}'`)
    return
  }
  const rate = run.bytes / run.seconds
  series.rates.push(rate)
  series.proxyCpuSeconds.push(timed.cpu.proxySeconds)
  context.progress(`(a) ${series.label} hit: ${formatRate(rate)}`)
}

export async function measureWarmHit (context: BenchContext, options: WarmHitOptions): Promise<Row[]> {
  const { object } = options
  const series: Series[] = [
    { label: 'dsmirror HTTP', peer: options.dsmirror, path: `/big/a-dsmirror-${context.runId}/big.bin`, rates: [], proxyCpuSeconds: [], failures: 0 },
    { label: 'nginx HTTP', peer: options.nginx, path: `/big/a-nginx-${context.runId}/big.bin`, rates: [], proxyCpuSeconds: [], failures: 0 },
    // The HTTPS series read the same cache entries as the HTTP ones.
    { label: 'dsmirror HTTPS', peer: options.dsmirrorHttps, path: `/big/a-dsmirror-${context.runId}/big.bin`, rates: [], proxyCpuSeconds: [], failures: 0 },
    { label: 'nginx HTTPS', peer: options.nginxHttps, path: `/big/a-nginx-${context.runId}/big.bin`, rates: [], proxyCpuSeconds: [], failures: 0 }
  ]
  const [dsm, ngx, dsmTls, ngxTls] = series as [Series, Series, Series, Series]
  await fill(context, dsm, object)
  await fill(context, ngx, object)
  await waitForQuiet(MAX_OTHER_SHARE, QUIET_BEFORE_MS)
  for (let rep = 0; rep < options.reps; rep++) {
    // The peers take turns going first: on a VM whose memory costs change over time, a fixed
    // order would favour one of them.
    for (const s of rotate(series, rep)) {
      const timed = await timedDownload(context, `(a) ${s.label} hit ${rep + 1}`, () => ({ url: s.peer.url(s.path) }), s.peer)
      record(context, s, timed, object.size)
    }
  }
  for (const s of series) {
    context.details.push(`(a) ${s.label}: median ${formatRate(median(s.rates))}, median ${s.peer.name} CPU ${median(s.proxyCpuSeconds).toFixed(2)} s per ${formatBytes(object.size)}${s.failures > 0 ? ` (${s.failures} failed)` : ''}`)
  }
  const dsmRate = dsm.failures === 0 ? median(dsm.rates) : Number.NaN
  const ngxRate = median(ngx.rates)
  const ratio = dsmRate / ngxRate
  const dsmTlsRate = dsmTls.failures === 0 ? median(dsmTls.rates) : Number.NaN
  const ngxTlsRate = median(ngxTls.rates)
  const tlsRatio = dsmTlsRate / ngxTlsRate
  const size = formatBytes(object.size)
  const perGiB = (s: Series): number => s.failures === 0 ? secondsPerGiB(median(s.proxyCpuSeconds), object.size) : Number.NaN
  return [
    {
      id: 'a',
      measurement: `warm hit, ${size}, loopback HTTP: throughput (median of ${options.reps})`,
      dsmirror: dsm.failures === 0 ? formatRate(dsmRate) : `failed (${dsm.failures} of ${options.reps + 1} runs)`,
      peer: `${formatRate(ngxRate)} (nginx, sendfile)`,
      ratio: formatRatio(ratio),
      target: `>= ${WARM_HIT_TARGET_RATIO.toFixed(2)}`,
      met: Number.isFinite(ratio) ? (ratio >= WARM_HIT_TARGET_RATIO ? 'yes' : 'no') : 'failed'
    },
    {
      id: 'a-tls',
      measurement: `warm hit, ${size}, loopback HTTPS: throughput (median of ${options.reps})`,
      dsmirror: dsmTls.failures === 0 ? formatRate(dsmTlsRate) : `failed (${dsmTls.failures} of ${options.reps} runs)`,
      peer: `${formatRate(ngxTlsRate)} (nginx, TLS)`,
      ratio: formatRatio(tlsRatio),
      target: `>= ${WARM_HIT_TLS_TARGET_RATIO.toFixed(2)}`,
      met: Number.isFinite(tlsRatio) ? (tlsRatio >= WARM_HIT_TLS_TARGET_RATIO ? 'yes' : 'no') : 'failed'
    },
    // Issue 14: CPU per GiB beside the throughput, proxy process tree only (bench/cpu.ts).
    cpuRow('a-cpu', `warm hit, ${size}, loopback HTTP: proxy CPU per GiB (median of ${options.reps})`, perGiB(dsm), perGiB(ngx), null),
    cpuRow('a-tls-cpu', `warm hit, ${size}, loopback HTTPS: proxy CPU per GiB (median of ${options.reps})`, perGiB(dsmTls), perGiB(ngxTls), null)
  ]
}
