// What receiving bytes over TLS costs a Node process, by how the socket hands them over (issue 14):
// the floor under dsmirror's cold path, which receives every upstream byte this way. A node:https
// server on 127.0.0.1 sends --size bytes; a client in a fresh child process receives them with
// each mode in turn, --reps times, and reports its own CPU seconds per GiB (process.cpuUsage) and
// its minor page faults (getrusage). Prints a table; writes nothing.
//
//   npx tsx bench/tls-receive.ts [-- --size 1GiB --reps 3 --node /path/to/node]
//
// Modes:
//   data       'data' events: what every Node stream consumer gets (a fresh ArrayBuffer per record)
//   readable   'readable' + read(): how undici reads its socket
//   reused     net/tls `onread` into one reused 64 KiB buffer: no allocation per record
//   fresh-16k  `onread` into a fresh 16 KiB+ buffer per record, nothing else: the allocation alone
//   *-sweep-main  the same with V8's --no-concurrent-array-buffer-sweeping (bin/dsmirror.js on Node 20)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseSize } from './args.js'
import { createBenchPki } from './pki.js'
import { median } from './report.js'

const MODES = ['data', 'readable', 'reused', 'fresh-16k', 'data-sweep-main', 'readable-sweep-main'] as const
const SEND_CHUNK = Buffer.alloc(4 * 1024 * 1024, 7)

// The client, run as `node --input-type=module -e CLIENT <port> <mode> <bytes>`; the bench CA comes in DSM_BENCH_CA.
const CLIENT = `
import tls from 'node:tls'
import { setFlagsFromString } from 'node:v8'
const [port, mode, size] = process.argv.slice(1)
if (mode.endsWith('-sweep-main')) setFlagsFromString('--no-concurrent-array-buffer-sweeping')
const kind = mode.replace('-sweep-main', '')
let bytes = 0
const reused = Buffer.alloc(64 * 1024)
const options = { host: '127.0.0.1', port: Number(port), ca: process.env.DSM_BENCH_CA, servername: 'localhost' }
if (kind === 'reused') options.onread = { buffer: reused, callback: (n) => { bytes += n } }
if (kind === 'fresh-16k') options.onread = { buffer: () => Buffer.allocUnsafeSlow(17 * 1024), callback: (n) => { bytes += n } }
const before = process.cpuUsage()
const faults = process.resourceUsage().minorPageFault
const socket = tls.connect(options, () => { socket.write('GET / HTTP/1.1\\r\\nhost: localhost\\r\\nconnection: close\\r\\n\\r\\n') })
if (kind === 'data') socket.on('data', (chunk) => { bytes += chunk.length })
if (kind === 'readable') socket.on('readable', () => { let chunk; while ((chunk = socket.read()) !== null) bytes += chunk.length })
socket.on('close', () => {
  const cpu = process.cpuUsage(before)
  process.stdout.write(JSON.stringify({ bytes, cpuSeconds: (cpu.user + cpu.system) / 1e6, faults: process.resourceUsage().minorPageFault - faults }))
})
`

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, reps: { type: 'string', default: '3' }, node: { type: 'string', default: process.execPath } } })
  const size = parseSize(values.size)
  const reps = Number(values.reps)
  const dir = await mkdtemp(join(tmpdir(), 'dsm-tls-receive-'))
  const pki = await createBenchPki(dir)
  const server = createServer({ key: pki.key, cert: pki.cert }, (_req, res) => {
    let left = size
    const send = (): void => {
      while (left > 0) {
        const chunk = left >= SEND_CHUNK.length ? SEND_CHUNK : SEND_CHUNK.subarray(0, left)
        left -= chunk.length
        if (!res.write(chunk)) { res.once('drain', send); return }
      }
      res.end()
    }
    send()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const results = new Map<string, Array<{ cpuSeconds: number; faults: number }>>()
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const mode of MODES) {
        const child = spawn(values.node, ['--input-type=module', '-e', CLIENT, String(port), mode, String(size)], { env: { ...process.env, DSM_BENCH_CA: pki.ca }, stdio: ['ignore', 'pipe', 'inherit'] })
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
        const [code] = await once(child, 'exit') as [number | null]
        if (code !== 0) throw new Error(`the ${mode} client exited with ${String(code)}`)
        const result = JSON.parse(out) as { bytes: number; cpuSeconds: number; faults: number }
        if (result.bytes < size) throw new Error(`the ${mode} client received ${result.bytes} of ${size} bytes`)
        const list = results.get(mode) ?? []
        list.push({ cpuSeconds: result.cpuSeconds * 2 ** 30 / size, faults: result.faults * 2 ** 30 / size })
        results.set(mode, list)
      }
    }
  } finally {
    server.close()
    await rm(dir, { recursive: true, force: true })
  }
  process.stdout.write(`node ${(await nodeVersion(values.node))}, ${values.size} per transfer, ${reps} reps, medians\n\n`)
  process.stdout.write('| mode | client CPU s/GiB | minor page faults per GiB |\n|---|---|---|\n')
  for (const mode of MODES) {
    const list = results.get(mode) ?? []
    process.stdout.write(`| ${mode} | ${median(list.map((r) => r.cpuSeconds)).toFixed(2)} | ${Math.round(median(list.map((r) => r.faults)))} |\n`)
  }
}

async function nodeVersion (node: string): Promise<string> {
  const child = spawn(node, ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  await once(child, 'exit')
  return out.trim()
}

main().catch((err: unknown) => {
  process.stderr.write(`tls-receive: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
