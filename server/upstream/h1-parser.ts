// An HTTP/1.1 response parser for the cold path's own client (h1-client.ts, issue 14), strict
// about framing and handing the body out as views of the buffer it was given.
//
// Written here because no parser in reach does both: Node's llhttp binding copies every body
// piece into a new Buffer (the fresh memory a cold miss pays most for, bench/results.md), undici's
// llhttp is not a public API, and http-parser-js reads Content-Length with unary `+` and chunk sizes
// with parseInt, and takes `Transfer-Encoding: gzip, chunked` for a close-delimited body. Framing
// follows RFC 9112 §6.3; anything it does not allow is an error, never a guess: a response is
// refused, never mis-framed onto the next one on a kept-alive connection.

export interface ResponseHead {
  status: number
  statusText: string
  /** Field names lower-cased; a field sent on several lines is an array, as undici gives it. */
  headers: Record<string, string | string[]>
  /** The connection may carry another request once this response is complete. */
  keepAlive: boolean
}

export interface ParserEvents {
  onHead: (head: ResponseHead) => void
  /** A view of the buffer passed to execute(): valid only until onBody returns. */
  onBody: (view: Buffer) => void
  onEnd: () => void
}

/** A response that is not HTTP/1.1 as RFC 9112 frames it; `code` reads as llhttp's (HPE_*). */
export class ResponseParseError extends Error {
  override name = 'HTTPParserError'
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

const enum State { Head, Length, ChunkSize, ChunkData, ChunkEnd, Trailers, UntilClose, Done }

/** RFC 9110 §5.6.2 token: a field name (the request head is checked with it too). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// RFC 9110 §5.5: a field value has no control character but HT; neither has a reason phrase.
// eslint-disable-next-line no-control-regex
const FIELD_VALUE_INVALID = /[\x00-\x08\x0a-\x1f\x7f]/
// eslint-disable-next-line no-control-regex
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9]{2})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/
const DECIMAL = /^[0-9]{1,15}$/
const CHUNK_SIZE = /^([0-9a-fA-F]{1,13})[ \t]*(;.*)?$/
const NO_BODY = new Set([204, 304])

export class ResponseParser {
  readonly #events: ParserEvents
  readonly #maxHeadBytes: number
  #state = State.Head
  #line = ''
  #lineBytes = 0
  #headBytes = 0
  #lines: string[] = []
  #remaining = 0
  #stopped = false
  /** Bytes arrived after the response was complete: the connection cannot be reused. */
  trailingBytes = false
  /** The status line has begun: a close now is a broken response, not a stale connection. */
  started = false

  constructor (events: ParserEvents, maxHeadBytes: number) {
    this.#events = events
    this.#maxHeadBytes = maxHeadBytes
  }

  get done (): boolean {
    return this.#state === State.Done
  }

  /** The response is framed by the connection's close (no Content-Length, not chunked). */
  get untilClose (): boolean {
    return this.#state === State.UntilClose
  }

  /** Stops at once: no more events, whatever execute() is in the middle of. */
  stop (): void {
    this.#stopped = true
  }

