// An in-process proxy configured as one replica of a cluster (store.kind s3), with its peer
// listener, and a stand-in "S3 endpoint" that only counts the requests it gets (answering 500):
// for tests that prove the peer listener's own behaviour, which must never talk to the bucket.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import type { Test } from 'tap'
import { buildPeerApp } from '../../server/cluster/peer-listener.js'
import { startProxy, type TestProxy } from './proxy.js'

export const PEER_TOKEN = 'peer-test-token-0123456789'

export interface PeerFixture {
  proxy: TestProxy
  peerUrl: string
  /** Requests the stand-in bucket endpoint received. */
  bucketRequests: () => number
  /** Requests the peer listener received. */
  peerRequests: () => number
}

export async function startPeerFixture (t: Test): Promise<PeerFixture> {
  let count = 0
  const bucket = http.createServer((req, res) => { count++; req.resume(); res.writeHead(500).end() })
  await new Promise<void>((resolve) => bucket.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => bucket.close(resolve)) })
  const endpoint = `http://127.0.0.1:${(bucket.address() as AddressInfo).port}`
  const proxy = await startProxy({
    config: {
      store: { kind: 's3', s3: { endpoint, bucket: 'peer-test-bucket' } },
      cluster: { peer: { host: '127.0.0.1', port: 0 }, token: PEER_TOKEN }
    }
  })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const cluster = proxy.app.dsmirror.cluster
  if (cluster === null) throw new Error('store.kind s3 with a peer listener should build the cluster coordinator')
  const peer = await buildPeerApp({
    host: '127.0.0.1',
    port: 0,
    token: PEER_TOKEN,
    cluster,
    downloads: () => proxy.app.dsmirror.cache.downloads,
    store: proxy.app.dsmirror.store,
    log: pino({ level: 'silent' })
  })
  let peerCount = 0
  peer.addHook('onRequest', async () => { peerCount++ })
  const peerUrl = await peer.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await peer.close() })
  return { proxy, peerUrl, bucketRequests: () => count, peerRequests: () => peerCount }
}
