// A scriptable upstream: a real node:https server on 127.0.0.1:0 (certificate from the test PKI
// unless given) that serves registered objects and misbehaves on request, the way dataset hosts
// do: slow bodies, resets mid-body, stalls, ignored or stalled Range requests, lying
// Content-Length, redirects. It records every request and counts TCP connections, so a test
// proves caching by counting upstream requests (STYLE.md "Tests").
//
// Spec order follows @fastify/send: method, redirect, status override, conditional
// (If-None-Match / If-Modified-Since -> 304), Range with If-Range (RFC 9110 §13.1.5, §14), HEAD.
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { getTestPki, type KeyPairPem } from './pki.js'

export interface UpstreamObject {
  body: Buffer
  /** Default 200. Any other status is sent as is, with `body`, without Range or conditionals. */
  status?: number
  /** Extra or overriding response headers (cache-control, content-type, set-cookie ...). */
  headers?: Record<string, string>
  /** Default: strong `"<sha256 hex first 16>"`; false: no ETag. */
  etag?: string | false
  /** Default: DEFAULT_LAST_MODIFIED; false: no Last-Modified. */
  lastModified?: string | false
  /** Pace the body: chunkSize writes spaced so the rate is about this many bytes per second. */
  throttleBytesPerSec?: number
  /** Default 64 KiB. */
  chunkSize?: number
  /**
   * For the Nth GET of this path (N = index), destroy the socket after sending that many BODY
   * bytes of the response. GETs beyond the list are not cut.
   */
  cutAt?: number[]
  /**
   * For the Nth GET of this path (N = index), end the response cleanly after that many BODY bytes:
   * with `contentLength: 'omit'` a chunked body whose terminator comes early looks complete.
   */
  endAt?: number[]
  /** Answer 200 with the full body even to Range requests (servers without range support). */
  ignoreRange?: boolean
  /** Send this many body bytes, then nothing more; the socket stays open until close(). */
  stallAfter?: number
  /** Range requests get 206 headers and then nothing. */
  stallRanged?: boolean
  /** Lie about Content-Length (the connection is closed after the body), or omit it (chunked). */
  contentLength?: number | 'omit'
  /** Answer 302 with this Location (absolute or relative); two objects pointing at each other make a loop. */
  redirectTo?: string
  /** Answer a GET without Range with 206 and a whole-body Content-Range (a broken CDN). */
  answer206ToGet?: boolean
}

export interface UpstreamRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
}

export interface Upstream {
  /** https://127.0.0.1:<port> */
  origin: string
  /** 127.0.0.1:<port> */
  host: string
  port: number
  /** Registers (or replaces) the object at `path`, which includes the query if any: '/a/b.bin?x=1'. */
  set: (path: string, obj: UpstreamObject) => void
  /** Every request received, in order. */
  requests: UpstreamRequest[]
  /** Requests seen, optionally only for one path and/or method. */
  count: (path?: string, method?: string) => number
  /** TCP connections accepted (counted before the TLS handshake). */
  readonly connections: number
  /** Ends everything: stops listening, destroys open and stalled sockets, cancels timers. */
  close: () => Promise<void>
}

export interface StartUpstreamOptions {
  /** Server certificate and key (default: the test leaf); `ca` is passed to the server too. */
  tls?: KeyPairPem & { ca?: string }
  /** Listen address, default '127.0.0.1'. */
  host?: string
}

export const DEFAULT_LAST_MODIFIED = 'Wed, 01 Jan 2025 00:00:00 GMT'
export const DEFAULT_CHUNK_BYTES = 64 * 1024

