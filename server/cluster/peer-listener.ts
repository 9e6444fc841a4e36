// The internal peer listener (issue 19 item 3, cluster.peer): other replicas' followers read the
// body of a key this replica leads, from the same growing temp file its own clients read, with
// Range. It only serves what is already here (an in-flight download this replica leads, or a
// committed entry): it never starts a download and never claims a lease, so two replicas can
// never send each other round in a loop. Authenticated with cluster.token (SECURITY.md).
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { CacheStore } from '../cache/cache-store.js'
import type { CacheStatus } from '../cache/cache-status.js'
import type { Download } from '../cache/download.js'
import { inFlightObject, sendObject, storedObject } from '../cache/serve-object.js'
import { ClusterNotLeaderError, ClusterPeerForbiddenError, ClusterPeerUnauthorizedError, isDsmError } from '../errors.js'
import type { ClusterSingleFlight } from './single-flight.js'
import { PEER_PATH } from './single-flight.js'

const KEY_PATTERN = /^[0-9a-f]{64}$/
const IN_FLIGHT: CacheStatus = { hit: true, detail: 'in-flight' }
const STORED: CacheStatus = { hit: true }

export interface PeerListenerOptions {
  host: string
  port: number
  /** cluster.token; null only on loopback (config/schema.ts refuses it elsewhere). */
  token: string | null
  cluster: ClusterSingleFlight
  downloads: () => ReadonlyMap<string, Download>
  /** Counts a follower as a client of a download it reads (cache.orphanTimeout); returns the release. */
  holdDownload?: (download: Download) => () => void
  store: CacheStore
  log: Logger
}

/** sha256 of both sides, so the comparison is constant-time whatever the lengths (timingSafeEqual needs equal ones). */
export function tokenMatches (presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export function bearerToken (header: string | undefined): string | null {
  if (header === undefined) return null
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match === null ? null : (match[1] ?? null)
}

export async function buildPeerApp (opts: PeerListenerOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.log.child({ module: 'peer' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })
  app.decorateReply('cacheStatus', null)
  app.addHook('onRequest', async (request) => {
    if (opts.token === null) return
    const presented = bearerToken(request.headers.authorization)
    if (presented === null) throw new ClusterPeerUnauthorizedError(request.url)
    if (!tokenMatches(presented, opts.token)) throw new ClusterPeerForbiddenError(request.url)
  })
  app.setErrorHandler(async (err: unknown, request, reply) => {
    const status = isDsmError(err) ? err.statusCode ?? 500 : 500
    if (status >= 500) request.log.warn({ err }, 'peer request failed')
    if (reply.raw.headersSent) { reply.raw.destroy(); return }
    await reply.code(status).send({ code: isDsmError(err) ? err.code : 'DSM_INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) })
  })
  app.get(`${PEER_PATH}:key`, async (request: FastifyRequest<{ Params: { key: string } }>, reply: FastifyReply) => {
    const key = request.params.key
    if (!KEY_PATTERN.test(key)) throw new ClusterNotLeaderError(key)
    const download = opts.downloads().get(key)
    if (download !== undefined && opts.cluster.leases.leads(key)) {
      const outcome = await download.start()
      if (outcome.kind === 'body' && !download.passingThrough && opts.cluster.leases.leads(key)) {
        download.ref()
        // A follower is a client: the leader's own clients may all leave while followers still read.
        const letGo = opts.holdDownload?.(download)
        return await sendObject(request, reply, inFlightObject(download, () => { letGo?.(); download.unref() }), IN_FLIGHT, {})
      }
    }
    const opened = await opts.store.openBody(key)
    if (opened === null) throw new ClusterNotLeaderError(key)
    return await sendObject(request, reply, storedObject(opened), STORED, {})
  })
  return app
}
