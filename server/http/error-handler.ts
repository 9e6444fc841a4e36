// How every refusal and failure reaches a client: one JSON shape `{ statusCode, code, error }`
// with a DSM code, the Cache-Status that says so, and one log line (an error for 5xx, info for a
// refusal). Non-DSM errors at 5xx are shown as DSM_INTERNAL_ERROR with the reqId only
// (errors.ts clientError, issue 10 item 6).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { setCacheStatus } from '../cache/cache-status.js'
import { BadPathError, clientError, NotFoundError } from '../errors.js'

/** The error handler and the not-found handler of the app. */
export function registerErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler(async (err: unknown, request, reply) => {
    const { status, code, message } = clientError(err, String(request.id))
    if (status >= 500) request.log.error({ err, code }, 'request failed')
    else request.log.info({ code, message }, 'request refused')
    if (reply.cacheStatus === null) setCacheStatus(reply, { error: code })
    return reply.code(status).type('application/json; charset=utf-8').send({ statusCode: status, code, error: message })
  })
  app.setNotFoundHandler(async (request) => {
    throw new NotFoundError(request.raw.url ?? '')
  })
}

/**
 * Fastify's `frameworkErrors`: malformed targets that the router itself rejects still get a DSM
 * code. These replies skip the error handler and hooks, so the body and Cache-Status are written
 * here in the same shape (a %zz or overlong UTF-8 target, the CVE-2000-0884 class, lands here).
 */
export function answerFrameworkError (err: Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = new BadPathError(request.raw.url ?? '', err.message)
  void setCacheStatus(reply.code(error.statusCode), { error: error.code })
    .type('application/json; charset=utf-8').send({ statusCode: error.statusCode, code: error.code, error: error.message })
}
