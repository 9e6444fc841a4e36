// Answers clients whose bytes never became a request: Node's HTTP parser (llhttp) refuses them
// and the listener emits 'clientError'. Both listeners (Fastify's HTTP server and the HTTPS one)
// answer the same way, with a DSM code in the usual JSON body, and close the connection:
//   - framing errors, 400 DSM_CLIENT_BAD_REQUEST: Content-Length with Transfer-Encoding, two
//     Content-Lengths, a bare CR or LF, obs-fold — the request-smuggling class (RFC 9112 §6.3,
//     §11.2; CVE-2019-15605, CVE-2022-32215). A parser that guessed would desync from a front proxy.
//   - a request head over Node's maxHeaderSize (16 KiB), 431 DSM_CLIENT_HEADERS_TOO_LARGE (RFC 6585 §5).
//   - a head that does not arrive within listen.headersTimeout, 408 DSM_CLIENT_TIMEOUT (slowloris).
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { renderCacheStatus } from '../cache/cache-status.js'
import { ClientBadRequestError, ClientHeadersTooLargeError, ClientTimeoutError, type DsmError } from '../errors.js'

/** Node's default --max-http-header-size, which neither listener changes. */
export const MAX_HEADER_BYTES = 16 * 1024
const MIN_CHECK_INTERVAL_MS = 25
const MAX_CHECK_INTERVAL_MS = 1000

/**
 * How often Node sweeps connections for expired header timeouts (`connectionsCheckingInterval`,
 * 30 s by default): without a shorter sweep a 20 s headersTimeout would really be up to 50 s.
 */
export function connectionsCheckingInterval (headersTimeoutMs: number): number {
  return Math.min(MAX_CHECK_INTERVAL_MS, Math.max(MIN_CHECK_INTERVAL_MS, Math.floor(headersTimeoutMs / 4)))
}

function errorFor (err: NodeJS.ErrnoException, headersTimeoutMs: number): DsmError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new ClientHeadersTooLargeError(String(MAX_HEADER_BYTES))
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ClientTimeoutError(String(headersTimeoutMs))
  return new ClientBadRequestError(err.code ?? err.message)
}

export interface ClientErrorHandlerOptions {
  headersTimeoutMs: number
  log: Logger
  /** Told of every refusal: these never reach Fastify's hooks, so metrics and /_/ learn of them here. */
  onRefused?: (error: DsmError) => void
  /**
   * Given each error first; true means it was handled (the forward proxy's tunnel sockets,
   * whose TLS handshake failures must not get an HTTP answer: routes/forward-proxy.ts).
   */
  handleFirst?: (err: NodeJS.ErrnoException, socket: Duplex) => boolean
}

export type ClientErrorHandler = (err: NodeJS.ErrnoException, socket: Duplex) => void

/** A 'clientError' listener for either listener. */
export function createClientErrorHandler (opts: ClientErrorHandlerOptions): ClientErrorHandler {
  return (err, socket) => {
    if (opts.handleFirst?.(err, socket) === true) return
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const error = errorFor(err, opts.headersTimeoutMs)
    opts.log.debug({ code: error.code, reason: err.code ?? err.message }, 'client error: connection closed')
    opts.onRefused?.(error)
    // Never write into a response already on the wire (the check Node's own handler makes).
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy()
      return
    }
    const body = JSON.stringify({ statusCode: error.statusCode, code: error.code, error: error.message })
    const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[error.statusCode] ?? 'Error'
    socket.once('finish', () => { socket.destroy() })
    socket.end(`HTTP/1.1 ${error.statusCode} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-status: ${renderCacheStatus({ error: error.code })}\r\nconnection: close\r\n\r\n${body}`)
  }
}
