// `npm run bench:s3`: the S3 store across replicas (issue 19 "Measure"), one run, one table.
// A Ceph RGW (test/s3/rgw.sh, memstore: objects live in the OSD's RAM, about twice over), the
// bench's HTTPS upstream (bench/upstream.ts, in this process; /slow/ is throttled), nginx as the
// peer (bench/nginx.ts) and N dsmirror replicas as separate CLI processes (store.kind s3, cluster
// single flight, each with its own data dir, HTTP and peer listener on 127.0.0.1). curl is the client.
// Rows:
//   1. a hit of the --size object: from replica 1's disk (L1), from S3 (replica 2, first request of
//      a key committed by replica 1, so its disk is empty for it), and nginx's warm hit (sendfile):
//      median throughput of --reps each, and the proxy's CPU seconds per GiB;
//   2. aggregate throughput of --streams concurrent curls of the warm object spread over 1, 2, 3
//      replicas (each replica has it in L1);
//   3. --clients curls at once, spread over 3 replicas, on one cold throttled object: upstream
//      requests (must be 1), last client done against one download of it alone (straight from
//      the upstream, and through one replica), client 0's copy checked by sha256.
// Every child is stopped on exit, an error, or SIGINT/SIGTERM/SIGHUP; RGW is stopped by rgw.sh.
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, closeSync, openSync } from 'node:fs'
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { makeS3Client } from '../server/cache/s3/s3-client.js'
import { parseExports } from '../test/helpers/rgw.js'
import { installCleanupHooks, runCommand, spawnTracked, stopAllChildren, type TrackedChild } from './children.js'
import { cpuBetween, snapshotCpu } from './cpu.js'
import { checkComplete, curlVersion, download, type Download } from './curl.js'
import { buildDsmirror } from './dsmirror.js'
import { waitForHttp } from './http-wait.js'
import { describeMachine, gitRevision } from './machine.js'
import { nginxVersion, startNginx } from './nginx.js'
import { ensureObject } from './objects.js'
import { createBenchPki } from './pki.js'
import { pickFreePorts } from './ports.js'
import { formatRate, median } from './report.js'
import { ensureTool } from './tools.js'
import { startBenchUpstream, type BenchUpstream } from './upstream.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const WORK = join(ROOT, 'bench', 'work', 's3')
const RGW_DIR = join(WORK, 'rgw')
const RGW_SH = join(ROOT, 'test', 's3', 'rgw.sh')
const RESULTS_FILE = join(ROOT, 'bench', 'results.md')
const MIB = 1024 ** 2
const GIB = 1024 ** 3
const TOKEN = 'bench-s3-cluster-token'
// One prefix for every replica of the run: they share the bucket's keys, leases and index.
const PREFIX = `bench-${process.pid}-${Date.now()}/`
// Objects stay small: memstore keeps every object in the OSD's RAM (issue 19 research), and the
// bucket holds 1 + --reps copies of --size plus two of the stampede object.
const RGW_MEMSTORE_BYTES = 4 * GIB
const REPLICAS = 3
/** The range a dsmirror S3 read asks for at a time (S3_READ_RANGE_BYTES in server/cache/s3/s3-store.ts). */
const DSMIRROR_READ_RANGE_BYTES = 8 * MIB
const WAIT_MS = 60_000
const POLL_MS = 100

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: String(128 * MIB) },
    reps: { type: 'string', default: '3' },
    clients: { type: 'string', default: '24' },
    streams: { type: 'string', default: '6' },
    'slow-size': { type: 'string', default: String(32 * MIB) },
    'slow-seconds': { type: 'string', default: '8' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})
if (args.help === true) {
  process.stdout.write('npm run bench:s3 -- [--size BYTES (128MiB)] [--reps N (3)] [--clients N (24)] [--streams N (6)] [--slow-size BYTES (32MiB)] [--slow-seconds S (8)] [--no-write]\n')
  process.exit(0)
}
const SIZE = Number(args.size)
const REPS = Number(args.reps)
const CLIENTS = Number(args.clients)
const STREAMS = Number(args.streams)
const SLOW_SIZE = Number(args['slow-size'])
const SLOW_SECONDS = Number(args['slow-seconds'])

