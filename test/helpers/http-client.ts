// A plain node:http / node:https client for tests. It reports what arrived on the wire rather
// than what a library decided to do with it: a body cut mid-way resolves with `complete: false`
// (tests assert a truncated download is never passed off as whole) instead of rejecting, and
// no connection is reused between requests (agent: false), so connection counts and
// per-request TLS checks mean what they say.
//
// A failure before the response headers (refused, TLS verification, aborted by `signal`)
// rejects with Node's error, so a test can assert `err.code` (e.g. 'UNABLE_TO_VERIFY_LEAF_SIGNATURE').
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import https from 'node:https'
import { sha256 } from './bytes.js'

export { sha256 }

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  /** CAs to trust for https; replaces Node's built-in roots, like the proxy's own `ca`. */
  ca?: string | string[]
  body?: Buffer
  signal?: AbortSignal
  /** TLS SNI / hostname to verify, when it differs from the URL's host. */
  servername?: string
}

export interface ClientResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** Hex sha256 of `body`. */
  sha256: string
  /** True only when the response ended cleanly (all of Content-Length, or the last chunk). */
  complete: boolean
  /** Why the body stopped early, when `complete` is false. */
  error?: string
}

export interface OpenResponse {
  res: IncomingMessage
  req: ClientRequest
}

/** Sends one request and reads the whole response, however it ends. */
export async function request (url: string, opts: RequestOptions = {}): Promise<ClientResponse> {
  const { res } = await openResponse(url, opts)
  return await new Promise<ClientResponse>((resolve) => {
    const chunks: Buffer[] = []
    let error: string | undefined
    res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    // In Node 20 a premature close emits 'aborted' and then 'error' (ECONNRESET 'aborted');
    // both are recorded, never thrown: the caller asserts on `complete`.
    res.on('aborted', () => { error ??= 'aborted' })
    res.on('error', (err: Error) => { error ??= describe(err) })
    res.on('close', () => {
      const body = Buffer.concat(chunks)
      const complete = res.complete && error === undefined
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body,
        sha256: sha256(body),
        complete,
        ...(complete ? {} : { error: error ?? 'connection closed before the response ended' })
      })
    })
  })
}

/**
 * Sends one request and resolves as soon as the response headers arrive, with the body unread,
 * so a test can read a chunk and then `req.destroy()` (a client that gives up mid-download).
 */
export async function openResponse (url: string, opts: RequestOptions = {}): Promise<OpenResponse> {
  const target = new URL(url)
  const isHttps = target.protocol === 'https:'
  if (!isHttps && target.protocol !== 'http:') throw new TypeError(`openResponse: unsupported URL ${url}`)
  const options: https.RequestOptions = {
    method: opts.method ?? 'GET',
    headers: opts.headers,
    agent: false,
    signal: opts.signal
  }
  if (isHttps) {
    if (opts.ca !== undefined) options.ca = opts.ca
    if (opts.servername !== undefined) options.servername = opts.servername
  }
  return await new Promise<OpenResponse>((resolve, reject) => {
    const req = (isHttps ? https : http).request(target, options, (res) => { resolve({ res, req }) })
    // Before the response this rejects; after it, the response's own events carry the failure
    // and this listener only keeps an error from being unhandled.
    req.on('error', reject)
    req.end(opts.body)
  })
}

/**
 * Reads `res` until at least `bytes` arrived and resolves with them (the response stays open:
 * for a download still in flight); rejects when that takes longer than `timeoutMs`.
 */
export async function readAtLeast (res: IncomingMessage, bytes: number, timeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let received = 0
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`got ${received} of ${bytes} bytes within ${timeoutMs} ms`)) }, timeoutMs)
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
      if (received >= bytes) { clearTimeout(timer); resolve() }
    })
  })
  return Buffer.concat(chunks)
}

function describe (err: Error): string {
  const code = (err as NodeJS.ErrnoException).code
  return code === undefined ? err.message : `${code}: ${err.message}`
}
