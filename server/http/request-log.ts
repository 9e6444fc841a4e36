// One log line per request, written when the response is done (Fastify's own two lines are off),
// and the Cache-Status of responses no cache code touched (RFC 9211 on every response: the
// proxy's own pages were never a cache matter).
import type { FastifyInstance } from 'fastify'
import { LOCAL, outcomeOf, renderCacheStatus, setCacheStatus } from '../cache/cache-status.js'

export function registerRequestLog (app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.cacheStatus === null) setCacheStatus(reply, LOCAL)
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    const cacheStatus = reply.cacheStatus
    request.log.info({
      method: request.method,
      url: request.raw.url,
      status: reply.statusCode,
      cache: cacheStatus === null ? undefined : renderCacheStatus(cacheStatus),
      outcome: outcomeOf(cacheStatus, reply.statusCode),
      bytes: Number(reply.getHeader('content-length') ?? 0),
      ms: Math.round(reply.elapsedTime)
    }, 'request')
  })
}
