import { createReadStream } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Transform } from 'node:stream'
import type { TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchObject } from './objects.js'
import type { BenchPki } from './pki.js'

// The HTTPS origin both peers fetch from. Paths carry a tag so every measurement gets its own
// cold cache key while the bytes stay the same file:
//   /big/<tag>/big.bin    the large object, as fast as the machine allows
//   /slow/<tag>/slow.bin  the throttled object, paced to take the configured time
// Every request is counted by path at arrival, which is how the bench proves coalescing.

const FAST_CHUNK_BYTES = 1024 * 1024
const SLOW_CHUNK_BYTES = 64 * 1024
const ROUTE = /^\/(big|slow)\/[A-Za-z0-9._-]+\/(big|slow)\.bin$/

export interface BenchUpstreamOptions {
  pki: BenchPki
  big: BenchObject
  slow: BenchObject
  slowBytesPerSec: number
}

export interface BenchUpstream {
  port: number
  origin: string
  requestCount: (path: string) => number
  close: () => Promise<void>
}

interface ByteRange {
  start: number
  end: number
}

// One `bytes=` range, as RFC 9110 14.1.2 describes it; several ranges get the whole object,
// which a server is allowed to do. null means unsatisfiable.
function parseRange (header: string, size: number): ByteRange | null | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) return null
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (start >= size || end < start) return null
  return { start, end }
}

class Pacer extends Transform {
  readonly #bytesPerSec: number
  readonly #startedAt = performance.now()
  #sent = 0

  constructor (bytesPerSec: number) {
    super()
    this.#bytesPerSec = bytesPerSec
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // Wait until the bytes already sent are due, then pass this chunk on: the transfer keeps
    // to the rate on average however late the timers fire.
    const dueAt = this.#startedAt + (this.#sent / this.#bytesPerSec) * 1000
    this.#sent += chunk.length
    const waitMs = dueAt - performance.now()
    if (waitMs <= 1) {
      callback(null, chunk)
      return
    }
    sleep(waitMs).then(() => { callback(null, chunk) }, callback)
  }
}

export async function startBenchUpstream (options: BenchUpstreamOptions): Promise<BenchUpstream> {
  const counts = new Map<string, number>()

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const route = ROUTE.exec(path)
    if (route === null || route[1] !== route[2] || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(route === null ? 404 : 405, { 'content-length': 0 })
      res.end()
      return
    }
    const slow = route[1] === 'slow'
    const object = slow ? options.slow : options.big
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=86400',
      etag: object.etag,
      'last-modified': object.lastModified
    }
    if (req.headers['if-none-match'] === object.etag) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    let range: ByteRange | null | undefined
    const ifRange = req.headers['if-range']
    if (req.headers.range !== undefined && (ifRange === undefined || ifRange === object.etag)) {
      range = parseRange(req.headers.range, object.size)
    }
    if (range === null) {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${object.size}`, 'content-length': 0 })
      res.end()
      return
    }
    const start = range?.start ?? 0
    const end = range?.end ?? object.size - 1
    if (range === undefined) {
      res.writeHead(200, { ...headers, 'content-length': object.size })
    } else {
      res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${object.size}` })
    }
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    const body = createReadStream(object.file, { start, end, highWaterMark: slow ? SLOW_CHUNK_BYTES : FAST_CHUNK_BYTES })
    if (slow) {
      await pipeline(body, new Pacer(options.slowBytesPerSec), res)
    } else {
      await pipeline(body, res)
    }
  }

  const server = createServer({ key: options.pki.key, cert: options.pki.cert, keepAliveTimeout: 60_000 }, (req, res) => {
    // A client that goes away mid-body rejects the pipeline; that is the client's business.
    handle(req, res).catch(() => { res.destroy() })
  })
  const port = await listenOnLoopback(server)
  return {
    port,
    origin: `127.0.0.1:${port}`,
    requestCount: (path) => counts.get(path) ?? 0,
    close: async () => { await closeServer(server) }
  }
}

/** Listens on 127.0.0.1 at a free port (benchmarks stay on loopback) and returns the port. */
export async function listenOnLoopback (server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  return (server.address() as AddressInfo).port
}

/** Closes a server now, keep-alive connections included. */
export async function closeServer (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
}
