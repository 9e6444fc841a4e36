// `npm run bench`: dsmirror against nginx on this machine. Prints a markdown table and writes it,
// with the machine it ran on, to bench/results.md. What each row means: bench/README.md.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBenchArgs, USAGE } from './args.js'
import type { BenchOptions } from './args.js'
import { installCleanupHooks, raiseBenchPriority, stopAllChildren } from './children.js'
import type { BenchContext } from './context.js'
import { curlVersion } from './curl.js'
import { buildDsmirror, resetDsmirrorData, startDsmirror } from './dsmirror.js'
import { describeMachine, dropPageCache, gitRevision, probePageCacheWriteSeconds, probeSha256Seconds } from './machine.js'
import { measureColdMiss } from './measure-cold-miss.js'
import { measureStampede } from './measure-stampede.js'
import { measureWarmHit } from './measure-warm-hit.js'
import { nginxVersion, startNginx } from './nginx.js'
import type { RunningNginx } from './nginx.js'
import { ensureObject } from './objects.js'
import type { BenchObject } from './objects.js'
import type { Peer } from './peer.js'
import { createBenchPki } from './pki.js'
import type { BenchPki } from './pki.js'
import { pickFreePorts } from './ports.js'
import { formatBytes, renderResults, renderTable } from './report.js'
import type { Row } from './report.js'
import { ensureTool } from './tools.js'
import { startBenchUpstream } from './upstream.js'
import type { BenchUpstream } from './upstream.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const WORK = join(ROOT, 'bench', 'work')
const RESULTS_FILE = join(ROOT, 'bench', 'results.md')
const STUB_RESULTS_FILE = join(WORK, 'results-stub.md')
const MAX_CACHE_SIZE = '8GiB'
const NGINX_MAX_CACHE_SIZE = '8g'

function progress (message: string): void {
  process.stderr.write(`bench: ${message}\n`)
}

interface Session {
  dsmirror: Peer
  dsmirrorHttps: Peer
  nginx: Peer
  nginxHttps: Peer
  stop: () => Promise<void>
}

function nginxPeer (name: string, running: RunningNginx, scheme: 'http' | 'https'): Peer {
  const port = scheme === 'http' ? running.httpPort : running.httpsPort
  return { name, pid: running.child.pid, url: (path) => `${scheme}://127.0.0.1:${port}${path}`, stop: running.stop }
}

let sessionCount = 0

// Both proxies, started fresh with empty caches: (a)+(b) share one session, (c)+(d) get their
// own, so the memory sampled in (d) is that of a process that served nothing before.
async function startSession (options: BenchOptions, nginxBinary: string, upstream: BenchUpstream, pki: BenchPki): Promise<Session> {
  sessionCount++
  const [nginxHttp = 0, nginxHttps = 0, dsmirrorPort = 0, dsmirrorHttpsPort = 0] = await pickFreePorts(4)
  const nginxRunning = await startNginx(nginxBinary, {
    prefix: join(WORK, 'nginx'),
    httpPort: nginxHttp,
    httpsPort: nginxHttps,
    upstreamPort: upstream.port,
    pki,
    maxCacheSize: NGINX_MAX_CACHE_SIZE
  })
  let dsmirror: Peer
  let dsmirrorHttps: Peer
  try {
    if (options.stubDsmirror) {
      const [stubHttps = 0] = await pickFreePorts(1)
      const stub = await startNginx(nginxBinary, {
        prefix: join(WORK, 'stub-nginx'),
        httpPort: dsmirrorPort,
        httpsPort: stubHttps,
        upstreamPort: upstream.port,
        pki,
        maxCacheSize: NGINX_MAX_CACHE_SIZE,
        dsmirrorShaped: true
      })
      dsmirror = { name: 'dsmirror', pid: stub.child.pid, url: (path) => `http://127.0.0.1:${dsmirrorPort}/${upstream.origin}${path}`, stop: stub.stop }
      dsmirrorHttps = { ...dsmirror, url: (path) => `https://127.0.0.1:${stubHttps}/${upstream.origin}${path}` }
    } else {
      const dataDir = join(WORK, 'dsmirror')
      await resetDsmirrorData(dataDir)
      const started = await startDsmirror({
        root: ROOT,
        dataDir,
        configFile: join(WORK, 'dsmirror.yaml'),
        logFile: join(WORK, 'logs', `dsmirror-${sessionCount}.log`),
        port: dsmirrorPort,
        httpsPort: dsmirrorHttpsPort,
        certFile: pki.certFile,
        keyFile: pki.keyFile,
        upstreamOrigin: upstream.origin,
        caFile: pki.caFile,
        maxCacheSize: MAX_CACHE_SIZE,
        nodeArgs: [...(options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(WORK, 'prof')] : []), ...options.nodeOptions]
      })
      dsmirror = started.http
      dsmirrorHttps = started.https
    }
  } catch (err: unknown) {
    await nginxRunning.stop()
    throw err
  }
  return {
    dsmirror,
    dsmirrorHttps,
    nginx: nginxPeer('nginx', nginxRunning, 'http'),
    nginxHttps: nginxPeer('nginx', nginxRunning, 'https'),
    stop: async () => {
      await Promise.all([dsmirror.stop(), nginxRunning.stop()])
    }
  }
}