function progress (message: string): void {
  process.stderr.write(`bench:s3: ${message}\n`)
}

async function waitFor<T> (what: string, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + WAIT_MS
  while (Date.now() < deadline) {
    const value = await check()
    if (value !== null) return value
    await sleep(POLL_MS)
  }
  throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)
}

function must (d: Download, size: number): Download {
  const problem = checkComplete(d, size)
  if (problem !== undefined) throw new Error(problem)
  return d
}

interface Replica {
  n: number
  child: TrackedChild
  origin: string
  logFile: string
  url: (path: string) => string
  metric: (name: string) => Promise<number>
}

/** Process groups of the replicas and nginx, for the watchdog (one pid a line). */
const PIDS_FILE = join(WORK, 'children.pids')
// $1 bench pid, $2 rgw.sh, $3 RGW dir, $4 pid file, $5 work dir. Only processes whose command line
// names this run's work dir are signalled (a pid may have been reused since).
const WATCHDOG = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
ours() { tr '\\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "$2"; }
if [ -f "$4" ]; then
  while read -r pid; do ours "$pid" "$5" && kill -TERM -- "-$pid" 2>/dev/null; done < "$4"
fi
bash "$2" stop "$3"
sleep 10
if [ -f "$4" ]; then
  while read -r pid; do ours "$pid" "$5" && kill -KILL -- "-$pid" 2>/dev/null; done < "$4"
fi`

let rgwStarted = false
function stopRgwSync (): void {
  if (!rgwStarted) return
  rgwStarted = false
  try {
    execFileSync('bash', [RGW_SH, 'stop', RGW_DIR], { stdio: 'ignore', timeout: 60_000 })
  } catch {
    // Best effort on the way out; rgw.sh stop kills by PID file.
  }
}

async function startRgw (): Promise<Record<string, string>> {
  const [rgwPort = 0, monV2 = 0, monV1 = 0] = await pickFreePorts(3)
  const started = Date.now()
  rgwStarted = true
  // RGW's daemons detach from this process, and under `npm run` tsx SIGKILLs this process when it
  // does not acknowledge a relayed SIGINT within ~60 ms (busy event loop), so no exit hook here
  // can be relied on. A watchdog in its own session stops RGW once this process is gone, however
  // it ended (after a clean stop it finds no PID files and does nothing), and the replicas and nginx.
  spawn('bash', ['-c', WATCHDOG, 'bench-s3-watchdog', String(process.pid), RGW_SH, RGW_DIR, PIDS_FILE, WORK], { detached: true, stdio: 'ignore' }).unref()
  const r = await runCommand('rgw.sh', 'bash', [RGW_SH, 'start', RGW_DIR], {
    env: { ...process.env, RGW_PORT: String(rgwPort), MON_V2_PORT: String(monV2), MON_V1_PORT: String(monV1), MEMSTORE_BYTES: String(RGW_MEMSTORE_BYTES) }
  })
  if (r.code !== 0) throw new Error(`test/s3/rgw.sh start failed (exit ${String(r.code)}):\n${r.stderr.slice(-3000)}`)
  progress(`RGW up in ${((Date.now() - started) / 1000).toFixed(1)} s on 127.0.0.1:${rgwPort}`)
  return parseExports(r.stdout)
}

async function startReplica (n: number, upstream: BenchUpstream, caFile: string, rgw: Record<string, string>): Promise<Replica> {
  const dataDir = join(WORK, `replica-${n}`)
  await rm(dataDir, { recursive: true, force: true })
  await mkdir(dataDir, { recursive: true })
  // Ports chosen here (not port 0) so the log can stay at warn: nothing has to be read from it.
  const [port = 0, peerPort = 0] = await pickFreePorts(2)
  const configFile = join(WORK, `replica-${n}.json`)
  const logFile = join(WORK, `replica-${n}.log`)
  await writeFile(configFile, JSON.stringify({
    dataDir,
    listen: { http: { host: '127.0.0.1', port }, https: false },
    allowHosts: [upstream.origin],
    upstream: { caFiles: [caFile], proxy: 'none' },
    cache: { maxSize: '4GiB' },
    log: { level: 'warn' },
    store: { kind: 's3', s3: { endpoint: rgw.DSMIRROR_STORE_S3_ENDPOINT, bucket: rgw.DSMIRROR_STORE_S3_BUCKET, region: rgw.DSMIRROR_STORE_S3_REGION, prefix: PREFIX } },
    cluster: { peer: { host: '127.0.0.1', port: peerPort }, token: TOKEN, singleFlight: true }
  }))
  const fd = openSync(logFile, 'a')
  const env: NodeJS.ProcessEnv = { ...process.env, HTTPS_PROXY: '', HTTP_PROXY: '', https_proxy: '', http_proxy: '', NODE_ENV: 'production', AWS_ACCESS_KEY_ID: rgw.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.AWS_SECRET_ACCESS_KEY }
  // Only through the config file: a replica must not also read DSMIRROR_STORE_* from the shell.
  for (const name of Object.keys(env)) if (name.startsWith('DSMIRROR_')) env[name] = undefined
  const child = spawnTracked(`dsmirror-${n}`, process.execPath, [join(ROOT, 'bin/dsmirror.js'), 'serve', '--config', configFile], { cwd: ROOT, stdio: ['ignore', fd, fd], env })
  closeSync(fd)
  await appendFile(PIDS_FILE, `${child.pid}\n`)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/_/healthz`, child, logFile, { timeoutMs: WAIT_MS })
  return {
    n,
    child,
    origin,
    logFile,
    url: (path) => `${origin}/${upstream.origin}${path}`,
    metric: async (name) => {
      const text = await (await fetch(`${origin}/_/metrics`)).text()
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
    }
  }
}