/** The default ETag of `body`: strong, from its sha256. */
export function defaultEtag (body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`
}

/** Starts an upstream on an ephemeral port. */
export async function startUpstream (opts: StartUpstreamOptions = {}): Promise<Upstream> {
  const tls: KeyPairPem & { ca?: string } = opts.tls ?? (await getTestPki()).leaf
  const listenHost = opts.host ?? '127.0.0.1'
  const objects = new Map<string, UpstreamObject>()
  const etags = new Map<UpstreamObject, string>()
  const getCounts = new Map<string, number>()
  const requests: UpstreamRequest[] = []
  const sockets = new Set<Socket>()
  const closing = new AbortController()
  let connections = 0

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem, ...(tls.ca === undefined ? {} : { ca: tls.ca }) })
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    // Resets are part of the script; they must not crash the test process.
    socket.on('error', () => {})
  })
  // A client that rejects our certificate is a normal negative test, not an error here.
  server.on('tlsClientError', () => {})

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    requests.push({ method, path, headers: req.headers })
    res.on('error', () => {})
    let getIndex = -1
    if (method === 'GET') {
      getIndex = getCounts.get(path) ?? 0
      getCounts.set(path, getIndex + 1)
    }
    const obj = objects.get(path)
    if (obj === undefined) {
      sendPlain(res, 404, `no object at ${path}\n`)
      return
    }
    if (method !== 'GET' && method !== 'HEAD') {
      sendPlain(res, 405, `${method} is not allowed\n`, { allow: 'GET, HEAD' })
      return
    }
    let etag = etags.get(obj)
    if (etag === undefined) {
      etag = obj.etag === false ? '' : obj.etag ?? defaultEtag(obj.body)
      etags.set(obj, etag)
    }
    serve(req, res, obj, { method, etag, cutAfter: getIndex >= 0 ? obj.cutAt?.[getIndex] : undefined, endAfter: getIndex >= 0 ? obj.endAt?.[getIndex] : undefined })
  })

  function serve (req: IncomingMessage, res: ServerResponse, obj: UpstreamObject, ctx: { method: string, etag: string, cutAfter: number | undefined, endAfter?: number | undefined }): void {
    const size = obj.body.length
    const lastModified = obj.lastModified === false ? undefined : obj.lastModified ?? DEFAULT_LAST_MODIFIED
    const validators: OutgoingHttpHeaders = {}
    if (ctx.etag !== '') validators.etag = ctx.etag
    if (lastModified !== undefined) validators['last-modified'] = lastModified

    if (obj.redirectTo !== undefined) {
      sendPlain(res, 302, `see ${obj.redirectTo}\n`, { location: obj.redirectTo, ...obj.headers })
      return
    }
    const status = obj.status ?? 200
    if (status !== 200) {
      send(res, status, { 'content-type': 'application/octet-stream', ...validators, ...obj.headers }, obj, 0, size, ctx)
      return
    }
    if (isNotModified(req, ctx.etag, lastModified)) {
      res.writeHead(304, { ...validators, ...obj.headers })
      res.end()
      return
    }

    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      ...validators
    }
    const range = obj.ignoreRange === true || !ifRangeMatches(req, ctx.etag, lastModified)
      ? undefined
      : parseRange(req.headers.range, size)
    if (range === 'unsatisfiable') {
      sendPlain(res, 416, 'range not satisfiable\n', { ...headers, 'content-range': `bytes */${size}`, ...obj.headers })
      return
    }
    if (range !== undefined) {
      headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${size}`
      if (obj.stallRanged === true) {
        res.writeHead(206, { ...headers, 'content-length': String(range.end - range.start), ...obj.headers })
        res.flushHeaders()
        return
      }
      send(res, 206, { ...headers, ...obj.headers }, obj, range.start, range.end, ctx)
      return
    }
    if (obj.answer206ToGet === true) {
      send(res, 206, { ...headers, 'content-range': `bytes 0-${size - 1}/${size}`, ...obj.headers }, obj, 0, size, ctx)
      return
    }
    send(res, 200, { ...headers, ...obj.headers }, obj, 0, size, ctx)
  }

  /** Writes headers and body[start, end), applying contentLength, HEAD, throttle, cut and stall. */
  function send (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, obj: UpstreamObject, start: number, end: number, ctx: { method: string, cutAfter: number | undefined, endAfter?: number | undefined }): void {
    const out = { ...headers }
    const length = end - start
    if (obj.contentLength === 'omit') {
      delete out['content-length']
    } else if (typeof obj.contentLength === 'number') {
      out['content-length'] = String(obj.contentLength)
      // After a lie about the length the connection cannot be reused; a real server would close it.
      if (obj.contentLength !== length) out.connection = 'close'
    } else {
      out['content-length'] ??= String(length)
    }
    res.writeHead(status, out)
    if (ctx.method === 'HEAD') {
      res.end()
      return
    }
    res.flushHeaders()
    void writeBody(res, obj.body.subarray(start, end), {
      chunkSize: obj.chunkSize ?? DEFAULT_CHUNK_BYTES,
      bytesPerSec: obj.throttleBytesPerSec,
      cutAfter: ctx.cutAfter,
      stallAfter: obj.stallAfter,
      endAfter: ctx.endAfter
    })
  }

  async function writeBody (res: ServerResponse, body: Buffer, o: { chunkSize: number, bytesPerSec: number | undefined, cutAfter: number | undefined, stallAfter: number | undefined, endAfter?: number | undefined }): Promise<void> {
    // The first of cut / stall / early end / end of body decides where the writing stops.
    const stopAt = Math.min(body.length, o.cutAfter ?? Infinity, o.stallAfter ?? Infinity, o.endAfter ?? Infinity)
    const started = Date.now()
    let sent = 0
    try {
      while (sent < stopAt) {
        if (res.destroyed || closing.signal.aborted) return
        const chunk = body.subarray(sent, Math.min(sent + o.chunkSize, stopAt))
        sent += chunk.length
        await write(res, chunk)
        if (o.bytesPerSec !== undefined && o.bytesPerSec > 0 && sent < stopAt) {
          const due = started + (sent / o.bytesPerSec) * 1000
          const wait = due - Date.now()
          if (wait > 0) await sleep(wait, undefined, { signal: closing.signal })
        }
      }
      if (o.cutAfter !== undefined && o.cutAfter <= stopAt && o.cutAfter < body.length) {
        // write() resolved only once the bytes reached the socket, so they are on the wire
        // before the reset; the client sees exactly cutAfter body bytes.
        res.socket?.destroy()
        return
      }
      // Stalled: leave the socket open, unanswered, until close().
      if (stopAt < body.length && stopAt !== o.endAfter) return
      res.end()
    } catch {
      // Aborted by close() or the client went away: nothing left to do for this response.
      res.destroy()
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, listenHost, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('upstream: no TCP address')
  const port = address.port
  const host = `${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`

  return {
    origin: `https://${host}`,
    host,
    port,
    requests,
    get connections () { return connections },
    set (path: string, obj: UpstreamObject): void {
      if (!path.startsWith('/')) throw new TypeError(`upstream.set: path must start with '/', got '${path}'`)
      objects.set(path, obj)
    },
    count (path?: string, method?: string): number {
      return requests.filter((r) => (path === undefined || r.path === path) && (method === undefined || r.method === method)).length
    },
    async close (): Promise<void> {
      closing.abort()
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      for (const socket of sockets) socket.destroy()
      await closed
    }
  }
}

/** Writes a chunk and resolves once it is handed to the socket; waits for 'drain' under backpressure. */
async function write (res: ServerResponse, chunk: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onClose = (): void => { reject(new Error('response closed')) }
    res.once('close', onClose)
    res.write(chunk, (err?: Error | null) => {
      res.off('close', onClose)
      if (err != null) reject(err)
      else resolve()
    })
  })
}

