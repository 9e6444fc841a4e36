// An in-process proxy with a peer listener in front of its cache, and by default a lease store
// that only counts the calls it gets (and refuses every lease): for tests of the peer listener's
// own behaviour, which must never touch leases (a test that needs to lead a key passes its own). The store is the proxy's (disk) store; what the peer
// listener serves does not depend on the store kind.
import pino from 'pino'
import type { Test } from 'tap'
import type { LeaseIo, LeaseTimers } from '../../server/cluster/lease.js'
import { Leases } from '../../server/cluster/lease.js'
import { buildPeerApp } from '../../server/cluster/peer-listener.js'
import { ClusterSingleFlight } from '../../server/cluster/single-flight.js'
import { startProxy, type StartProxyOptions, type TestProxy } from './proxy.js'

export const PEER_TOKEN = 'peer-test-token-0123456789'

export interface PeerFixture {
  proxy: TestProxy
  leases: Leases
  peerUrl: string
  /** Calls the lease store received. */
  leaseCalls: () => number
  /** Requests the peer listener received. */
  peerRequests: () => number
}

export interface PeerFixtureOptions {
  /** The proxy's options (an upstream to allow, cache.orphanTimeout ...). */
  proxy?: StartProxyOptions
  /** The lease store; default: one that counts calls and refuses every lease. */
  io?: LeaseIo
  timers?: LeaseTimers
}

export async function startPeerFixture (t: Test, opts: PeerFixtureOptions = {}): Promise<PeerFixture> {
  let calls = 0
  const refusing: LeaseIo = {
    create: async () => { calls++; throw new Error('the peer listener must not create leases') },
    replace: async () => { calls++; throw new Error('the peer listener must not write leases') },
    read: async () => { calls++; throw new Error('the peer listener must not read leases') }
  }
  const proxy = await startProxy(opts.proxy)
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const leases = new Leases({ io: opts.io ?? refusing, prefix: 'p/', ttlMs: 20_000, ...(opts.timers === undefined ? {} : { timers: opts.timers }) })
  const cluster = new ClusterSingleFlight({ leases, token: PEER_TOKEN, log: pino({ level: 'silent' }) })
  t.teardown(async () => { await cluster.close() })
  const peer = await buildPeerApp({
    host: '127.0.0.1',
    port: 0,
    token: PEER_TOKEN,
    cluster,
    downloads: () => proxy.app.dsmirror.cache.downloads,
    holdDownload: (download) => proxy.app.dsmirror.cache.holdForPeer(download),
    store: proxy.app.dsmirror.cacheStore,
    log: pino({ level: 'silent' })
  })
  let peerCount = 0
  peer.addHook('onRequest', async () => { peerCount++ })
  const peerUrl = await peer.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await peer.close() })
  return { proxy, leases, peerUrl, leaseCalls: () => calls, peerRequests: () => peerCount }
}
