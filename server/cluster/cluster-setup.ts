// Composes cluster-wide single flight from the config (issue 19 item 3): the lease store is the
// S3 bucket of store.s3, so there is no other service to run. Used by app.ts (the coordinator)
// and cli.ts (the peer listener, which listens).
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { DsmirrorConfig } from '../../config/schema.js'
import type { S3Bucket } from '../cache/s3/s3-client.js'
import type { PeerFills } from './single-flight.js'
import { BucketLeaseIo, Leases } from './lease.js'
import { buildPeerApp } from './peer-listener.js'
import { ClusterSingleFlight } from './single-flight.js'

/**
 * The coordinator, on the S3 store's own bucket (probed at start-up, so leases use the If-Match
 * form the engine compares), or null when this replica decides alone.
 */
export function buildClusterSingleFlight (config: DsmirrorConfig, log: Logger, bucket: S3Bucket | null, fills?: PeerFills): ClusterSingleFlight | null {
  const { store, cluster } = config
  if (store.kind !== 's3' || !cluster.singleFlight || cluster.peer === false || bucket === null) return null
  const clusterLog = log.child({ module: 'cluster' })
  const io = new BucketLeaseIo(bucket)
  const leases = new Leases({
    io,
    prefix: store.s3.prefix,
    ttlMs: cluster.leaseTtl,
    ...(cluster.advertiseUrl === null ? {} : { addr: cluster.advertiseUrl }),
    events: {
      acquired: (_key, takeover) => { if (takeover) single.stats.takenOver++; else single.stats.acquired++ },
      fenced: (key) => { single.stats.lost++; clusterLog.warn({ key }, 'another replica took over this download\'s lease: no longer serving it to peers') },
      released: () => { single.stats.released++ }
    },
    onError: (err, key) => { clusterLog.warn({ err, key }, 'lease heartbeat or release failed; retried at the next beat') }
  })
  const single: ClusterSingleFlight = new ClusterSingleFlight({ leases, token: cluster.token, log: clusterLog, ...(fills === undefined ? {} : { fills }) })
  return single
}

/**
 * Starts the peer listener on cluster.peer and makes its origin the one leases name (unless
 * cluster.advertiseUrl says otherwise). Closed with the app; call it before the app listens. Returns its origin.
 */
export async function startPeerListener (app: FastifyInstance, config: DsmirrorConfig, log: Logger): Promise<string | null> {
  const single = app.dsmirror.cluster
  const peer = config.cluster.peer
  if (single === null || peer === false) return null
  const peerApp = await buildPeerApp({
    host: peer.host,
    port: peer.port,
    token: config.cluster.token,
    cluster: single,
    downloads: () => app.dsmirror.cache.downloads,
    holdDownload: (download) => app.dsmirror.cache.holdForPeer(download),
    store: app.dsmirror.cacheStore,
    log
  })
  // Added before anything listens (Fastify refuses hooks afterwards). Peers stop first, then the
  // app's own onClose marks this replica's leases released.
  app.addHook('preClose', async () => { await peerApp.close() })
  const url = await peerApp.listen({ host: peer.host, port: peer.port })
  if (config.cluster.advertiseUrl === null) {
    single.leases.setAddr(url)
    // 0.0.0.0 / :: listen everywhere but are no address another machine can dial.
    if (peer.host === '0.0.0.0' || peer.host === '::') log.warn({ url, host: peer.host }, 'cluster.advertiseUrl is not set and cluster.peer listens on every address: other replicas will be told a loopback URL. Set cluster.advertiseUrl (in Kubernetes: http://$(POD_IP):8081).')
  }
  log.info({ url, advertised: single.leases.addr }, 'cluster peer listener is serving')
  return url
}