  execute (buf: Buffer): void {
    let i = 0
    if (buf.length > 0) this.started = true
    while (i < buf.length && !this.#stopped) {
      switch (this.#state) {
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.#remaining, buf.length - i)
          this.#remaining -= n
          const view = buf.subarray(i, i + n)
          i += n
          if (this.#remaining === 0) this.#state = this.#state === State.Length ? State.Done : State.ChunkEnd
          this.#events.onBody(view)
          if (this.#state === State.Done && !this.#stopped) this.#events.onEnd()
          break
        }
        case State.UntilClose: {
          const view = buf.subarray(i)
          i = buf.length
          this.#events.onBody(view)
          break
        }
        case State.Done:
          this.trailingBytes = true
          return
        default:
          i = this.#readLine(buf, i)
      }
    }
  }

  /** The connection ended: completes a close-delimited body; anything else was cut short. */
  finish (): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done
      this.#events.onEnd()
    }
  }

  #readLine (buf: Buffer, from: number): number {
    const nl = buf.indexOf(10, from)
    const end = nl === -1 ? buf.length : nl
    this.#lineBytes += end - from + 1
    const limit = this.#maxHeadBytes - this.#headBytes
    if (this.#lineBytes > limit) {
      throw new ResponseParseError('HPE_HEADER_OVERFLOW', `a header section or chunk line longer than ${this.#maxHeadBytes} bytes`)
    }
    this.#line += buf.toString('latin1', from, end)
    if (nl === -1) return buf.length
    let line = this.#line
    if (line.endsWith('\r')) line = line.slice(0, -1)
    if (line.includes('\r')) throw new ResponseParseError('HPE_LF_EXPECTED', 'a bare CR in a line')
    this.#line = ''
    // The head and the trailers are bounded as a whole; each chunk-size line by itself.
    if (this.#state === State.Head || this.#state === State.Trailers) this.#headBytes += this.#lineBytes
    this.#lineBytes = 0
    this.#onLine(line)
    return nl + 1
  }

  #onLine (line: string): void {
    switch (this.#state) {
      case State.Head:
        if (line !== '') this.#lines.push(line)
        else if (this.#lines.length > 0) this.#onHead()
        // Empty lines before a status line are tolerated (RFC 9112 §2.2).
        return
      case State.ChunkSize: {
        const m = CHUNK_SIZE.exec(line)
        if (m === null) throw new ResponseParseError('HPE_INVALID_CHUNK_SIZE', `an invalid chunk size line '${line.slice(0, 40)}'`)
        this.#remaining = Number.parseInt(m[1] ?? '', 16)
        this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData
        if (this.#remaining === 0) this.#headBytes = 0
        return
      }
      case State.ChunkEnd:
        if (line !== '') throw new ResponseParseError('HPE_STRICT', 'a chunk not followed by CRLF')
        this.#state = State.ChunkSize
        return
      case State.Trailers:
        // Trailer fields are read and dropped: nothing in a trailer is stored or forwarded.
        if (line === '') {
          this.#state = State.Done
          this.#events.onEnd()
        }
    }
  }

  #onHead (): void {
    const [statusLine = '', ...fields] = this.#lines
    this.#lines = []
    const m = STATUS_LINE.exec(statusLine)
    if (m === null) throw new ResponseParseError('HPE_INVALID_CONSTANT', `an invalid status line '${statusLine.slice(0, 40)}'`)
    const minor = Number(m[1])
    const status = Number(m[2])
    const headers: Record<string, string | string[]> = {}
    for (const field of fields) {
      if (field.startsWith(' ') || field.startsWith('\t')) {
        throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', 'a folded header line (obs-fold, RFC 9112 §5.2)')
      }
      const colon = field.indexOf(':')
      const name = colon === -1 ? '' : field.slice(0, colon)
      if (!TOKEN.test(name)) throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', `an invalid header line '${field.slice(0, 40)}'`)
      const value = field.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
      if (FIELD_VALUE_INVALID.test(value)) throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', `a control character in header '${name}'`)
      const key = name.toLowerCase()
      const seen = headers[key]
      headers[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
    }
    this.#headBytes = 0
    if (status < 200) {
      // 1xx (103 Early Hints, a stray 100): informational, the real response follows. A 101 was
      // never asked for.
      if (status === 101) throw new ResponseParseError('HPE_INVALID_CONSTANT', 'a 101 Switching Protocols that was not asked for')
      return
    }
    const framing = this.#framing(status, headers)
    const connection = listMembers(headers.connection)
    const keepAlive = minor === 1 && !connection.includes('close') && framing !== State.UntilClose
    this.#state = framing
    this.#events.onHead({ status, statusText: m[3] ?? '', headers, keepAlive })
    if (this.#state === State.Done && !this.#stopped) this.#events.onEnd()
  }

  /** RFC 9112 §6.3: how the body of a response to GET is delimited. */
  #framing (status: number, headers: ResponseHead['headers']): State {
    if (NO_BODY.has(status)) return State.Done
    const te = headers['transfer-encoding']
    const cl = headers['content-length']
    if (te !== undefined) {
      if (cl !== undefined) throw new ResponseParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Transfer-Encoding and Content-Length')
      const codings = listMembers(te)
      // No TE was sent, so no coding but chunked may come: anything else is not ours to decode.
      if (codings.length !== 1 || codings[0] !== 'chunked') {
        throw new ResponseParseError('HPE_INVALID_TRANSFER_ENCODING', `Transfer-Encoding '${[te].flat().join(', ')}', where only 'chunked' is understood`)
      }
      return State.ChunkSize
    }
    if (cl !== undefined) {
      const values = [cl].flat()
      const first = values[0] ?? ''
      if (!DECIMAL.test(first) || values.some((v) => v !== first)) {
        throw new ResponseParseError('HPE_UNEXPECTED_CONTENT_LENGTH', `an invalid Content-Length '${values.join(', ')}'`)
      }
      this.#remaining = Number(first)
      return this.#remaining === 0 ? State.Done : State.Length
    }
    return State.UntilClose
  }
}

/** The lower-cased members of a list field, over all its lines (RFC 9110 §5.6.1). */
function listMembers (value: string | string[] | undefined): string[] {
  return [value ?? []].flat().join(',').toLowerCase().split(',').map((s) => s.trim())
}
