// `npm run soak -- --minutes N`: dsmirror under steady mixed load for N minutes (issue #5, item 4).
// 200 concurrent clients loop over hits of warm objects, misses (a fresh cache key each time, over
// a bounded corpus, with a small cache.maxSize so eviction runs all along), single ranges, and
// downloads they abort. Every completed body is sha256-checked. A line every 10 s; a summary at
// the end; exit 1 on any error, or when dsmirror's RSS grows beyond the bound (bench/README.md).
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { parseSize } from './args.js'
import { installCleanupHooks, runCommand, stopAllChildren } from './children.js'
import { resetDsmirrorData, startDsmirror } from './dsmirror.js'
import { describeMachine } from './machine.js'
import { createBenchPki } from './pki.js'
import { pickFreePorts } from './ports.js'
import { DEFAULT_STAMPEDE_BYTES, DEFAULT_STAMPEDE_READERS, DEFAULT_STAMPEDE_ROUNDS, makeStampedeObject, runStampede } from './soak-stampede.js'
import { makeCorpus, seededRandom, startSoakUpstream, type SoakObject } from './soak-upstream.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const WORK = join(ROOT, 'bench', 'work', 'soak')
const DEFAULT_MINUTES = 2
const DEFAULT_CLIENTS = 200
const DEFAULT_CACHE_SIZE = '256MiB'
const CORPUS_OBJECTS = 2000
const WARM_OBJECTS = 24
const MIN_OBJECT_BYTES = 4 * 1024
const MAX_OBJECT_BYTES = 4 * 1024 * 1024
/** Misses stay small: every one is written, fsynced and later evicted on a disk others share. */
const MAX_MISS_BYTES = 1024 * 1024
const REPORT_EVERY_MS = 10_000
const RSS_EVERY_MS = 1000
/** A request slower than this is an error: nothing here should take a minute on loopback. */
const REQUEST_TIMEOUT_MS = 60_000
/** RSS bound: the last minute's median RSS may not exceed 1.5 × the first minute's + 64 MB. */
const RSS_GROWTH_FACTOR = 1.5
const RSS_GROWTH_SLACK_BYTES = 64e6
const MIX: Array<[Kind, number]> = [['hit', 45], ['range', 25], ['miss', 15], ['abort', 15]]
const MAX_ERRORS_SHOWN = 20

type Kind = 'hit' | 'range' | 'miss' | 'abort'

const USAGE = `usage: npm run soak -- [options]

  --minutes N        how long the load runs (default ${DEFAULT_MINUTES}; fractions allowed)
  --clients N        concurrent clients (default ${DEFAULT_CLIENTS})
  --cache-size SIZE  dsmirror cache.maxSize (default ${DEFAULT_CACHE_SIZE}; small, so eviction runs)
  --stampede         instead of the mixed load: --readers clients on one cold object at once,
                     --rounds times (a fresh key each round), RSS against a bound (issue 12 item 10)
  --readers N        readers per stampede round (default ${DEFAULT_STAMPEDE_READERS})
  --object-size SIZE the stampede object (default ${DEFAULT_STAMPEDE_BYTES / 2 ** 20}MiB)
  --rounds N         stampede rounds (default ${DEFAULT_STAMPEDE_ROUNDS})
  -h, --help         this text
`

interface Window {
  requests: number
  errors: number
  bytes: number
  latencies: number[]
}

function newWindow (): Window {
  return { requests: 0, errors: 0, bytes: 0, latencies: [] }
}

interface Outcome {
  kind: Kind
  /** ms to the last byte, for completed requests only. */
  ms: number | null
  bytes: number
  cacheStatus: string
  error: string | null
}

function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}

function median (values: number[]): number {
  return percentile(values, 0.5)
}

function fmt (n: number, digits = 0): string {
  return Number.isNaN(n) ? '—' : n.toFixed(digits)
}

async function readRss (pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  return match?.[1] === undefined ? null : Number(match[1]) * 1024
}

async function bodyBytesUnder (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await bodyBytesUnder(path)
    else if (!entry.name.endsWith('.json')) total += (await stat(path)).size
  }
  return total
}

/**
 * Builds the committed HEAD in bench/work/soak/src, not the working tree: others edit the tree
 * while a soak runs for minutes, and the figures should name one revision.
 */
