// The mirror front door: `/<host>/<path>` and `/<mirror>/<path>`. GET and HEAD go to the cache;
// other methods (the Hugging Face API POSTs) are passed through uncached with the same undici
// dispatcher (managed CA, egress proxy, allowlist). Nothing under `/_/` is ever forwarded.
import replyFrom from '@fastify/reply-from'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { setCacheStatus } from '../cache/cache-status.js'
import type { MirrorCache } from '../cache/mirror-cache.js'
import { BadPathError, NotFoundError } from '../errors.js'
import { mapUpstreamError, type Upstream } from '../upstream/upstream.js'
import { parseMirrorTarget, type MirrorTarget, type MirrorTargetOptions } from './mirror-target.js'

const CACHED_METHODS = ['GET', 'HEAD'] as const
const PASSED_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
/** Methods whose non-error answers invalidate what is stored for the URI (RFC 9111 §4.4; issue #13 item 7). */
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export interface MirrorRoutesOptions {
  cache: MirrorCache
  upstream: Upstream
  targetOptions: MirrorTargetOptions
  /**
   * The forward proxy's scheme for an absolute-form request (routes/forward-proxy.ts): 'http'
   * fetches the target over plain http (forwardProxy.plainHttpHosts); null/'https': as parsed.
   */
  forwardScheme?: (req: FastifyRequest['raw']) => 'http' | 'https' | null
}

/**
 * Absolute-form (`GET http://host/ HTTP/1.1`) and authority-form targets are proxy requests for
 * someone else: dsmirror is a mirror, not an open forward proxy. Registered before every other
 * request hook, so such a target is refused as a bad path whatever it names.
 */
export function refuseProxyForms (app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (!(request.raw.url ?? '').startsWith('/')) throw new BadPathError(request.raw.url ?? '', 'absolute-form and authority-form targets are not accepted')
  })
}

export async function registerMirrorRoutes (app: FastifyInstance, { cache, upstream, targetOptions, forwardScheme }: MirrorRoutesOptions): Promise<void> {
  await app.register(replyFrom, {
    // A thin wrapper so a swapped trust store (upstream.setCa) reaches pass-through requests too.
    undici: { request: (...args: Parameters<Upstream['dispatcher']['request']>) => upstream.dispatcher.request(...args) } as unknown as Upstream['dispatcher'],
    http2: false
  })

  const resolveTarget = (request: FastifyRequest): MirrorTarget => {
    const raw = request.raw.url ?? ''
    if (raw === '/_' || raw.startsWith('/_/') || raw.startsWith('/_?')) throw new NotFoundError(raw)
    const target = parseMirrorTarget(raw, targetOptions)
    // Plain http keys on the http:// URL: another object than the https one, honestly so.
    if (forwardScheme?.(request.raw) === 'http' && target.mirror === null) target.url.protocol = 'http:'
    return target
  }

  app.route({
    method: [...CACHED_METHODS],
    url: '/*',
    exposeHeadRoute: false,
    handler: async (request, reply) => await cache.handle(request, reply, resolveTarget(request))
  })

  await app.register(async (passThrough) => {
    // Pass-through bodies stream upstream untouched, whatever their type.
    passThrough.removeAllContentTypeParsers()
    passThrough.addContentTypeParser('*', (_request, payload, done) => { done(null, payload) })
    passThrough.route({
      method: [...PASSED_METHODS],
      url: '/*',
      handler: async (request, reply) => passThroughRequest(request, reply, resolveTarget(request), cache)
    })
  })
}

/** Non-GET/HEAD requests go upstream uncached, same CA, proxy and allowlist. */
function passThroughRequest (request: FastifyRequest, reply: FastifyReply, target: MirrorTarget, cache: MirrorCache): FastifyReply {
  return reply.from(target.url.href, {
    onResponse: (_request, reply, res) => {
      if (!UNSAFE_METHODS.has(request.method)) return reply.send(res.stream)
      // Invalidated before the answer goes out, so the client's next GET cannot get the old copy.
      const headers = reply.getHeaders() as Record<string, string | string[] | undefined>
      void cache.invalidate(target.url, { status: reply.statusCode, headers })
        .catch((err: unknown) => { request.log.warn({ err, url: target.url.href }, 'invalidating the stored response failed') })
        .finally(() => reply.send(res.stream))
    },
    rewriteRequestHeaders: (_req, headers) => {
      const { host: _host, ...rest } = headers
      // Issue 12 item 6: Proxy-Authorization (the client's credentials for dsmirror),
      // Proxy-Connection and every other Proxy-* header are for this hop only (RFC 9110 §11.7.1,
      // §7.6.1); reply-from drops only Connection-listed names.
      for (const name of Object.keys(rest)) {
        if (name.toLowerCase().startsWith('proxy-')) Reflect.deleteProperty(rest, name)
      }
      return rest
    },
    rewriteHeaders: (headers) => {
      // The upstream's own Cache-Status (a chained cache) is not what this cache did.
      const { 'cache-status': _upstream, ...rest } = headers
      setCacheStatus(reply, { fwd: 'method' })
      return rest
    },
    onError: (errorReply, { error }) => {
      const mapped = mapUpstreamError(error, target.url)
      void setCacheStatus(errorReply, { fwd: 'method', error: mapped.code }).send(mapped)
    }
  })
}
