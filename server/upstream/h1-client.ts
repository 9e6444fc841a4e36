// The cold path's HTTP/1.1 client (issue 14): GET over a TLS (or, for an http:// origin, TCP)
// socket read with `onread` into one buffer per connection, the body handed to the download as
// views of that buffer.
//
// Why not undici here: a cold miss's largest cost is fresh memory. Node's TLS socket, read as a
// stream (which undici does), allocates a new ArrayBuffer for every 16 KiB record, and those
// buffers escape to every consumer, so they cannot be recycled (bench/tls-receive.ts: 'data'
// against 'reused'). Read with `onread`, the records land in one reused buffer, and the download
// copies each view synchronously into its own recycled slabs (download.ts). Everything else
// (the egress proxy, POST, HEAD, pass-through) stays on undici; Upstream.request picks this client
// only for the download's GETs to origins reached directly, and follows redirects for both in one
// place. A plain TCP socket allocates per read too (64 KiB), so http:// origins use it as well.
//
// Connections are kept alive per origin like undici's Agent: a connection is reused only after a
// response that was complete, framed and followed by nothing; a reused one that closes before
// any byte of the answer is retried once on a new connection (the request is a GET).
import net, { isIP, type LookupFunction, type OnReadOpts, type Socket } from 'node:net'
import diagnostics from 'node:diagnostics_channel'
import { Readable } from 'node:stream'
import tls, { type SecureContext } from 'node:tls'
import { ResponseParser, TOKEN, type ResponseHead } from './h1-parser.js'

/** One read's worth: what the socket (TLS or TCP) hands over at most per `onread` call. */
const READ_BUFFER_BYTES = 64 * 1024

export interface H1ClientOptions {
  secureContext: SecureContext
  lookup: LookupFunction
  timeouts: { connect: number; headers: number; idle: number }
  keepAliveMs: number
  maxHeaderBytes: number
}

export interface H1Response {
  status: number
  headers: ResponseHead['headers']
  body: UpstreamBody
}

/** A failure of the connection, with a Node-style code mapUpstreamError reads (ETIMEDOUT, ECONNRESET). */
class H1SocketError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

/**
 * Each new connection as `{ socket }`, a TLS one once its handshake verified (undici's
 * 'undici:client:connected' for its own).
 */
export const connectedChannel = diagnostics.channel('dsmirror:cold-path:connected')

/** A reused connection that closed before answering: the server had dropped it while idle. */
class StaleConnection extends Error {}

const CRLF_OR_NUL = /[\r\n\0]/

export class H1Client {
  readonly #opts: H1ClientOptions
  readonly #idle = new Map<string, Connection[]>()
  #closed = false

  constructor (opts: H1ClientOptions) {
    this.#opts = opts
  }

  /** GET `url` (https or http, no redirect following). Rejects with errors mapUpstreamError maps. */
  async get (url: URL, headers: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<H1Response> {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`h1-client: only https and http URLs, not '${url.protocol}'`)
    const head = requestHead(url, headers)
    const key = url.origin
    for (;;) {
      signal?.throwIfAborted()
      const reused = this.#takeIdle(key)
      const conn = reused ?? await this.#connect(url, key, signal)
      try {
        return await conn.exchange(head, this.#opts, signal, reused !== null, (c) => { this.#release(c) })
      } catch (err: unknown) {
        if (!(err instanceof StaleConnection)) throw err
      }
    }
  }

  /** Closes the idle connections; requests in flight finish on theirs. */
  close (): void {
    this.#closed = true
    for (const list of this.#idle.values()) for (const conn of list) conn.socket.destroy()
    this.#idle.clear()
  }

  #takeIdle (key: string): Connection | null {
    const list = this.#idle.get(key)
    for (let conn = list?.pop(); conn !== undefined; conn = list?.pop()) {
      conn.leaveIdle()
      if (!conn.socket.destroyed) return conn
    }
    return null
  }

  #release (conn: Connection): void {
    if (this.#closed) {
      conn.socket.destroy()
      return
    }
    const list = this.#idle.get(conn.key) ?? []
    this.#idle.set(conn.key, list)
    list.push(conn)
    conn.enterIdle(this.#opts.keepAliveMs, () => {
      const i = list.indexOf(conn)
      if (i !== -1) list.splice(i, 1)
      if (list.length === 0 && this.#idle.get(conn.key) === list) this.#idle.delete(conn.key)
    })
  }