async function sha256File (file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * What RGW itself delivers to one reader in the bench process, with the client dsmirror builds
 * (makeS3Client): a whole-object GetObject, and the same bytes as sequential ranged GETs of
 * dsmirror's read size. Seconds per read; the bytes are counted and dropped.
 */
async function rgwStraight (rgw: Record<string, string>, file: string, size: number, reps: number): Promise<{ whole: number[], ranged: number[] }> {
  process.env.AWS_ACCESS_KEY_ID = rgw.AWS_ACCESS_KEY_ID
  process.env.AWS_SECRET_ACCESS_KEY = rgw.AWS_SECRET_ACCESS_KEY
  const bucket = rgw.DSMIRROR_STORE_S3_BUCKET ?? ''
  const client = makeS3Client({ endpoint: rgw.DSMIRROR_STORE_S3_ENDPOINT ?? null, region: rgw.DSMIRROR_STORE_S3_REGION ?? 'us-east-1', bucket, prefix: PREFIX, forcePathStyle: null })
  const key = `${PREFIX}bench-straight.bin`
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file), ContentLength: size }))
    const get = async (range?: string): Promise<number> => {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...range === undefined ? {} : { Range: range } }))
      let n = 0
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) n += chunk.length
      return n
    }
    const whole: number[] = []; const ranged: number[] = []
    for (let rep = 0; rep < reps; rep++) {
      let start = performance.now()
      if (await get() !== size) throw new Error('RGW GetObject: short body')
      whole.push((performance.now() - start) / 1000)
      start = performance.now()
      let n = 0
      for (let at = 0; at < size; at += DSMIRROR_READ_RANGE_BYTES) n += await get(`bytes=${at}-${Math.min(size, at + DSMIRROR_READ_RANGE_BYTES) - 1}`)
      if (n !== size) throw new Error('RGW ranged GETs: short body')
      ranged.push((performance.now() - start) / 1000)
    }
    return { whole, ranged }
  } finally {
    client.destroy()
  }
}