function sendPlain (res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  const body = Buffer.from(text)
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** RFC 9110 §13.1.2 (weak comparison) and §13.1.3; If-None-Match wins over If-Modified-Since. */
function isNotModified (req: IncomingMessage, etag: string, lastModified: string | undefined): boolean {
  const inm = req.headers['if-none-match']
  if (inm !== undefined) {
    if (etag === '') return false
    const tags = inm.split(',').map((t) => t.trim())
    return tags.includes('*') || tags.some((t) => weak(t) === weak(etag))
  }
  const ims = req.headers['if-modified-since']
  if (ims === undefined || lastModified === undefined) return false
  const since = Date.parse(ims)
  const modified = Date.parse(lastModified)
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since
}

/**
 * RFC 9110 §13.1.5: the Range applies only if If-Range matches the current representation, with
 * a strong ETag comparison or an exact Last-Modified date; otherwise the full 200 is sent.
 */
function ifRangeMatches (req: IncomingMessage, etag: string, lastModified: string | undefined): boolean {
  const ifRange = req.headers['if-range']
  if (typeof ifRange !== 'string') return true
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) {
    return etag !== '' && !value.startsWith('W/') && !etag.startsWith('W/') && value === etag
  }
  return lastModified !== undefined && Date.parse(value) === Date.parse(lastModified)
}

function weak (tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}

/**
 * One `bytes=a-b`, `a-` or `-n` range as [start, end). A malformed header or several ranges
 * are ignored (the full 200 is allowed by RFC 9110 §14.2); a range wholly past the end is
 * 'unsatisfiable' (416, §15.5.17).
 */
function parseRange (header: string | undefined, size: number): { start: number, end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null) return undefined
  const [, first = '', last = ''] = m
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  if (last !== '' && Number(last) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size : Math.min(Number(last) + 1, size)
  return { start, end }
}
