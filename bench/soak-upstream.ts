import { createCipheriv, createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { BenchPki } from './pki.js'
import { closeServer, listenOnLoopback } from './upstream.js'

// The origin of the soak (bench/soak.ts): a node:https server on 127.0.0.1 serving a bounded
// corpus of objects `/soak/<i>.bin`, each a slice of one in-memory pool of incompressible bytes,
// so thousands of objects cost 64 MiB and no disk. The query is ignored: the soak makes a new
// cache key for the same bytes by adding `?n=<counter>`, which keeps every miss a real miss.
// Range is ignored too (a 200 is always allowed, RFC 9110 §14.2): the soak asks dsmirror for
// ranges, never the upstream.

const POOL_BYTES = 64 * 1024 * 1024
const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString()
const ROUTE = /^\/soak\/(\d+)\.bin$/

export interface SoakObject {
  index: number
  path: string
  size: number
  bytes: Buffer
  sha256: string
}

export interface SoakCorpus {
  objects: SoakObject[]
  get: (index: number) => SoakObject
}

/** A deterministic PRNG (mulberry32): the same corpus in every run. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` objects with sizes log-uniform in [minBytes, maxBytes]. */
export function makeCorpus (count: number, minBytes: number, maxBytes: number): SoakCorpus {
  const key = createHash('sha256').update('dsmirror-soak').digest()
  const pool = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32)).update(Buffer.alloc(POOL_BYTES))
  const random = seededRandom(5)
  const objects: SoakObject[] = []
  for (let index = 0; index < count; index++) {
    const size = Math.round(Math.exp(Math.log(minBytes) + random() * (Math.log(maxBytes) - Math.log(minBytes))))
    const offset = Math.floor(random() * (POOL_BYTES - size))
    const bytes = pool.subarray(offset, offset + size)
    objects.push({ index, path: `/soak/${index}.bin`, size, bytes, sha256: createHash('sha256').update(bytes).digest('hex') })
  }
  return {
    objects,
    get: (index) => {
      const object = objects[index]
      if (object === undefined) throw new RangeError(`no soak object ${index}`)
      return object
    }
  }
}

export interface SoakUpstream {
  origin: string
  requests: () => number
  close: () => Promise<void>
}

export async function startSoakUpstream (pki: BenchPki, corpus: SoakCorpus): Promise<SoakUpstream> {
  let requests = 0
  function handle (req: IncomingMessage, res: ServerResponse): void {
    requests++
    const match = ROUTE.exec((req.url ?? '/').split('?')[0] ?? '/')
    const object = match === null ? undefined : corpus.objects[Number(match[1])]
    if (object === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(object === undefined ? 404 : 405, { 'content-length': 0 })
      res.end()
      return
    }
    const etag = `"${object.sha256.slice(0, 16)}"`
    const headers = {
      'content-type': 'application/octet-stream',
      'cache-control': 'public, max-age=86400',
      etag,
      'last-modified': LAST_MODIFIED
    }
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    res.writeHead(200, { ...headers, 'content-length': object.size })
    res.end(req.method === 'HEAD' ? undefined : object.bytes)
  }
  const server = createServer({ key: pki.key, cert: pki.cert, keepAliveTimeout: 60_000 }, handle)
  const port = await listenOnLoopback(server)
  return {
    origin: `127.0.0.1:${port}`,
    requests: () => requests,
    close: async () => { await closeServer(server) }
  }
}
