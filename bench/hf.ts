// `npm run bench:hf`: the Hugging Face mode (issue 11 "Measure"), side by side in one run.
// huggingface_hub 1.33.0's snapshot_download of a repo of ~20 files / 1 GiB (16 small regular
// files + 4 LFS shards) through dsmirror (HF_ENDPOINT=http://127.0.0.1:P/hf, Xet on at the Hub,
// hf_xet installed) against the same client straight from the stand-in Hub (Xet off there: a
// direct run with Xet on cannot finish, the CAS is unreachable). Rows:
//   cold ratio   dsmirror with an empty cache / direct (median of --reps)
//   warm ratio   dsmirror with the repo cached / direct (fresh client cache each time)
//   8 clients    8 concurrent cold clients on an empty dsmirror: bytes the Hub sent (vs the repo
//                size) and when the last one finished (vs one cold client alone)
//   HEAD p50     a warm `HEAD /hf/{repo}/resolve/main/config.json` (answered locally), vs the
//                same HEAD straight to the stand-in
// Times are the seconds inside snapshot_download (hf_client.py `elapsed`), not interpreter start.
// The stand-in Hub runs in this process and keeps the repo in memory; dsmirror runs as the
// built CLI (`npm run build` first) in its own process. Results are appended to bench/results.md.
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { stringify } from 'yaml'
import { HUB1_PYTHON, hfClient, hfClientsMissing } from '../test/helpers/hf-e2e.js'
import { makeBytes } from '../test/helpers/bytes.js'
import { startStandInHub, type HubFileSpec, type StandInHub } from '../test/helpers/stand-in-hub.js'
import { buildDsmirror } from './dsmirror.js'
import { installCleanupHooks, spawnTracked, stopAllChildren } from './children.js'
import { waitForHttp } from './http-wait.js'
import { describeMachine, gitRevision } from './machine.js'
import { pickFreePorts } from './ports.js'
import { median } from './report.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const WORK = join(ROOT, 'bench', 'work', 'hf')
const RESULTS_FILE = join(ROOT, 'bench', 'results.md')
const REPO = 'acme/bench-model'
const SMALL_FILES = 16
const SHARDS = 4
const GIB = 1024 ** 3

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: String(GIB) },
    reps: { type: 'string', default: '3' },
    clients: { type: 'string', default: '8' },
    heads: { type: 'string', default: '300' },
    'no-write': { type: 'boolean', default: false }
  }
})
const TOTAL_BYTES = Number(args.size)
const REPS = Number(args.reps)
const CLIENTS = Number(args.clients)
const HEADS = Number(args.heads)

function formatBytes (bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`
}

function progress (message: string): void {
  process.stderr.write(`bench:hf: ${message}\n`)
}

function benchRepoFiles (): HubFileSpec[] {
  const files: HubFileSpec[] = [{ path: 'config.json', body: JSON.stringify({ model_type: 'bert', hidden_size: 8 }) + '\n' }]
  for (let i = 1; i < SMALL_FILES; i++) files.push({ path: `extra/file-${i}.json`, body: JSON.stringify({ i, pad: 'x'.repeat(2000 + i) }) })
  const shard = Math.floor(TOTAL_BYTES / SHARDS)
  for (let i = 0; i < SHARDS; i++) {
    files.push({ path: `model-0000${i + 1}-of-0000${SHARDS}.safetensors`, body: makeBytes(shard, 100 + i), lfs: true })
  }
  return files
}

interface Mirror { endpoint: string, stop: () => Promise<void> }

let mirrors = 0
async function startMirror (hub: StandInHub): Promise<Mirror> {
  const n = ++mirrors
  const dataDir = join(WORK, `dsmirror-${n}`)
  await rm(dataDir, { recursive: true, force: true })
  await mkdir(dataDir, { recursive: true })
  const [port = 0] = await pickFreePorts(1)
  const configFile = join(WORK, `dsmirror-${n}.yaml`)
  const logFile = join(WORK, `dsmirror-${n}.log`)
  await writeFile(configFile, stringify({
    dataDir,
    listen: { http: { host: '127.0.0.1', port }, https: false },
    allowHosts: [hub.cdnHost],
    upstream: { proxy: 'none', allowAddresses: ['127.0.0.0/8'] },
    huggingface: { endpoint: hub.origin },
    cache: { maxSize: '8GiB' },
    log: { level: 'warn' }
  }))
  const fd = openSync(logFile, 'a')
  const child = spawnTracked('dsmirror', process.execPath, [join(ROOT, 'bin/dsmirror.js'), 'serve', '--config', configFile], {
    cwd: ROOT,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, HTTPS_PROXY: '', HTTP_PROXY: '', https_proxy: '', http_proxy: '', NODE_ENV: 'production' }
  })
  closeSync(fd)
  await waitForHttp(`http://127.0.0.1:${port}/_/healthz`, child, logFile)
  return {
    endpoint: `http://127.0.0.1:${port}/hf`,
    stop: async () => {
      await child.stop('SIGTERM')
      await rm(dataDir, { recursive: true, force: true })
    }
  }
}

