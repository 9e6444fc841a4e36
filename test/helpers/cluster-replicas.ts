// dsmirror replicas as real separate processes (the built CLI) sharing one RGW bucket for their
// leases (issue 19), each with its own data dir, HTTP listener and peer listener on 127.0.0.1.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { DSMIRROR_BIN } from './cli.js'
import { childEnv } from './child-env.js'
import { CHILD_START_TIMEOUT_MS } from './child-proxy.js'
import type { Rgw } from './rgw.js'
import { testConfig } from './proxy.js'

export interface Replica {
  origin: string
  peerUrl: string
  child: ChildProcess
  exited: Promise<number | NodeJS.Signals | null>
  output: () => string
}

export interface ReplicaOptions {
  allowHosts: string[]
  rgw: Rgw
  /** A prefix in the bucket no other test run uses. */
  prefix: string
  token: string
  leaseTtl: string
}

export async function startReplica (dataDir: string, opts: ReplicaOptions): Promise<Replica> {
  const raw = await testConfig(dataDir, {
    allowHosts: opts.allowHosts,
    config: {
      log: { level: 'info' },
      store: { kind: 's3', s3: { endpoint: opts.rgw.endpoint, bucket: opts.rgw.bucket, region: opts.rgw.region, prefix: opts.prefix } },
      cluster: { peer: { host: '127.0.0.1', port: 0 }, token: opts.token, singleFlight: true, leaseTtl: opts.leaseTtl }
    }
  })
  const configFile = join(dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify(raw))
  const child = spawn(process.execPath, [DSMIRROR_BIN, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv({ AWS_ACCESS_KEY_ID: opts.rgw.env.AWS_ACCESS_KEY_ID ?? '', AWS_SECRET_ACCESS_KEY: opts.rgw.env.AWS_SECRET_ACCESS_KEY ?? '' })
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  const started = await new Promise<{ origin: string, peerUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start:\n${output}`)), CHILD_START_TIMEOUT_MS)
    const check = (): void => {
      const lines = output.split('\n')
      const serving = lines.find((l) => l.includes('dsmirror is serving'))
      const peer = lines.find((l) => l.includes('cluster peer listener is serving'))
      if (serving === undefined || peer === undefined) return
      clearTimeout(timer)
      child.stdout?.off('data', check)
      resolve({ origin: (JSON.parse(serving) as { urls: string[] }).urls[0] ?? '', peerUrl: (JSON.parse(peer) as { url: string }).url })
    }
    child.stdout?.on('data', check)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`replica exited:\n${output}`)) })
  }).catch((err: unknown) => {
    // A replica that did not start is not the test's to stop: never leave it running.
    child.kill('SIGKILL')
    throw err
  })
  return { ...started, child, exited, output: () => output }
}

export async function stopReplica (replica: Replica): Promise<void> {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null) return
  replica.child.kill('SIGKILL')
  await replica.exited
}

/** One client GET: its first-byte time, the sha256 of what arrived, whether the response ended cleanly. */
export interface Fetched {
  status: number
  firstByteAt: number | null
  bytes: number
  sha256: string
  complete: boolean
  error: string | null
}

export async function fetchBody (url: string, timeoutMs: number, onFirstByte?: () => void): Promise<Fetched> {
  return await new Promise((resolve) => {
    const hash = createHash('sha256')
    let bytes = 0
    let firstByteAt: number | null = null
    let status = 0
    let settled = false
    const done = (complete: boolean, error: string | null): void => {
      // 'aborted', 'error' and 'end' may all fire for one cut response: the first one decides.
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ status, firstByteAt, bytes, sha256: hash.digest('hex'), complete, error })
    }
    const req = http.get(url, (res) => {
      status = res.statusCode ?? 0
      res.on('data', (chunk: Buffer) => {
        if (firstByteAt === null) { firstByteAt = Date.now(); onFirstByte?.() }
        bytes += chunk.length
        hash.update(chunk)
      })
      res.on('end', () => { done(res.complete, null) })
      res.on('error', (err) => { done(false, err.message) })
      res.on('aborted', () => { done(false, 'aborted') })
    })
    req.on('error', (err) => { done(false, err.message) })
    const timer = setTimeout(() => { req.destroy(new Error('client timeout')) }, timeoutMs)
  })
}

export async function getJson<T> (url: string): Promise<T> {
  return await new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => { try { resolve(JSON.parse(text) as T) } catch (err) { reject(err) } })
      res.on('error', reject)
    }).on('error', reject)
  })
}

export interface StatusDownload { key: string, written: number, size: number | null }
export async function downloadsOf (replica: Replica): Promise<StatusDownload[]> {
  return (await getJson<{ downloads: StatusDownload[] }>(`${replica.origin}/_/api/status`)).downloads
}
