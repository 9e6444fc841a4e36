// Feeds Metrics from every response and serves /_/metrics (Prometheus text). A response is
// counted when its ServerResponse closes, finished or aborted, so a download that fails mid-body
// and a client that leaves early are counted too (onResponse runs only for finished ones, so an
// aborted response also gets its one request log line here).
// Body bytes are counted as they are handed to the socket: Content-Length overstates an aborted
// response and is absent from chunked ones.
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { errorCode, outcomeOf, renderCacheStatus } from '../cache/cache-status.js'
import { clientError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import type { RecentErrors } from '../recent-errors.js'

export interface MetricsPluginOptions {
  metrics: Metrics
  recentErrors: RecentErrors
}

interface Failure {
  code: string
  message: string
}

const plugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, { metrics, recentErrors }) => {
  const instrumented = new WeakSet<FastifyRequest>()
  const failures = new WeakMap<FastifyRequest, Failure>()

  const instrument = (request: FastifyRequest, reply: FastifyReply): void => {
    if (instrumented.has(request)) return
    instrumented.add(request)
    const res = reply.raw
    const counter = countBodyBytes(res)
    let errored = false
    res.once('error', () => { errored = true })
    res.once('close', () => {
      const bytes = request.method === 'HEAD' ? 0 : counter.bytes
      const status = reply.cacheStatus
      const outcome = outcomeOf(status, reply.statusCode)
      metrics.observeResponse(outcome, bytes)
      // Fastify's onResponse, which writes app.ts's line, runs on 'finish' or 'error' only.
      if (!res.writableFinished && !errored) {
        // The code a failed download aborted the response with (mirror-cache.ts sets it on the status).
        const code = errorCode(status)
        const cache = status === null ? undefined : renderCacheStatus(status)
        request.log.info({ method: request.method, url: request.raw.url, status: reply.statusCode, cache, outcome, bytes, ms: Math.round(reply.elapsedTime), aborted: true, ...(code === undefined ? {} : { code }) }, 'request')
      }
      const failure = failures.get(request)
      if (failure === undefined) return
      metrics.countError(failure.code)
      recentErrors.record({ code: failure.code, status: reply.statusCode, method: request.method, url: request.raw.url ?? '', message: failure.message, reqId: String(request.id) })
    })
  }

  app.addHook('onRequest', async (request, reply) => { instrument(request, reply) })
  // Requests refused before the onRequest hooks ran (router errors) still pass through onSend.
  app.addHook('onSend', async (request, reply, payload) => {
    instrument(request, reply)
    return payload
  })
  // Runs before app.ts's error handler, which then answers with this same code.
  app.addHook('onError', async (request, _reply, err) => {
    // What the client was told, not the server-side detail (issue 12 item 12).
    const { code, message } = clientError(err, String(request.id))
    failures.set(request, { code, message })
  })

  app.get('/_/metrics', async (_request, reply) => {
    const text = await metrics.text()
    return reply.type(metrics.contentType).header('cache-control', 'no-store').send(text)
  })
}

// Hooks apply to every route of the app, not only to this plugin's (what fastify-plugin does).
Object.assign(plugin, { [Symbol.for('skip-override')]: true })
export const metricsPlugin = plugin

/** Counts body bytes passed to write() and end(). */
function countBodyBytes (res: ServerResponse): { bytes: number } {
  const counter = { bytes: 0 }
  const write = res.write
  const end = res.end
  const add = (chunk: unknown, encoding: unknown): void => {
    if (typeof chunk === 'string') counter.bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
    else if (chunk instanceof Uint8Array) counter.bytes += chunk.byteLength
  }
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    add(chunk, rest[0])
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest)
  } as ServerResponse['write']
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(chunk, rest[0])
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest)
  } as ServerResponse['end']
  return counter
}