async function main (): Promise<number> {
  const parsed = parseBenchArgs(process.argv.slice(2))
  if (parsed === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  const options = parsed
  installCleanupHooks()
  const nice = raiseBenchPriority()
  const startedAt = Date.now()
  await mkdir(join(WORK, 'logs'), { recursive: true })

  const nginxBinary = await ensureTool('nginx', ['nginx-light', 'nginx'])
  await ensureTool('curl', ['curl'])
  await ensureTool('sync', ['coreutils'])
  if (!options.stubDsmirror) {
    progress('building dsmirror (npm run build)')
    await buildDsmirror(ROOT, join(WORK, 'logs', 'build.log'))
  }

  if (options.dropCaches) {
    progress('dropping the page cache (--drop-caches)')
    await dropPageCache()
  }
  const pageCacheWriteSeconds = await probePageCacheWriteSeconds(WORK)
  const sha256Seconds = options.only.has('b') ? await probeSha256Seconds() : Number.NaN
  const pki = await createBenchPki(join(WORK, 'pki'))
  const needBig = options.only.has('a') || options.only.has('b')
  const needSlow = options.only.has('c')
  progress('preparing objects in bench/work/objects')
  const big: BenchObject = needBig
    ? await ensureObject(join(WORK, 'objects', 'big.bin'), 'big', options.bigObjectBytes)
    : { file: '/dev/null', size: 0, etag: '"none"', lastModified: new Date(0).toUTCString() }
  const slow: BenchObject = needSlow
    ? await ensureObject(join(WORK, 'objects', 'slow.bin'), 'slow', options.slowObjectBytes)
    : big
  const slowBytesPerSec = options.slowObjectBytes / options.slowSeconds
  const upstream = await startBenchUpstream({ pki, big, slow, slowBytesPerSec })

  const context: BenchContext = {
    upstream,
    caFile: pki.caFile,
    runId: Date.now().toString(36),
    notes: [],
    details: [],
    progress
  }
  const rows: Row[] = []
  try {
    if (needBig) {
      const session = await startSession(options, nginxBinary, upstream, pki)
      try {
        if (options.only.has('a')) rows.push(...await measureWarmHit(context, { ...session, object: big, reps: options.reps }))
        if (options.only.has('b')) rows.push(...await measureColdMiss(context, { ...session, object: big, reps: options.reps, sha256SecondsPerGiB: sha256Seconds }))
      } finally {
        await session.stop()
      }
    }
    if (needSlow) {
      const session = await startSession(options, nginxBinary, upstream, pki)
      try {
        rows.push(...await measureStampede(context, {
          ...session,
          object: slow,
          clients: options.clients,
          workDir: WORK,
          withRss: options.only.has('d')
        }))
      } finally {
        await session.stop()
      }
    }
  } finally {
    await upstream.close()
  }

  if (options.stubDsmirror) context.notes.unshift('STUB RUN: the dsmirror column is a second nginx standing in for dsmirror (--stub-dsmirror); these are not dsmirror numbers.')
  const settings = [
    `dsmirror: git ${await gitRevision(ROOT)}${options.nodeOptions.length > 0 || options.cpuProf ? `, node options: ${[...(options.cpuProf ? ['--cpu-prof'] : []), ...options.nodeOptions].join(' ')}` : ''}`,
    `objects: ${needBig ? `${formatBytes(options.bigObjectBytes)} for (a)/(b)` : 'no (a)/(b)'}${needSlow ? `, ${formatBytes(options.slowObjectBytes)} throttled to ${(slowBytesPerSec / 1e6).toFixed(2)} MB/s (~${options.slowSeconds} s) for (c)/(d), ${options.clients} clients` : ''}; ${options.reps} repetitions`,
    'client: curl to /dev/null, one process per download; upstream: node:https on 127.0.0.1 serving from a file (page cache)',
    `page cache: writing 1 GiB of new page cache cost ${pageCacheWriteSeconds.toFixed(2)} s of kernel CPU at the start of the run (dd probe; every cold fill pays this)${options.dropCaches ? ', right after dropping the page cache (--drop-caches)' : ''}`,
    ...(options.only.has('b') ? [`sha256: ${sha256Seconds.toFixed(2)} s of CPU per GiB in a Node process (probe of ${process.version}, 64 KiB updates); every body dsmirror caches is hashed, nginx hashes nothing (row b-cpu-hash)`] : []),
    nice === 0 ? 'priority: normal (not root: other work on the machine competes on equal terms)' : `priority: the bench and everything it starts ran at nice ${nice}`
  ]
  const report = renderResults(rows, {
    date: new Date(),
    command: ['npm run bench', ...(options.argv.length > 0 ? ['--', ...options.argv] : [])].join(' '),
    machine: await describeMachine(),
    versions: { nginx: await nginxVersion(nginxBinary), curl: await curlVersion() },
    settings,
    notes: context.notes,
    details: context.details,
    elapsedSeconds: (Date.now() - startedAt) / 1000
  })
  const outFile = options.stubDsmirror ? STUB_RESULTS_FILE : RESULTS_FILE
  await writeFile(outFile, report + await keptSoakSection(outFile))
  process.stdout.write('\n' + renderTable(rows))
  if (context.notes.length > 0) process.stdout.write('\n' + context.notes.map((note) => `- ${note}`).join('\n') + '\n')
  process.stdout.write(`\nwritten to ${relative(process.cwd(), outFile)} (${((Date.now() - startedAt) / 1000).toFixed(0)} s)\n`)
  return 0
}

/**
 * The sections of the previous results written by hand, kept as they were: `## Soak` (after
 * `npm run soak`) and `## Issue ...` notes (measurements an issue asked for, e.g. issue 14's).
 */
async function keptSoakSection (file: string): Promise<string> {
  const previous = await readFile(file, 'utf8').catch(() => '')
  const kept: string[] = []
  const headings = [...previous.matchAll(/^## .*$/gm)]
  headings.forEach((heading, i) => {
    if (!/^## (Soak|Issue .*)$/.test(heading[0])) return
    const next = headings[i + 1]
    kept.push(previous.slice(heading.index, next === undefined ? undefined : next.index).trimEnd())
  })
  return kept.map((section) => '\n' + section + '\n').join('')
}

main().then((code) => {
  process.exitCode = code
}, async (err: unknown) => {
  process.stderr.write(`bench: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  await stopAllChildren()
  process.exitCode = 1
})
