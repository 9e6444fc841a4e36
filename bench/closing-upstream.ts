// Misses per second against an upstream that closes every connection (issue 12 item 7): each
// miss is a new TLS handshake, verified against the managed bundle (Node's roots + the OS
// bundle + the bench CA, about 150 certificates). Reports misses/s, CPU per miss, /_/healthz
// latency under that load, and RSS. In-process dsmirror (buildApp), no nginx, about 20 s.
//
//   npx tsx bench/closing-upstream.ts [--seconds 10] [--clients 8]
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { parseConfig } from '../config/load-config.js'
import { buildApp } from '../server/app.js'
import { createBenchPki } from './pki.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, clients: { type: 'string', default: '8' } } })
const seconds = Number(values.seconds)
const clients = Number(values.clients)
const work = await mkdtemp(join(tmpdir(), 'dsmirror-bench-closing-'))
const pki = await createBenchPki(join(work, 'pki'))
const body = Buffer.alloc(1024, 7)
const upstream = https.createServer({ cert: pki.cert, key: pki.key }, (_req, res) => {
  res.writeHead(200, { 'content-length': String(body.length), connection: 'close', 'cache-control': 'no-store' })
  res.end(body)
})
await new Promise<void>((resolve) => { upstream.listen(0, '127.0.0.1', resolve) })
const port = (upstream.address() as { port: number }).port
const config = parseConfig({
  dataDir: join(work, 'data'),
  listen: { http: { host: '127.0.0.1', port: 0 }, https: false },
  allowHosts: [`127.0.0.1:${port}`],
  upstream: { caFiles: [pki.caFile], systemStore: true, proxy: 'none' },
  log: { level: 'warn' }
}, { env: {}, cwd: work })
const app = await buildApp(config, { logger: pino({ level: 'warn' }), env: {} })
const origin = await app.listen({ host: '127.0.0.1', port: 0 })
const agent = new http.Agent({ keepAlive: true, maxSockets: clients + 1 })

async function get (path: string): Promise<number> {
  const started = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${origin}${path}`, { agent }, (res) => { res.resume(); res.on('end', resolve) })
    req.on('error', reject)
  })
  return Number(process.hrtime.bigint() - started) / 1e6
}

const deadline = Date.now() + seconds * 1000
let misses = 0
let n = 0
const cpuBefore = process.cpuUsage()
const health: number[] = []
const load = Array.from({ length: clients }, async () => {
  // no-store: every request is a miss that reaches the upstream on a new connection.
  while (Date.now() < deadline) { await get(`/127.0.0.1:${port}/f/${n++}.bin`); misses++ }
})
const probe = (async () => { while (Date.now() < deadline) { health.push(await get('/_/healthz')); await new Promise((resolve) => setTimeout(resolve, 100)) } })()
await Promise.all([...load, probe])
const cpu = process.cpuUsage(cpuBefore)
health.sort((a, b) => a - b)
const rss = process.memoryUsage().rss
console.log(JSON.stringify({
  node: process.version,
  bundle: app.dsmirror.caBundle.certificates.length,
  clients,
  seconds,
  missesPerSecond: Math.round(misses / seconds),
  cpuMsPerMiss: Number(((cpu.user + cpu.system) / 1000 / misses).toFixed(2)),
  healthzMedianMs: Number((health[Math.floor(health.length / 2)] ?? 0).toFixed(1)),
  healthzMaxMs: Number((health[health.length - 1] ?? 0).toFixed(1)),
  rssMiB: Math.round(rss / 2 ** 20)
}))
agent.destroy()
await app.close()
upstream.closeAllConnections()
upstream.close()
await rm(work, { recursive: true, force: true })
