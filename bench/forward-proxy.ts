// `npm run bench:fp`: the forward proxy (issue 12 "Measure"), side by side in one run, dsmirror
// in this process (its upstream names are answered by a test resolver, so no DNS and no
// /etc/hosts entry; the upstream is a node:https server in this process too), curl as the client:
//   warm hit      the --size object, cached, through the proxy (CONNECT, TLS to a minted leaf)
//                 vs the mirror form over loopback HTTP: median throughput, ratio (--reps each, alternating)
//   CPU s / GiB   CPU seconds of this process per GiB of those warm hits, per form. Warm hits
//                 never reach the upstream, so this process's CPU is dsmirror's (plus curl spawning)
//   first byte    a new curl each time: CONNECT to a host never seen (the leaf minted then) vs
//                 to the warm host (leaf cached); a 1 KiB object already cached through the
//                 mirror form, so the upstream is not in it: p50 of --hosts samples
// The machine is shared (2 cores, other helpers' tests): the load average is recorded.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { makeBytes } from '../test/helpers/bytes.js'
import { issueTestLeaf } from '../test/helpers/pki.js'
import { startProxy } from '../test/helpers/proxy.js'
import { createTestResolver } from '../test/helpers/test-resolver.js'
import { startUpstream } from '../test/helpers/upstream.js'
import { checkComplete, download, type Download } from './curl.js'
import { describeMachine, gitRevision } from './machine.js'
import { median } from './report.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const RESULTS_FILE = join(ROOT, 'bench', 'results.md')
const MIB = 1024 ** 2
const GIB = 1024 ** 3
const SUFFIX = 'fp.bench.test'

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: String(256 * MIB) },
    reps: { type: 'string', default: '5' },
    hosts: { type: 'string', default: '20' },
    'no-write': { type: 'boolean', default: false }
  }
})
const SIZE = Number(args.size)
const REPS = Number(args.reps)
const HOSTS = Number(args.hosts)

function progress (message: string): void {
  process.stderr.write(`bench:fp: ${message}\n`)
}

