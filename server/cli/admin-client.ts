// The CLI's side of a running dsmirror server: which server to talk to, whether it answers, its
// admin API (JSON, with admin.token as a bearer token when one is set) and plain mirror GETs that
// are drained with progress (that is how `dsmirror prefetch` warms the cache: the normal path).
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { DsmirrorConfig } from '../../config/schema.js'
import { AdminServerUnreachableError, isDsmError } from '../errors.js'

/** How long `dsmirror cache` waits for /_/healthz before it works on the directory itself. */
export const PROBE_TIMEOUT_MS = 1_500
/** Error bodies are read up to this size for their DSM code. */
const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The server named by --server, else the config's listen.http (a wildcard address asked on loopback); null when neither gives one. */
export function defaultServer (config: Pick<DsmirrorConfig, 'listen'>, server: string | undefined): string | null {
  if (server !== undefined) return server.replace(/\/+$/, '')
  const listen = config.listen.http
  if (listen === false || listen.port === 0) return null
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`
}

export interface AdminClientOptions {
  server: string
  /** admin.token: sent as a bearer token on admin API calls when set; never printed. */
  token: string | null
}

export interface ApiAnswer<T> {
  status: number
  body: T
}

export interface DrainResult {
  status: number
  /** Bytes received. */
  bytes: number
  /** Content-Length, when the server sent one. */
  size: number | null
  cacheStatus: string | null
  /** For a non-200 answer: its DSM code (or `HTTP <status>`) and message. */
  error: { code: string; message: string } | null
  /** False when the body ended short of Content-Length or the connection was cut. */
  complete: boolean
}

export class AdminClient {
  readonly server: string
  readonly #token: string | null

  constructor (opts: AdminClientOptions) {
    this.server = opts.server
    this.#token = opts.token
  }

  /** True when a dsmirror server answers /_/healthz. */
  async reachable (timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
    try {
      const res = await this.#open('GET', '/_/healthz', {}, undefined, timeoutMs)
      res.resume()
      return isServerAnswer(res.statusCode)
    } catch {
      return false
    }
  }

  /** Throws DSM_ADMIN_SERVER_UNREACHABLE when no server answers. */
  async requireServer (): Promise<void> {
    try {
      const res = await this.#open('GET', '/_/healthz', {}, undefined, PROBE_TIMEOUT_MS)
      res.resume()
      if (!isServerAnswer(res.statusCode)) throw new Error(`/_/healthz answered ${res.statusCode ?? 0}`)
    } catch (err: unknown) {
      throw new AdminServerUnreachableError(this.server, err instanceof Error ? err.message : String(err))
    }
  }

  /** An admin API call; a non-2xx answer resolves too (callers print its DSM code). */
  async api<T> (method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await this.#open(method, path, headers, body === undefined ? undefined : Buffer.from(JSON.stringify(body)))
    const text = (await readAll(res, Infinity)).toString('utf8')
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = { code: `HTTP_${res.statusCode ?? 0}`, error: text.slice(0, 200) }
    }
    return { status: res.statusCode ?? 0, body: parsed as T }
  }

  /** GETs a mirror path through the server and discards the body, reporting bytes as they arrive. */
  async drain (path: string, onBytes: (received: number, size: number | null) => void, extraHeaders: Record<string, string> = {}): Promise<DrainResult> {
    const res = await this.#open('GET', path, { ...extraHeaders, 'accept-encoding': 'identity' })
    const status = res.statusCode ?? 0
    const cacheStatus = headerText(res.headers['cache-status'])
    if (status !== 200) {
      const text = (await readAll(res, MAX_ERROR_BODY_BYTES)).toString('utf8')
      return { status, bytes: 0, size: null, cacheStatus, error: errorOf(status, text), complete: true }
    }
    const length = headerText(res.headers['content-length'])
    const size = length !== null && /^\d+$/.test(length) ? Number(length) : null
    let bytes = 0
    onBytes(0, size)
    const complete = await new Promise<boolean>((resolve) => {
      let failed = false
      res.on('data', (chunk: Buffer) => { bytes += chunk.length; onBytes(bytes, size) })
      // A cut connection is how dsmirror says a download failed (never a clean short end).
      res.on('aborted', () => { failed = true })
      res.on('error', () => { failed = true })
      res.on('close', () => { resolve(!failed && res.complete && (size === null || bytes === size)) })
    })
    return { status, bytes, size, cacheStatus, error: null, complete }
  }

  /**
   * A GET of a mirror path read as JSON, without the admin token (the Hugging Face mode forwards
   * Authorization to the Hub: only `headers` given here are sent).
   */
  async getJson (path: string, headers: Record<string, string> = {}): Promise<{ status: number, link: string | null, body: unknown, text: string }> {
    const res = await this.#open('GET', path, { ...headers, accept: 'application/json' })
    const text = (await readAll(res, Infinity)).toString('utf8')
    let body: unknown = null
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: res.statusCode ?? 0, link: headerText(res.headers.link), body, text }
  }

  async #open (method: string, path: string, headers: Record<string, string>, body?: Buffer, timeoutMs?: number): Promise<IncomingMessage> {
    const url = new URL(this.server + path)
    const client = url.protocol === 'https:' ? https : http
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = client.request(url, { method, headers, agent: false }, resolve)
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => { req.destroy(new Error(`no answer within ${timeoutMs} ms`)) })
      req.on('error', reject)
      req.end(body)
    })
  }
}

/** The DSM code and message of an error answer, or `HTTP <status>` for answers that are not dsmirror's own (an upstream 404). */
export function errorOf (status: number, text: string): { code: string; message: string } {
  try {
    const parsed = JSON.parse(text) as { code?: unknown; error?: unknown }
    if (typeof parsed.code === 'string' && parsed.code.startsWith('DSM_')) return { code: parsed.code, message: typeof parsed.error === 'string' ? parsed.error : '' }
  } catch {}
  return { code: `HTTP ${status}`, message: status === 404 ? 'the upstream has no such file' : `the server answered ${status}` }
}

/** The message to print for a failed call, with its code when it has one. */
export function describeError (err: unknown): string {
  if (isDsmError(err)) return `${err.code}: ${err.message}`
  return err instanceof Error ? err.message : String(err)
}

async function readAll (res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (total < limit) chunks.push(chunk)
    total += chunk.length
  }
  return Buffer.concat(chunks)
}

function headerText (value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/** 200, or 503 from a running server whose cache directory cannot be written: it still answers the admin API. */
function isServerAnswer (status: number | undefined): boolean {
  return status === 200 || status === 503
}