  #connect (url: URL, key: string, signal?: AbortSignal): Promise<Connection> {
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const conn = new Connection(key)
    const secure = url.protocol === 'https:'
    return new Promise<Connection>((resolve, reject) => {
      const onread: OnReadOpts = { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: (n: number, buf: Uint8Array) => conn.onRead(n, buf as Buffer) }
      const common = { host, port: url.port === '' ? (secure ? 443 : 80) : Number(url.port), lookup: this.#opts.lookup, onread }
      const socket = secure
        // `onread` is net's option, which tls.connect passes on (its types leave it out).
        ? tls.connect({
          ...common,
          // SNI and the name checked against the certificate; an IP literal is checked as one.
          ...(isIP(host) === 0 ? { servername: host } : {}),
          secureContext: this.#opts.secureContext
        } satisfies tls.ConnectionOptions & { onread: OnReadOpts })
        : net.connect(common)
      conn.attach(socket)
      const fail = (err: unknown): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.destroy()
        reject(err)
      }
      const onAbort = (): void => { fail(signal?.reason) }
      const timer = setTimeout(() => { fail(new H1SocketError('ETIMEDOUT', `connect timed out after ${this.#opts.timeouts.connect} ms`)) }, this.#opts.timeouts.connect)
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('error', fail)
        if (connectedChannel.hasSubscribers) connectedChannel.publish({ socket })
        resolve(conn)
      })
      socket.once('error', fail)
    })
  }
}

/** The request head: validated like undici validates, Host first, keep-alive asked for. */
function requestHead (url: URL, headers: Readonly<Record<string, string>>): Buffer {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (lower === 'host' || lower === 'connection') continue
    if (!TOKEN.test(name) || CRLF_OR_NUL.test(value)) throw new TypeError(`h1-client: invalid request header '${name}'`)
    head += `${name}: ${value}\r\n`
  }
  return Buffer.from(`${head}\r\n`, 'latin1')
}

/** One kept-alive connection (TLS, or TCP for http://); at most one exchange on it at a time. */
class Connection {
  readonly key: string
  socket!: Socket
  #current: Exchange | null = null
  #idleTimer: NodeJS.Timeout | null = null
  #onIdleEnd: (() => void) | null = null

  constructor (key: string) {
    this.key = key
  }

  attach (socket: Socket): void {
    this.socket = socket
    socket.on('error', (err) => { this.#current?.socketError(err) })
    socket.on('close', () => {
      this.#leave()
      this.#current?.closed()
    })
  }

  /** net's `onread` callback; flow control is the socket's pause() and resume(), so always true. */
  onRead (nread: number, buf: Buffer): boolean {
    const current = this.#current
    // Bytes on an idle connection answer nothing that was asked: it cannot be trusted again.
    if (current === null) this.socket.destroy()
    else current.receive(buf.subarray(0, nread))
    return true
  }

  exchange (head: Buffer, opts: H1ClientOptions, signal: AbortSignal | undefined, reused: boolean, release: (c: Connection) => void): Promise<H1Response> {
    return new Promise<H1Response>((resolve, reject) => {
      this.socket.ref()
      const current = new Exchange(this, opts, signal, reused, resolve, reject, () => {
        this.#current = null
        release(this)
      })
      this.#current = current
      // Aborted between the connect and now: its 'abort' event has already fired.
      if (signal?.aborted === true) current.fail(signal.reason)
      else this.socket.write(head)
    })
  }

  enterIdle (ms: number, onEnd: () => void): void {
    this.#onIdleEnd = onEnd
    this.socket.unref()
    // A connection paused for a slow reader still has to notice the server closing it.
    this.socket.resume()
    this.#idleTimer = setTimeout(() => { this.socket.destroy() }, ms).unref()
  }

  leaveIdle (): void {
    this.#leave()
  }

  #leave (): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    const onEnd = this.#onIdleEnd
    this.#onIdleEnd = null
    onEnd?.()
  }
}

/** One request and its response on a connection. */
class Exchange {
  readonly #conn: Connection
  readonly #opts: H1ClientOptions
  readonly #signal: AbortSignal | undefined
  readonly #reused: boolean
  readonly #parser: ResponseParser
  #resolve: ((res: H1Response) => void) | null
  readonly #reject: (err: unknown) => void
  readonly #done: () => void
  #body: UpstreamBody | null = null
  #head: ResponseHead | null = null
  #timer: NodeJS.Timeout | null
  #paused = false
  #finished = false
  readonly #onAbort = (): void => { this.fail(this.#signal?.reason) }

