// The Hugging Face mode's front door: `/<mount>/...` (HF_ENDPOINT=<listener base URL>/<mount>),
// GET/HEAD/POST, routed on the raw target (hf-path.ts) to HfMode. A mount segment has no dot, like
// a mirror name, so it never collides with the `/<host>/<path>` form; config refuses a mirror of
// the same name.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HfTokenOverHttpError } from '../../errors.js'
import { isLoopbackAddress } from '../../../config/loopback.js'
import type { HfMode } from './hf-mode.js'
import { parseHfPath } from './hf-path.js'

/** paths-info bodies list file paths; a megabyte is thousands of them. */
export const MAX_HF_REQUEST_BODY_BYTES = 1024 * 1024

export interface HfRoutesOptions {
  mount: string
  mode: HfMode
}

export async function registerHfRoutes (app: FastifyInstance, { mount, mode }: HfRoutesOptions): Promise<void> {
  await app.register(async (hf) => {
    // paths-info comes as a form (Python) or JSON (JS): both are forwarded as the bytes they are.
    hf.removeAllContentTypeParsers()
    hf.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_HF_REQUEST_BODY_BYTES }, (_request, body, done) => { done(null, body) })
    const handler = async (request: FastifyRequest, reply: Parameters<HfMode['handle']>[1]): Promise<unknown> => {
      refuseTokenInClear(request)
      const raw = request.raw.url ?? ''
      const route = parseHfPath(raw.slice(mount.length + 1))
      return await mode.handle(request, reply, route)
    }
    hf.route({ method: ['GET', 'HEAD', 'POST'], url: `/${mount}/*`, exposeHeadRoute: false, handler })
  })
}

/**
 * Issue 11 item 6: a token sent over plain HTTP to an address other machines can reach has
 * crossed a network in clear; it is refused, not forwarded, so the mistake shows at once. The
 * local address decides (a 0.0.0.0 listener reached over 127.0.0.1 is loopback traffic).
 */
function refuseTokenInClear (request: FastifyRequest): void {
  if (request.headers.authorization === undefined || request.protocol === 'https') return
  const local = request.socket.localAddress
  if (isLoopbackAddress(local)) return
  throw new HfTokenOverHttpError(`http://${request.headers.host ?? local ?? ''}`)
}