function must (d: Download, size: number, hit: boolean): Download {
  const problem = checkComplete(d, size)
  if (problem !== undefined) throw new Error(problem)
  if (hit && !/; hit/.test(d.cacheStatus)) throw new Error(`${d.url}: not a hit (${d.cacheStatus})`)
  return d
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'dsmirror-bench-fp-'))
  const names = Array.from({ length: HOSTS + 1 }, (_, i) => `h${i}.${SUFFIX}`)
  const upstream = await startUpstream({ tls: await issueTestLeaf({ names }) })
  const resolver = createTestResolver(Object.fromEntries(names.map((n) => [n, ['127.0.0.1']])))
  const proxy = await startProxy({
    allowHosts: [`*.${SUFFIX}:${upstream.port}`],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'] }, cache: { maxSize: '8GiB' }, log: { level: 'warn' } },
    lookup: resolver.lookup
  })
  try {
    const fp = proxy.app.dsmirror.forwardProxy
    if (fp === null) throw new Error('forward proxy is off')
    const caFile = join(work, 'interception-ca.pem')
    await writeFile(caFile, fp.ca.certPem)
    upstream.set('/big.bin', { body: makeBytes(SIZE, 5) })
    upstream.set('/small.bin', { body: makeBytes(1024, 6) })
    const warmHost = `${names[0] ?? ''}:${upstream.port}`
    const viaProxy = async (authority: string, path: string, size: number, hit: boolean): Promise<Download> =>
      must(await download(`https://${authority}${path}`, { proxy: proxy.origin, caFile }), size, hit)
    const viaMirror = async (authority: string, path: string, size: number, hit: boolean): Promise<Download> =>
      must(await download(proxy.mirrorUrl(authority, path)), size, hit)
    const load0 = loadavg()

    progress(`filling the cache with ${(SIZE / MIB).toFixed(0)} MiB through the proxy`)
    await viaProxy(warmHost, '/big.bin', SIZE, false)
    await proxy.idle()
    await viaMirror(warmHost, '/big.bin', SIZE, true)

    const rates = { proxy: [] as number[], mirror: [] as number[] }
    const cpu = { proxy: 0, mirror: 0 }
    for (let rep = 0; rep < REPS; rep++) {
      for (const form of rep % 2 === 0 ? ['proxy', 'mirror'] as const : ['mirror', 'proxy'] as const) {
        const before = process.cpuUsage()
        const d = form === 'proxy' ? await viaProxy(warmHost, '/big.bin', SIZE, true) : await viaMirror(warmHost, '/big.bin', SIZE, true)
        const used = process.cpuUsage(before)
        cpu[form] += (used.user + used.system) / 1e6
        rates[form].push(d.bytes / d.seconds)
      }
      progress(`warm rep ${rep + 1}/${REPS}: proxy ${((rates.proxy.at(-1) ?? 0) / MIB).toFixed(0)} MiB/s, mirror ${((rates.mirror.at(-1) ?? 0) / MIB).toFixed(0)} MiB/s`)
    }

    progress(`first byte: ${HOSTS} cold hosts, ${HOSTS} warm`)
    const cold: number[] = []
    const warm: number[] = []
    await viaMirror(warmHost, '/small.bin', 1024, false)
    await viaProxy(warmHost, '/small.bin', 1024, true)
    const mintsBefore = fp.leaves.minted
    for (let i = 1; i <= HOSTS; i++) {
      const host = `${names[i] ?? ''}:${upstream.port}`
      await viaMirror(host, '/small.bin', 1024, false)
      await proxy.idle()
      cold.push((await viaProxy(host, '/small.bin', 1024, true)).firstByteSeconds * 1000)
      warm.push((await viaProxy(warmHost, '/small.bin', 1024, true)).firstByteSeconds * 1000)
    }
    const minted = fp.leaves.minted - mintsBefore
    if (minted !== HOSTS) throw new Error(`expected ${HOSTS} leaves minted for the cold hosts, saw ${minted}`)

    const p = median(rates.proxy); const m = median(rates.mirror)
    const gib = (REPS * SIZE) / GIB
    const rows = [
      ['warm hit throughput', `${(p / MIB).toFixed(0)} MiB/s`, `${(m / MIB).toFixed(0)} MiB/s`, `${(p / m).toFixed(2)}×`],
      ['CPU seconds per GiB (warm hits)', `${(cpu.proxy / gib).toFixed(2)} s`, `${(cpu.mirror / gib).toFixed(2)} s`, `${((cpu.proxy / gib) / (cpu.mirror / gib)).toFixed(2)}×`],
      ['first byte p50, new curl: new host (leaf minted) vs warm host', `${median(cold).toFixed(1)} ms`, `${median(warm).toFixed(1)} ms (warm host, through the proxy)`, `${(median(cold) / median(warm)).toFixed(2)}×`]
    ]
    const machine = await describeMachine()
    const load1 = loadavg()
    const section = [
      '',
      '### Forward proxy: warm hits through CONNECT vs the mirror form, cold vs warm CONNECT (issue 12)',
      '',
      `\`npm run bench:fp\` (bench/forward-proxy.ts), ${new Date().toISOString().slice(0, 10)}, git ${await gitRevision(ROOT)}; ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node};`,
      `curl, a ${(SIZE / MIB).toFixed(0)} MiB object, ${REPS} warm hits per form (alternating), ${HOSTS} cold and ${HOSTS} warm CONNECTs; dsmirror in the bench process.`,
      `The machine is shared with other helpers' test runs: load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${load1.map((l) => l.toFixed(1)).join(' ')} at the end, on ${machine.cpus} cores. One run; read the ratios, not the absolute figures.`,
      '',
      '| measure | through the proxy (HTTPS_PROXY) | mirror form (loopback HTTP) | ratio |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `- raw MiB/s: proxy ${rates.proxy.map((x) => (x / MIB).toFixed(0)).join(', ')}; mirror ${rates.mirror.map((x) => (x / MIB).toFixed(0)).join(', ')}`,
      `- first byte ms, cold hosts: ${cold.map((x) => x.toFixed(1)).join(', ')}; warm host: ${warm.map((x) => x.toFixed(1)).join(', ')}`,
      `- CPU seconds (this process) over ${gib.toFixed(2)} GiB per form: proxy ${cpu.proxy.toFixed(2)}, mirror ${cpu.mirror.toFixed(2)}`,
      ''
    ].join('\n')
    process.stdout.write(section)
    if (args['no-write'] !== true) await writeFile(RESULTS_FILE, (await readFile(RESULTS_FILE, 'utf8')).trimEnd() + '\n' + section)
  } finally {
    await proxy.close({ remove: true })
    await upstream.close()
    await rm(work, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:fp: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