interface Timed { d: Download, cpuSeconds: number }

/** One curl of a whole object, with the CPU seconds of `pid`'s process tree meanwhile. */
async function timed (url: string, size: number, pid: number): Promise<Timed> {
  await runCommand('sync', 'sync', [])
  const before = await snapshotCpu(pid)
  const d = must(await download(url), size)
  const usage = cpuBetween(before, await snapshotCpu(pid))
  return { d, cpuSeconds: usage.proxySeconds }
}

async function main (): Promise<void> {
  installCleanupHooks()
  // installCleanupHooks exits on a signal after stopping the children; RGW's daemons are not
  // children of this process, so rgw.sh stops them on the way out.
  process.on('exit', stopRgwSync)
  await rm(WORK, { recursive: true, force: true })
  await mkdir(WORK, { recursive: true })
  const nginxBinary = await ensureTool('nginx', ['nginx-light', 'nginx'])
  await ensureTool('curl', ['curl'])
  progress('npm run build')
  await buildDsmirror(ROOT, join(WORK, 'build.log'))
  const load0 = loadavg()
  const startedAt = Date.now()
  const notes: string[] = []
  const raw: string[] = []

  const pki = await createBenchPki(join(WORK, 'pki'))
  const big = await ensureObject(join(ROOT, 'bench', 'work', 'objects', 's3-big.bin'), 's3-big', SIZE)
  const slow = await ensureObject(join(ROOT, 'bench', 'work', 'objects', 's3-slow.bin'), 's3-slow', SLOW_SIZE)
  const upstream = await startBenchUpstream({ pki, big, slow, slowBytesPerSec: SLOW_SIZE / SLOW_SECONDS })
  try {
    const rgwStart = Date.now()
    const rgw = await startRgw()
    const rgwSeconds = (Date.now() - rgwStart) / 1000
    const [httpPort = 0, httpsPort = 0] = await pickFreePorts(2)
    const nginx = await startNginx(nginxBinary, { prefix: join(WORK, 'nginx'), httpPort, httpsPort, upstreamPort: upstream.port, pki, maxCacheSize: '4g' })
    await appendFile(PIDS_FILE, `${nginx.child.pid}\n`)
    const replicas: Replica[] = []
    for (let n = 1; n <= REPLICAS; n++) replicas.push(await startReplica(n, upstream, pki.caFile, rgw))
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica]

    // ---- 1. warm L1 vs S3 vs nginx ----
    const uploaded = async (bytes: number): Promise<void> => {
      await waitFor(`replica 1 to upload ${bytes} bytes to RGW`, async () => (await r1.metric('dsmirror_store_uploaded_bytes_total')) >= bytes ? true : null)
    }
    progress(`filling: the warm key and ${REPS} keys for S3 hits, ${(SIZE / MIB).toFixed(0)} MiB each, through replica 1`)
    const warmPath = '/big/warm/big.bin'
    must(await download(r1.url(warmPath)), SIZE)
    const s3Paths = Array.from({ length: REPS }, (_, i) => `/big/s3-${i}/big.bin`)
    for (const path of s3Paths) must(await download(r1.url(path)), SIZE)
    await uploaded((REPS + 1) * SIZE)
    const nginxUrl = `http://127.0.0.1:${httpPort}${warmPath}`
    must(await download(nginxUrl), SIZE)
    await waitFor('nginx to answer the warm object from its cache', async () => /HIT/.test(must(await download(nginxUrl, { method: 'HEAD' }), 0).cacheStatus) ? true : null)

    const l1: Timed[] = []; const s3: Timed[] = []; const ngx: Timed[] = []
    for (let rep = 0; rep < REPS; rep++) {
      const runs: Array<() => Promise<void>> = [
        async () => {
          const hits = await r1.metric('dsmirror_store_l1_hits_total')
          l1.push(await timed(r1.url(warmPath), SIZE, r1.child.pid))
          if (await r1.metric('dsmirror_store_l1_hits_total') !== hits + 1) notes.push(`L1 rep ${rep}: dsmirror_store_l1_hits_total did not move by 1`)
        },
        async () => {
          const hits = await r2.metric('dsmirror_store_s3_hits_total')
          const path = s3Paths[rep] ?? ''
          s3.push(await timed(r2.url(path), SIZE, r2.child.pid))
          if (await r2.metric('dsmirror_store_s3_hits_total') !== hits + 1) notes.push(`S3 rep ${rep}: dsmirror_store_s3_hits_total did not move by 1`)
          if (upstream.requestCount(path) !== 1) notes.push(`S3 rep ${rep}: ${upstream.requestCount(path)} upstream requests for ${path} (expected the fill's 1)`)
          // Replica 2 copies the body into its L1 in the background after an S3 hit (docs/s3.md
          // "Failure modes"); 2 s lets that copy finish before the next timed transfer.
          await sleep(2000)
        },
        async () => { ngx.push(await timed(nginxUrl, SIZE, nginx.child.pid)) }
      ]
      for (let i = 0; i < runs.length; i++) await (runs[(i + rep) % runs.length] as () => Promise<void>)()
      progress(`rep ${rep + 1}/${REPS}: L1 ${formatRate(SIZE / (l1.at(-1)?.d.seconds ?? 1))}, S3 ${formatRate(SIZE / (s3.at(-1)?.d.seconds ?? 1))}, nginx ${formatRate(SIZE / (ngx.at(-1)?.d.seconds ?? 1))}`)
    }
    const rate = (ts: Timed[]): number => median(ts.map((t) => SIZE / t.d.seconds))
    const cpuPerGiB = (ts: Timed[]): number => median(ts.map((t) => t.cpuSeconds / (SIZE / GIB)))
    for (const [name, ts] of [['L1', l1], ['S3', s3], ['nginx', ngx]] as const) {
      raw.push(`${name} hits: ${ts.map((t) => `${formatRate(SIZE / t.d.seconds)} (${t.d.seconds.toFixed(3)} s, proxy CPU ${t.cpuSeconds.toFixed(2)} s, ${t.d.cacheStatus})`).join('; ')}`)
    }

    progress('RGW straight: GetObject and 8 MiB ranged GETs from the bench process')
    const straight = await rgwStraight(rgw, big.file, SIZE, REPS)
    raw.push(`RGW straight: whole GetObject ${straight.whole.map((x) => `${x.toFixed(3)} s`).join(', ')}; sequential 8 MiB ranged GETs ${straight.ranged.map((x) => `${x.toFixed(3)} s`).join(', ')}`)

    // ---- 2. aggregate throughput over 1, 2, 3 replicas ----
    progress('warming the object into every replica\'s L1')
    for (const r of [r2, r3]) {
      await waitFor(`replica ${r.n} to serve the warm key from its L1`, async () => {
        const hits = await r.metric('dsmirror_store_l1_hits_total')
        must(await download(r.url(warmPath)), SIZE)
        if ((await r.metric('dsmirror_store_l1_hits_total')) > hits) return true
        await sleep(500)
        return null
      })
    }
    const aggregate = new Map<number, number[]>()
    for (let rep = 0; rep < REPS; rep++) {
      for (const n of rep % 2 === 0 ? [1, 2, 3] : [3, 2, 1]) {
        await runCommand('sync', 'sync', [])
        const all = await Promise.all(Array.from({ length: STREAMS }, async (_, i) => must(await download((replicas[i % n] as Replica).url(warmPath)), SIZE)))
        const seconds = (Math.max(...all.map((d) => d.exitedAt)) - Math.min(...all.map((d) => d.spawnedAt))) / 1000
        aggregate.set(n, [...aggregate.get(n) ?? [], (STREAMS * SIZE) / seconds])
      }
      progress(`aggregate rep ${rep + 1}/${REPS}: ${[1, 2, 3].map((n) => `${n}: ${formatRate(aggregate.get(n)?.at(-1) ?? 0)}`).join(', ')}`)
    }
    raw.push(`aggregate (${STREAMS} curls, spawn of the first to exit of the last): ${[1, 2, 3].map((n) => `${n} replica(s) ${(aggregate.get(n) ?? []).map(formatRate).join(', ')}`).join('; ')}`)

    // ---- 3. stampede on a cold throttled object across 3 replicas ----
    progress(`one cold download of the throttled object alone (${(SLOW_SIZE / MIB).toFixed(0)} MiB in ~${SLOW_SECONDS} s): straight, then through replica 1`)
    const alone = must(await download(`https://127.0.0.1:${upstream.port}/slow/alone/slow.bin`, { caFile: pki.caFile }), SLOW_SIZE)
    const aloneSeconds = (alone.exitedAt - alone.spawnedAt) / 1000
    const aloneReplica = must(await download(r1.url('/slow/alone-replica/slow.bin')), SLOW_SIZE)
    const aloneReplicaSeconds = (aloneReplica.exitedAt - aloneReplica.spawnedAt) / 1000
    progress(`${CLIENTS} clients over ${REPLICAS} replicas on one cold throttled object`)
    const stampedePath = '/slow/stampede/slow.bin'
    const client0File = join(WORK, 'client0.bin')
    const leases0 = (await Promise.all(replicas.map(async (r) => await r.metric('dsmirror_cluster_leases_acquired_total')))).reduce((a, b) => a + b, 0)
    const all = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => await download((replicas[i % REPLICAS] as Replica).url(stampedePath), i === 0 ? { output: client0File } : {})))
    const failed = all.map((d) => checkComplete(d, SLOW_SIZE)).filter((p) => p !== undefined)
    const lastSeconds = (Math.max(...all.map((d) => d.exitedAt)) - Math.min(...all.map((d) => d.spawnedAt))) / 1000
    const shaOk = failed.length === 0 && await sha256File(client0File) === await sha256File(slow.file)
    const upstreamRequests = upstream.requestCount(stampedePath)
    const peerBytes = await Promise.all(replicas.map(async (r) => await r.metric('dsmirror_cluster_peer_bytes_total')))
    const leases = (await Promise.all(replicas.map(async (r) => await r.metric('dsmirror_cluster_leases_acquired_total')))).reduce((a, b) => a + b, 0) - leases0
    if (failed.length > 0) notes.push(`stampede: ${failed.length} of ${CLIENTS} clients failed: ${failed.slice(0, 3).join('; ')}`)
    raw.push(`stampede: alone straight ${aloneSeconds.toFixed(2)} s, alone through replica 1 ${aloneReplicaSeconds.toFixed(2)} s; ${CLIENTS} clients done at ${all.map((d) => ((d.exitedAt - Math.min(...all.map((x) => x.spawnedAt))) / 1000).toFixed(2)).join(', ')} s; first byte (curl) ${all.map((d) => d.firstByteSeconds.toFixed(2)).join(', ')} s`)
    raw.push(`stampede: leases acquired in the cluster ${leases}; dsmirror_cluster_peer_bytes_total per replica ${peerBytes.join(', ')} (cumulative over the run)`)

    const load1 = loadavg()
    const [l1Rate, s3Rate, ngxRate] = [rate(l1), rate(s3), rate(ngx)]
    const agg = [1, 2, 3].map((n) => median(aggregate.get(n) ?? [0]))
    const rows: string[][] = [
      [`1a. warm hit from L1 (replica 1's disk), ${(SIZE / MIB).toFixed(0)} MiB`, formatRate(l1Rate), `${cpuPerGiB(l1).toFixed(2)} CPU s/GiB`, `${(l1Rate / ngxRate).toFixed(2)}× nginx`],
      ['1b. hit from S3 (replica 2, empty disk, first request of the key)', formatRate(s3Rate), `${cpuPerGiB(s3).toFixed(2)} CPU s/GiB`, `${(s3Rate / ngxRate).toFixed(2)}× nginx, ${(s3Rate / l1Rate).toFixed(2)}× L1`],
      ['1c. nginx warm hit (sendfile)', formatRate(ngxRate), `${cpuPerGiB(ngx).toFixed(2)} CPU s/GiB`, '1.00×'],
      ['1d. RGW straight to the bench process: one GetObject / sequential 8 MiB ranged GETs', `${formatRate(SIZE / median(straight.whole))} / ${formatRate(SIZE / median(straight.ranged))}`, '', `S3 hit ${(s3Rate / (SIZE / median(straight.ranged))).toFixed(2)}× the ranged GETs`],
      ...[1, 2, 3].map((n) => [`2. aggregate, ${STREAMS} concurrent curls over ${n} replica(s), warm`, formatRate(agg[n - 1] ?? 0), '', `${((agg[n - 1] ?? 0) / (agg[0] ?? 1)).toFixed(2)}× 1 replica`]),
      [`3. ${CLIENTS} clients over ${REPLICAS} replicas, one cold throttled object: upstream requests`, String(upstreamRequests), `${leases} lease(s)`, upstreamRequests === 1 ? 'yes (must be 1)' : 'NO (must be 1)'],
      ['3. last client done vs one download alone (straight from the upstream)', `${lastSeconds.toFixed(2)} s`, `${aloneSeconds.toFixed(2)} s`, `${(lastSeconds / aloneSeconds).toFixed(2)}×`],
      ['3. last client done vs one download alone (through one replica)', `${lastSeconds.toFixed(2)} s`, `${aloneReplicaSeconds.toFixed(2)} s`, `${(lastSeconds / aloneReplicaSeconds).toFixed(2)}×`],
      ['3. every client complete, client 0 sha256 = source', failed.length === 0 && shaOk ? 'yes' : 'NO', '', '']
    ]
    const table = ['| measure | value | beside it | ratio |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
    const machine = await describeMachine()
    const section = [
      '',
      '### Issue 19: the S3 store across replicas',
      '',
      `\`npm run bench:s3${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/s3.ts), ${new Date().toISOString().slice(0, 16)}Z, git ${await gitRevision(ROOT)}; ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}, ${await nginxVersion(nginxBinary)}, ${await curlVersion()}.`,
      `Ceph RGW (test/s3/rgw.sh, memstore) up in ${rgwSeconds.toFixed(1)} s; ${REPLICAS} dsmirror replicas (built CLI, store.kind s3, cluster single flight, log warn), nginx, the upstream in the bench process, curl; all on 127.0.0.1. ` +
        `--size ${(SIZE / MIB).toFixed(0)} MiB, --reps ${REPS}, --streams ${STREAMS}, --clients ${CLIENTS}, throttled object ${(SLOW_SIZE / MIB).toFixed(0)} MiB at ${(SLOW_SIZE / SLOW_SECONDS / MIB).toFixed(1)} MiB/s. Run took ${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
      `Shared machine: load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${load1.map((l) => l.toFixed(1)).join(' ')} at the end, on ${machine.cpus} cores. Throughputs are medians; CPU s/GiB is the proxy process tree's (for nginx: master + workers).`,
      '',
      table,
      '',
      ...notes.map((n) => `- note: ${n}`),
      ...raw.map((r) => `- raw: ${r}`),
      ''
    ].join('\n')
    process.stdout.write(section)
    if (args['no-write'] !== true) await writeFile(RESULTS_FILE, (await readFile(RESULTS_FILE, 'utf8')).trimEnd() + '\n' + section)
  } finally {
    await stopAllChildren()
    await upstream.close()
    stopRgwSync()
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:s3: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  await stopAllChildren()
  stopRgwSync()
  process.exitCode = 1
})