  constructor (conn: Connection, opts: H1ClientOptions, signal: AbortSignal | undefined, reused: boolean,
    resolve: (res: H1Response) => void, reject: (err: unknown) => void, done: () => void) {
    this.#conn = conn
    this.#opts = opts
    this.#signal = signal
    this.#reused = reused
    this.#resolve = resolve
    this.#reject = reject
    this.#done = done
    this.#parser = new ResponseParser({
      onHead: (h) => { this.#onHead(h) },
      onBody: (view) => { this.#body?.segment(view) },
      onEnd: () => { this.#onEnd() }
    }, opts.maxHeaderBytes)
    this.#timer = setTimeout(() => {
      this.fail(new H1SocketError('ETIMEDOUT', `no response head within ${opts.timeouts.headers} ms`))
    }, opts.timeouts.headers)
    signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  receive (view: Buffer): void {
    if (this.#finished) return
    if (!this.#paused && this.#head !== null) this.#timer?.refresh()
    try {
      this.#parser.execute(view)
    } catch (err: unknown) {
      this.fail(err)
      return
    }
    if (this.#parser.done) this.#complete()
  }

  pause (): void {
    // A finished exchange's connection may already serve another request, or idle in the pool:
    // its body's backlog is copies, and the socket is no longer this exchange's to pause.
    if (this.#finished) return
    this.#paused = true
    if (this.#timer !== null && this.#head !== null) clearTimeout(this.#timer)
    this.#conn.socket.pause()
  }

  resume (): void {
    if (!this.#paused || this.#finished) return
    this.#paused = false
    if (this.#head !== null) this.#timer = this.#idleTimer()
    this.#conn.socket.resume()
  }

  /** The body's consumer let go before its end: the connection goes with it. */
  abandon (): void {
    if (this.#finished) return
    this.#end()
    this.#conn.socket.destroy()
  }

  fail (err: unknown): void {
    if (this.#finished) return
    this.#end()
    this.#conn.socket.destroy()
    if (this.#resolve !== null) this.#reject(err)
    // As undici does: whoever reads the body hears of it; nobody reading must not crash the process.
    else this.#body?.on('error', () => {}).destroy(err instanceof Error ? err : new Error(String(err)))
  }

  /** A reset or TLS error on the socket: on a reused connection that never answered, a stale one. */
  socketError (err: Error): void {
    if (this.#staleRetry()) return
    this.fail(err)
  }

  /** The socket closed: the end of a close-delimited body, or a response cut short. */
  closed (): void {
    if (this.#finished || this.#staleRetry()) return
    this.#parser.finish()
    if (this.#parser.done) {
      this.#complete()
      return
    }
    this.fail(new H1SocketError('ECONNRESET', this.#head === null ? 'the upstream closed the connection before answering' : 'the upstream closed the connection before the end of the body'))
  }

  #staleRetry (): boolean {
    if (this.#finished || this.#parser.started || !this.#reused) return false
    this.#end()
    this.#conn.socket.destroy()
    this.#reject(new StaleConnection('a kept-alive connection closed before answering'))
    return true
  }

  #idleTimer (): NodeJS.Timeout {
    return setTimeout(() => {
      this.fail(new H1SocketError('ETIMEDOUT', `no body bytes for ${this.#opts.timeouts.idle} ms`))
    }, this.#opts.timeouts.idle)
  }

  #onHead (head: ResponseHead): void {
    this.#head = head
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = this.#idleTimer()
    this.#body = new UpstreamBody(this)
    const resolve = this.#resolve
    this.#resolve = null
    resolve?.({ status: head.status, headers: head.headers, body: this.#body })
  }

  #onEnd (): void {
    this.#body?.segmentsEnd()
  }

  #complete (): void {
    if (this.#finished) return
    this.#end()
    const reusable = this.#head?.keepAlive === true && !this.#parser.trailingBytes && !this.#conn.socket.destroyed
    if (reusable) this.#done()
    else this.#conn.socket.destroy()
  }

  #end (): void {
    this.#finished = true
    this.#parser.stop()
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#signal?.removeEventListener('abort', this.#onAbort)
  }
}

/**
 * A response body. As a Readable (what every consumer but the download's pump uses) it pushes a
 * copy of each piece. each() hands `onChunk` the pieces as views of the connection's read buffer,
 * valid only until `onChunk` returns: the cold path copies them into its slabs right there.
 */
export class UpstreamBody extends Readable {
  readonly #exchange: Exchange
  #sink: ((chunk: Buffer) => void | Promise<void>) | null = null
  #waiting = false
  /** Pieces that arrived while `onChunk`'s promise was pending: copied, delivered in order after it. */
  #backlog: Buffer[] = []
  #ended = false
  /** Destroyed before its end, or with an error: nothing more is delivered. */
  #failed = false
  #pushedEnd = false
  #settle: { resolve: () => void; reject: (err: unknown) => void } | null = null

  constructor (exchange: Exchange) {
    // One read's worth buffered before the socket is paused, not Readable's default 16 KiB.
    super({ highWaterMark: READ_BUFFER_BYTES })
    this.#exchange = exchange
  }

  /** @internal From the parser, inside the socket's read callback. */
  segment (view: Buffer): void {
    if (this.destroyed) return
    if (this.#sink === null) {
      if (!this.push(Buffer.from(view))) this.#exchange.pause()
      return
    }
    if (this.#waiting) {
      this.#backlog.push(Buffer.from(view))
      return
    }
    this.#feed(view)
  }

  /** @internal The last byte arrived. */
  segmentsEnd (): void {
    this.#ended = true
    if (this.#sink === null) this.#pushEnd()
    else if (!this.#waiting && this.#backlog.length === 0) this.#finishSink()
  }

  /**
   * Calls `onChunk` with each piece in order, never again while a promise it returned is pending.
   * Resolves at the end; rejects (destroying the body) on the first error, premature close included.
   */
  async each (onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      // Errors now reach the caller as this rejection, not as an 'error' nobody listens to.
      this.on('error', () => {})
      if (this.errored !== null || (this.destroyed && !this.#ended)) {
        reject(this.errored ?? new H1SocketError('ECONNRESET', 'the body was closed before it was read'))
        return
      }
      this.#settle = { resolve, reject }
      // What was pushed before (a first chunk read as a stream) comes first, as it is. A body
      // already read to its end as a stream is destroyed (autoDestroy) with nothing left.
      if (!this.destroyed) for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) this.#backlog.push(chunk)
      this.#sink = onChunk
      this.#drained()
    })
  }

  override _read (): void {
    this.#exchange.resume()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#exchange.abandon()
    // A body received to its end is destroyed once read as a stream (autoDestroy) while each()
    // may still be delivering what that read left: only an error or an early close fails it.
    if (err !== null || !this.#ended) {
      this.#failed = true
      const settle = this.#settle
      this.#settle = null
      settle?.reject(err ?? new H1SocketError('ECONNRESET', 'the body was closed before its end'))
    }
    callback(err)
  }

  #feed (view: Buffer): void {
    const sink = this.#sink
    if (sink === null) return
    let pending: void | Promise<void>
    try {
      pending = sink(view)
    } catch (err: unknown) {
      this.#fail(err)
      return
    }
    if (pending === undefined) return
    this.#waiting = true
    this.#exchange.pause()
    pending.then(() => { this.#drained() }, (err: unknown) => { this.#fail(err) })
  }

  /**
   * `onChunk` failed: each() rejects with its error. Not through destroy() alone: a body already
   * destroyed at its clean end (autoDestroy) ignores a second destroy, and each() would never settle.
   */
  #fail (err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#failed = true
    const settle = this.#settle
    this.#settle = null
    settle?.reject(error)
    this.destroy(error)
  }

  #drained (): void {
    this.#waiting = false
    while (!this.#waiting && !this.#failed) {
      const next = this.#backlog.shift()
      if (next === undefined) break
      this.#feed(next)
    }
    if (this.#waiting || this.#failed) return
    if (this.#ended) this.#finishSink()
    else this.#exchange.resume()
  }

  #finishSink (): void {
    const settle = this.#settle
    this.#settle = null
    if (settle === null) return
    // Ended as a stream too, for anyone waiting on 'end' or finished().
    if (!this.destroyed) {
      this.#pushEnd()
      this.resume()
    }
    settle.resolve()
  }

  #pushEnd (): void {
    if (this.#pushedEnd) return
    this.#pushedEnd = true
    this.push(null)
  }
}