async function snapshotHead (say: (line: string) => void): Promise<string> {
  const src = join(WORK, 'src')
  const revision = (await runCommand('git', 'git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).stdout.trim()
  say(`soak: building dsmirror ${revision} (committed HEAD) in ${relative(ROOT, src)}`)
  await rm(src, { recursive: true, force: true })
  await mkdir(src, { recursive: true })
  const unpack = await runCommand('git archive', 'sh', ['-c', 'git -C "$0" archive --format=tar HEAD bin server config certs package.json tsconfig.json tsconfig.build.json | tar -x -C "$1"', ROOT, src])
  if (unpack.code !== 0) throw new Error(`git archive of HEAD failed: ${unpack.stderr}`)
  await symlink(join(ROOT, 'node_modules'), join(src, 'node_modules'))
  const build = await runCommand('tsc', process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: src })
  await writeFile(join(WORK, 'logs', 'build.log'), build.stdout + build.stderr)
  if (build.code !== 0) throw new Error(`building HEAD failed (exit ${String(build.code)}):\n${build.stdout}${build.stderr}`)
  return revision
}

interface StampedeArgs {
  readers: number
  objectBytes: number
  rounds: number
}

function parseSoakArgs (argv: string[]): { minutes: number, clients: number, cacheSize: string, cacheBytes: number, stampede: StampedeArgs | null } | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      clients: { type: 'string' },
      'cache-size': { type: 'string' },
      stampede: { type: 'boolean', default: false },
      readers: { type: 'string' },
      'object-size': { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help === true) return 'help'
  const minutes = Number(values.minutes ?? DEFAULT_MINUTES)
  if (!(minutes > 0)) throw new Error(`--minutes needs a positive number, got '${String(values.minutes)}'`)
  const clients = Number(values.clients ?? DEFAULT_CLIENTS)
  if (!Number.isInteger(clients) || clients < 1) throw new Error(`--clients needs a positive integer, got '${String(values.clients)}'`)
  const cacheSize = values['cache-size'] ?? DEFAULT_CACHE_SIZE
  const readers = Number(values.readers ?? DEFAULT_STAMPEDE_READERS)
  const rounds = Number(values.rounds ?? DEFAULT_STAMPEDE_ROUNDS)
  if (!Number.isInteger(readers) || readers < 1) throw new Error(`--readers needs a positive integer, got '${String(values.readers)}'`)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds needs a positive integer, got '${String(values.rounds)}'`)
  const objectBytes = values['object-size'] === undefined ? DEFAULT_STAMPEDE_BYTES : parseSize(values['object-size'])
  const stampede = values.stampede === true ? { readers, rounds, objectBytes } : null
  return { minutes, clients, cacheSize, cacheBytes: parseSize(cacheSize), stampede }
}

async function main (): Promise<number> {
  const parsed = parseSoakArgs(process.argv.slice(2))
  if (parsed === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  const { minutes, clients, cacheSize, cacheBytes, stampede } = parsed
  installCleanupHooks()
  const say = (line: string): void => { process.stdout.write(`${line}\n`) }
  await mkdir(join(WORK, 'logs'), { recursive: true })
  const revision = await snapshotHead(say)

  const pki = await createBenchPki(join(WORK, 'pki'))
  const corpus = makeCorpus(CORPUS_OBJECTS, MIN_OBJECT_BYTES, MAX_OBJECT_BYTES)
  const warm = corpus.objects.slice(0, WARM_OBJECTS)
  const warmLarge = warm.filter((o) => o.size >= 256 * 1024)
  const cold = corpus.objects.slice(WARM_OBJECTS).filter((o) => o.size <= MAX_MISS_BYTES)
  const coldLarge = cold.filter((o) => o.size >= 256 * 1024)
  const stampedeObject = stampede === null ? null : makeStampedeObject(corpus.objects.length, stampede.objectBytes)
  if (stampedeObject !== null) corpus.objects.push(stampedeObject)
  const upstream = await startSoakUpstream(pki, corpus)
  const dataDir = join(WORK, 'dsmirror')
  await resetDsmirrorData(dataDir)
  const [port = 0, httpsPort = 0] = await pickFreePorts(2)
  const logFile = join(WORK, 'logs', 'dsmirror.log')
  await writeFile(logFile, '')
  const proxy = await startDsmirror({
    root: join(WORK, 'src'),
    dataDir,
    configFile: join(WORK, 'dsmirror.yaml'),
    logFile,
    port,
    httpsPort,
    certFile: pki.certFile,
    keyFile: pki.keyFile,
    upstreamOrigin: upstream.origin,
    caFile: pki.caFile,
    maxCacheSize: cacheSize
  }).catch(async (err: unknown) => { await upstream.close(); throw err })
  const url = proxy.http.url
  if (stampede !== null && stampedeObject !== null) {
    const result = await runStampede({ ...stampede, object: stampedeObject, url, readRss: async () => await readRss(proxy.http.pid), say })
    await proxy.http.stop()
    await upstream.close()
    const machine = await describeMachine()
    const text = [
      `- date: ${new Date().toISOString()}`,
      `- command: \`npm run soak -- ${process.argv.slice(2).join(' ')}\``,
      `- machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, ${machine.os}, node ${machine.node}; normal priority, shared with other work`,
      `- dsmirror: git ${revision} (committed HEAD, built apart from the working tree), one child process (HTTP on 127.0.0.1), cache.maxSize ${cacheSize}, log level warn`,
      ...result.lines,
      '',
      `- verdict: ${result.failures.length === 0 ? 'pass' : `FAIL (${result.failures.join('; ')})`}`
    ].join('\n') + '\n'
    await writeFile(join(WORK, 'report.md'), text)
    say('\n' + text)
    return result.failures.length === 0 ? 0 : 1
  }
  const agent = new Agent({ connections: clients, keepAliveTimeout: 30_000, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS })
  const runTag = Date.now().toString(36)
  let missCounter = 0
  const random = seededRandom(Date.now() & 0xffffffff)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T

  async function fetchObject (kind: Kind, object: SoakObject, path: string, opts: { range?: [number, number], rangeHeader?: string, abortAfterBytes?: number, abortAfterMs?: number }): Promise<Outcome> {
    const started = performance.now()
    const controller = new AbortController()
    const timer = opts.abortAfterMs === undefined ? undefined : setTimeout(() => { controller.abort() }, opts.abortAfterMs)
    const deadline = setTimeout(() => { controller.abort(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)) }, REQUEST_TIMEOUT_MS)
    const ours = (): boolean => controller.signal.aborted && !(controller.signal.reason instanceof Error && controller.signal.reason.message.startsWith('no answer'))
    const fail = (error: string, cacheStatus = '', bytes = 0): Outcome => ({ kind, ms: null, bytes, cacheStatus, error: `${kind} ${path}${opts.rangeHeader !== undefined ? ` (${opts.rangeHeader})` : ''}: ${error}` })
    let bytes = 0
    let cacheStatus = ''
    try {
      const res = await request(url(path), { dispatcher: agent, headers: opts.rangeHeader === undefined ? {} : { range: opts.rangeHeader }, signal: controller.signal })
      cacheStatus = String(res.headers['cache-status'] ?? '')
      const hash = createHash('sha256')
      let abortedByUs = false
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          hash.update(chunk)
          bytes += chunk.length
          if (opts.abortAfterBytes !== undefined && bytes >= opts.abortAfterBytes) {
            abortedByUs = true
            controller.abort()
            break
          }
        }
      } catch (err: unknown) {
        if (ours()) abortedByUs = true
        else return fail(`body failed after ${bytes} bytes: ${err instanceof Error ? err.message : String(err)}`, cacheStatus, bytes)
      }
      if (abortedByUs) return { kind, ms: null, bytes, cacheStatus, error: null }
      const [start, end] = opts.range ?? [0, object.size - 1]
      const expectedStatus = opts.range === undefined ? 200 : 206
      if (res.statusCode !== expectedStatus) return fail(`status ${res.statusCode}, expected ${expectedStatus}`, cacheStatus, bytes)
      if (opts.range !== undefined && res.headers['content-range'] !== `bytes ${start}-${end}/${object.size}`) {
        return fail(`content-range '${String(res.headers['content-range'])}', expected 'bytes ${start}-${end}/${object.size}'`, cacheStatus, bytes)
      }
      const expected = opts.range === undefined ? object.sha256 : createHash('sha256').update(object.bytes.subarray(start, end + 1)).digest('hex')
      if (bytes !== end - start + 1) return fail(`${bytes} bytes, expected ${end - start + 1}`, cacheStatus, bytes)
      if (hash.digest('hex') !== expected) return fail('sha256 mismatch', cacheStatus, bytes)
      return { kind, ms: performance.now() - started, bytes, cacheStatus, error: null }
    } catch (err: unknown) {
      if (ours()) return { kind, ms: null, bytes, cacheStatus, error: null }
      const reason = controller.signal.aborted ? String(controller.signal.reason) : err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      return fail(reason, cacheStatus, bytes)
    } finally {
      clearTimeout(timer)
      clearTimeout(deadline)
    }
  }

  async function oneRequest (kind: Kind): Promise<Outcome> {
    switch (kind) {
      case 'hit': {
        const object = pick(warm)
        return await fetchObject(kind, object, object.path, {})
      }
      case 'range': {
        const object = pick(warm)
        const a = Math.floor(random() * object.size)
        const b = Math.floor(random() * object.size)
        const shape = random()
        // Single, open-ended and suffix ranges (RFC 9110 §14.1.2).
        if (shape < 0.5) return await fetchObject(kind, object, object.path, { range: [Math.min(a, b), Math.max(a, b)], rangeHeader: `bytes=${Math.min(a, b)}-${Math.max(a, b)}` })
        if (shape < 0.75) return await fetchObject(kind, object, object.path, { range: [a, object.size - 1], rangeHeader: `bytes=${a}-` })
        return await fetchObject(kind, object, object.path, { range: [object.size - (a + 1), object.size - 1], rangeHeader: `bytes=-${a + 1}` })
      }
      case 'miss': {
        const object = pick(cold)
        return await fetchObject(kind, object, `${object.path}?n=${runTag}-${missCounter++}`, {})
      }
      case 'abort': {
        // Hits and misses, cut after some body bytes or at a random moment (often before the headers).
        const onMiss = random() < 0.5
        const object = pick(onMiss ? coldLarge : warmLarge)
        const path = onMiss ? `${object.path}?n=${runTag}-${missCounter++}` : object.path
        if (random() < 0.67) return await fetchObject(kind, object, path, { abortAfterBytes: 1 + Math.floor(random() * object.size / 2) })
        return await fetchObject(kind, object, path, { abortAfterMs: Math.floor(random() * 50) })
      }
    }
  }

  // Warm-up: the warm set is fetched once, and each must then be a committed hit.
  say(`soak: dsmirror pid ${proxy.http.pid} on 127.0.0.1:${port}, upstream ${upstream.origin}; warming ${warm.length} objects`)
  for (const object of warm) {
    const first = await fetchObject('hit', object, object.path, {})
    if (first.error !== null) throw new Error(`warm-up failed: ${first.error}`)
    for (let i = 0; ; i++) {
      const again = await fetchObject('hit', object, object.path, {})
      if (again.error !== null) throw new Error(`warm-up failed: ${again.error}`)
      if (/; hit$/.test(again.cacheStatus)) break
      if (i > 100) throw new Error(`warm-up: ${object.path} is not a hit after 100 tries (Cache-Status '${again.cacheStatus}')`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const weightTotal = MIX.reduce((n, [, w]) => n + w, 0)
  const pickKind = (): Kind => {
    let r = random() * weightTotal
    for (const [kind, weight] of MIX) {
      if ((r -= weight) < 0) return kind
    }
    return 'hit'
  }

  const durationMs = minutes * 60_000
  const startedAt = performance.now()
  const elapsed = (): number => performance.now() - startedAt
  const total = { requests: 0, errors: 0, bytes: 0 }
  const byKind = new Map<Kind, { requests: number, errors: number, aborted: number, latencies: number[] }>(MIX.map(([k]) => [k, { requests: 0, errors: 0, aborted: 0, latencies: [] }]))
  const cacheStatuses = new Map<string, number>()
  const perMinute: Window[] = []
  const errors: string[] = []
  const rssSamples: Array<{ t: number, rss: number }> = []
  let window = newWindow()
  let stopping = false
  let proxyDied = false

  function record (o: Outcome): void {
    // Requests still finishing after the deadline count in the last minute.
    const minute = Math.min(Math.floor(elapsed() / 60_000), Math.ceil(durationMs / 60_000) - 1)
    const m = perMinute[minute] ??= newWindow()
    const k = byKind.get(o.kind) as { requests: number, errors: number, aborted: number, latencies: number[] }
    for (const w of [window, m, total]) {
      w.requests++
      w.bytes += o.bytes
      if (o.error !== null) w.errors++
    }
    k.requests++
    if (o.error !== null) {
      k.errors++
      if (errors.length < MAX_ERRORS_SHOWN) {
        errors.push(o.error)
        process.stderr.write(`soak: error: ${o.error}\n`)
      }
    } else if (o.ms === null) {
      k.aborted++
    } else {
      k.latencies.push(o.ms)
      window.latencies.push(o.ms)
      m.latencies.push(o.ms)
    }
    const status = `${o.kind}: ${o.cacheStatus === '' ? '(none)' : o.cacheStatus}`
    cacheStatuses.set(status, (cacheStatuses.get(status) ?? 0) + 1)
  }

  const rssTimer = setInterval(() => {
    // No status file: the process is gone.
    void readRss(proxy.http.pid).then((rss) => {
      if (rss !== null) rssSamples.push({ t: elapsed(), rss })
      else if (!stopping) proxyDied = true
    })
  }, RSS_EVERY_MS)
  const lastRss = (): number => rssSamples.at(-1)?.rss ?? NaN
  say(`soak: ${clients} clients for ${minutes} min, cache.maxSize ${cacheSize}, mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}`)
  say('  elapsed   requests  (per s)  errors  p50 ms  p99 ms    MB/s  RSS MB')
  const report = (): void => {
    const seconds = REPORT_EVERY_MS / 1000
    say(`${`${fmt(elapsed() / 1000)} s`.padStart(9)} ${String(total.requests).padStart(10)} ${fmt(window.requests / seconds).padStart(8)} ${String(total.errors).padStart(7)} ${fmt(median(window.latencies), 1).padStart(7)} ${fmt(percentile(window.latencies, 0.99), 1).padStart(7)} ${fmt(window.bytes / seconds / 1e6, 1).padStart(7)} ${fmt(lastRss() / 1e6, 1).padStart(7)}`)
    window = newWindow()
  }
  const reportTimer = setInterval(report, REPORT_EVERY_MS)

  const running = (): boolean => elapsed() < durationMs && !proxyDied
  await Promise.all(Array.from({ length: clients }, async () => {
    while (running()) record(await oneRequest(pickKind()))
  }))
  stopping = true
  clearInterval(reportTimer)
  clearInterval(rssTimer)
  const ranFor = elapsed()
  await agent.close()
  // Evicted bodies are unlinked just after the index lets them go: give that a moment.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const diskBytes = await bodyBytesUnder(join(dataDir, 'cache', 'objects'))
  await proxy.http.stop()
  await upstream.close()
  const logText = await readFile(logFile, 'utf8').catch(() => '')
  const logErrors = logText.split('\n').filter((line) => /"level":(50|60)/.test(line))

  // The verdict.
  const firstMinute = rssSamples.filter((s) => s.t < 60_000).map((s) => s.rss)
  const lastMinute = rssSamples.filter((s) => s.t >= ranFor - 60_000).map((s) => s.rss)
  const rssFirst = median(firstMinute)
  const rssLast = median(lastMinute)
  const rssBound = RSS_GROWTH_FACTOR * rssFirst + RSS_GROWTH_SLACK_BYTES
  const rssPeak = Math.max(...rssSamples.map((s) => s.rss))
  const failures: string[] = []
  if (total.errors > 0) failures.push(`${total.errors} request error(s)`)
  if (proxyDied) failures.push('dsmirror exited during the soak')
  if (!(rssLast <= rssBound)) failures.push(`RSS grew: last-minute median ${fmt(rssLast / 1e6, 1)} MB > bound ${fmt(rssBound / 1e6, 1)} MB`)
  if (diskBytes > cacheBytes) failures.push(`cache bodies on disk ${diskBytes} B > cache.maxSize ${cacheBytes} B`)
  if (logErrors.length > 0) failures.push(`${logErrors.length} error line(s) in ${relative(ROOT, logFile)}`)

  const machine = await describeMachine()
  const lines: string[] = []
  lines.push(`- date: ${new Date().toISOString()}`)
  lines.push(`- command: \`npm run soak -- ${process.argv.slice(2).join(' ')}\``.replace(/ -- $/, ''))
  lines.push(`- machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, ${machine.os}, node ${machine.node}; normal priority, shared with other work`)
  lines.push(`- dsmirror: git ${revision} (committed HEAD, built apart from the working tree), one child process (HTTP on 127.0.0.1), cache.maxSize ${cacheSize}, log level warn`)
  lines.push(`- load: ${clients} clients for ${fmt(ranFor / 60_000, 2)} min; mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}; ${warm.length} warm objects (${fmt(warm.reduce((n, o) => n + o.size, 0) / 1e6, 1)} MB), misses over ${cold.length} objects of 4 KiB-1 MiB with a fresh key each`)
  lines.push('')
  lines.push('| kind | requests | errors | aborted by the client | p50 ms | p99 ms |')
  lines.push('|---|---|---|---|---|---|')
  for (const [kind, k] of byKind) lines.push(`| ${kind} | ${k.requests} | ${k.errors} | ${k.aborted} | ${fmt(median(k.latencies), 1)} | ${fmt(percentile(k.latencies, 0.99), 1)} |`)
  const all = [...byKind.values()].flatMap((k) => k.latencies)
  lines.push(`| all | ${total.requests} | ${total.errors} | ${[...byKind.values()].reduce((n, k) => n + k.aborted, 0)} | ${fmt(median(all), 1)} | ${fmt(percentile(all, 0.99), 1)} |`)
  lines.push('')
  lines.push('| minute | requests | errors | p50 ms | p99 ms | MB/s | dsmirror RSS MB (median) |')
  lines.push('|---|---|---|---|---|---|---|')
  perMinute.forEach((m, i) => {
    const seconds = i === perMinute.length - 1 ? (ranFor - i * 60_000) / 1000 : 60
    const rss = rssSamples.filter((s) => s.t >= i * 60_000 && s.t < (i + 1) * 60_000).map((s) => s.rss)
    lines.push(`| ${i + 1} | ${m.requests} | ${m.errors} | ${fmt(median(m.latencies), 1)} | ${fmt(percentile(m.latencies, 0.99), 1)} | ${fmt(m.bytes / seconds / 1e6, 1)} | ${fmt(median(rss) / 1e6, 1)} |`)
  })
  lines.push('')
  lines.push(`- throughput: ${fmt(total.bytes / (ranFor / 1000) / 1e6, 1)} MB/s to the clients over the run, ${fmt(total.requests / (ranFor / 1000))} requests/s`)
  lines.push(`- RSS: first-minute median ${fmt(rssFirst / 1e6, 1)} MB, last-minute median ${fmt(rssLast / 1e6, 1)} MB, peak ${fmt(rssPeak / 1e6, 1)} MB; bound ${RSS_GROWTH_FACTOR} × first + ${RSS_GROWTH_SLACK_BYTES / 1e6} MB = ${fmt(rssBound / 1e6, 1)} MB`)
  lines.push(`- upstream requests: ${upstream.requests()}; cache bodies on disk at the end: ${fmt(diskBytes / 1e6, 1)} MB (maxSize ${fmt(cacheBytes / 1e6, 1)} MB); error lines in the dsmirror log: ${logErrors.length}`)
  lines.push(`- Cache-Status seen: ${[...cacheStatuses].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ×${n}`).join('; ')}`)
  lines.push(`- verdict: ${failures.length === 0 ? 'pass' : `FAIL (${failures.join('; ')})`}`)
  if (errors.length > 0) lines.push(...errors.map((e) => `- error: ${e}`))
  if (logErrors.length > 0) lines.push(...logErrors.slice(0, 5).map((e) => `- log: ${e.slice(0, 400)}`))
  const text = lines.join('\n') + '\n'
  await writeFile(join(WORK, 'report.md'), text)
  say('\n' + text)
  say(`written to ${relative(process.cwd(), join(WORK, 'report.md'))}`)
  return failures.length === 0 ? 0 : 1
}

main().then((code) => {
  process.exitCode = code
}, async (err: unknown) => {
  process.stderr.write(`soak: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  await stopAllChildren()
  process.exitCode = 1
})