/** One snapshot_download into a fresh HF_HOME (removed after); seconds inside the call. */
async function snapshot (endpoint: string): Promise<number> {
  const home = await mkdtemp(join(WORK, 'home-'))
  try {
    const r = await hfClient(HUB1_PYTHON, ['snapshot_download', REPO], { endpoint, hfHome: home })
    const elapsed = r.result?.elapsed
    if (r.code !== 0 || typeof elapsed !== 'number') throw new Error(`snapshot_download from ${endpoint} failed (exit ${r.code}):\n${r.stderr.slice(-2000)}`)
    return elapsed
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}

async function headP50 (url: string): Promise<{ p50: number, p99: number }> {
  const ms: number[] = []
  for (let i = 0; i < HEADS; i++) {
    const start = process.hrtime.bigint()
    const res = await request(url, { method: 'HEAD' })
    await res.body.dump()
    ms.push(Number(process.hrtime.bigint() - start) / 1e6)
    if (res.statusCode >= 400) throw new Error(`HEAD ${url}: ${res.statusCode}`)
  }
  ms.sort((a, b) => a - b)
  return { p50: median(ms), p99: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))] ?? 0 }
}

async function main (): Promise<void> {
  installCleanupHooks()
  const missing = await hfClientsMissing()
  if (missing.length > 0) throw new Error(`missing: ${missing.join('; ')}`)
  await mkdir(WORK, { recursive: true })
  progress('npm run build')
  await buildDsmirror(ROOT, join(WORK, 'build.log'))
  const load0 = loadavg()
  const files = benchRepoFiles()
  const repoBytes = files.reduce((n, f) => n + (typeof f.body === 'string' ? Buffer.byteLength(f.body) : f.body.length), 0)
  // The Hub's own page size (about 1000, hf-protocol.md §2.6), not the tests' 2: paging is not what is measured.
  const hub = await startStandInHub({ repos: [{ id: REPO, files }], pageSize: 1000 })
  const notes: string[] = []
  try {
    // Cold and warm: each repetition a fresh dsmirror (cold), then the same one again (warm); the
    // direct run goes first in odd repetitions and second in even ones.
    const cold: number[] = []; const warm: number[] = []; const direct: number[] = []
    for (let rep = 0; rep < REPS; rep++) {
      const runDirect = async (): Promise<void> => { hub.xet = false; direct.push(await snapshot(hub.origin)); hub.xet = true }
      if (rep % 2 === 0) await runDirect()
      const mirror = await startMirror(hub)
      try {
        const before = hub.bytesOut
        cold.push(await snapshot(mirror.endpoint))
        if (rep === 0) notes.push(`cold run: the Hub sent ${formatBytes(hub.bytesOut - before)} for a ${formatBytes(repoBytes)} repo`)
        const beforeWarm = hub.bytesOut
        warm.push(await snapshot(mirror.endpoint))
        if (rep === 0) notes.push(`warm run: the Hub sent ${formatBytes(hub.bytesOut - beforeWarm)}`)
      } finally {
        await mirror.stop()
      }
      if (rep % 2 === 1) await runDirect()
      progress(`rep ${rep + 1}/${REPS}: direct ${direct.at(-1)?.toFixed(2)} s, cold ${cold.at(-1)?.toFixed(2)} s, warm ${warm.at(-1)?.toFixed(2)} s`)
    }

    progress(`${CLIENTS} concurrent cold clients`)
    const mirror = await startMirror(hub)
    let concurrent: { lastDone: number, upstream: number, each: number[] }
    let heads: { mirror: { p50: number, p99: number }, direct: { p50: number, p99: number } }
    try {
      const before = hub.bytesOut
      const start = Date.now()
      const each = await Promise.all(Array.from({ length: CLIENTS }, async () => { await snapshot(mirror.endpoint); return (Date.now() - start) / 1000 }))
      concurrent = { lastDone: Math.max(...each), upstream: hub.bytesOut - before, each }
      progress(`warm resolve HEAD x${HEADS}`)
      heads = {
        mirror: await headP50(`${mirror.endpoint}/${REPO}/resolve/main/config.json`),
        direct: await headP50(`${hub.origin}/${REPO}/resolve/main/config.json`)
      }
    } finally {
      await mirror.stop()
    }
    hub.xet = false
    progress(`${CLIENTS} concurrent clients straight from the stand-in`)
    const startDirect = Date.now()
    const directEach = await Promise.all(Array.from({ length: CLIENTS }, async () => { await snapshot(hub.origin); return (Date.now() - startDirect) / 1000 }))

    const d = median(direct); const c = median(cold); const w = median(warm)
    const rows = [
      ['cold snapshot_download', `${c.toFixed(2)} s`, `${d.toFixed(2)} s`, `${(c / d).toFixed(2)}×`],
      ['warm snapshot_download', `${w.toFixed(2)} s`, `${d.toFixed(2)} s`, `${(w / d).toFixed(2)}×`],
      [`${CLIENTS} concurrent cold clients: last done`, `${concurrent.lastDone.toFixed(2)} s (${(concurrent.lastDone / c).toFixed(2)}× one cold client)`, `${Math.max(...directEach).toFixed(2)} s`, `${(concurrent.lastDone / Math.max(...directEach)).toFixed(2)}×`],
      [`${CLIENTS} concurrent cold clients: bytes from the Hub`, `${formatBytes(concurrent.upstream)} (${(concurrent.upstream / repoBytes).toFixed(2)}× the repo)`, `${formatBytes(repoBytes * CLIENTS)} (${CLIENTS}×)`, ''],
      ['warm resolve HEAD (main) p50 / p99', `${heads.mirror.p50.toFixed(2)} / ${heads.mirror.p99.toFixed(2)} ms`, `${heads.direct.p50.toFixed(2)} / ${heads.direct.p99.toFixed(2)} ms`, `${(heads.mirror.p50 / heads.direct.p50).toFixed(2)}×`]
    ]
    const machine = await describeMachine()
    const load1 = loadavg()
    const table = ['| measure | through dsmirror | straight from the stand-in | ratio |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
    const section = [
      '',
      '### Hugging Face mode: snapshot_download through dsmirror vs straight from the stand-in Hub (issue 11)',
      '',
      `\`npm run bench:hf\` (bench/hf.ts), ${new Date().toISOString().slice(0, 10)}, git ${await gitRevision(ROOT)}; ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node};`,
      `huggingface_hub 1.33.0 snapshot_download, ${files.length} files / ${formatBytes(repoBytes)} (${SHARDS} LFS shards), median of ${REPS}; ${CLIENTS} concurrent clients; ${HEADS} HEADs.`,
      `The machine is shared with other helpers' test runs: load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${load1.map((l) => l.toFixed(1)).join(' ')} at the end, on ${machine.cpus} cores. The seconds include that queueing; the ratios and byte counts are the figures to read.`,
      '',
      table,
      '',
      ...notes.map((n) => `- ${n}`),
      `- raw seconds: direct ${direct.map((x) => x.toFixed(2)).join(', ')}; cold ${cold.map((x) => x.toFixed(2)).join(', ')}; warm ${warm.map((x) => x.toFixed(2)).join(', ')}`,
      `- ${CLIENTS} concurrent through dsmirror, done at: ${concurrent.each.map((x) => x.toFixed(2)).join(', ')} s; straight: ${directEach.map((x) => x.toFixed(2)).join(', ')} s`,
      ''
    ].join('\n')
    process.stdout.write(section)
    if (args['no-write'] !== true) await writeFile(RESULTS_FILE, (await readFile(RESULTS_FILE, 'utf8')).trimEnd() + '\n' + section)
  } finally {
    await hub.close()
    await stopAllChildren()
    await rm(WORK, { recursive: true, force: true })
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:hf: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  await stopAllChildren()
  process.exitCode = 1
})
