// Issue 19 item 3: a follower whose leader keeps answering 409 (it does not lead, yet its lease
// stays fresh) re-reads the lease a bounded number of times, then fails the request with
// DSM_CLUSTER_LEADER_UNREACHABLE: it never loops. The bucket here is an in-memory LeaseIo whose
// lease is always fresh (Date = LastModified); the leader is a real peer listener on 127.0.0.1.
import pino from 'pino'
import t from 'tap'
import { Leases, type LeaseBody, type LeaseIo, type ObservedLease } from '../../server/cluster/lease.js'
import { ClusterSingleFlight } from '../../server/cluster/single-flight.js'
import { PEER_TOKEN, startPeerFixture } from '../helpers/cluster-peer.js'

const TTL_MS = 200

/** A lease held by `addr` forever: every create loses, every read is fresh, every takeover loses. */
function foreverLeased (addr: string): LeaseIo & { reads: () => number } {
  let reads = 0
  const body: LeaseBody = { owner: 'elsewhere', addr, key: '', state: 'leading', nonce: 'n' }
  return {
    create: async () => null,
    replace: async () => null,
    read: async (): Promise<ObservedLease> => { reads++; return { body, etag: 'e', lastModified: 1000, date: 1000 } },
    reads: () => reads
  }
}

t.test('a leader that never serves: the follower gives up with DSM_CLUSTER_LEADER_UNREACHABLE after a bounded number of tries', async (t) => {
  const { peerUrl, peerRequests, proxy } = await startPeerFixture(t)
  const io = foreverLeased(peerUrl)
  const cluster = new ClusterSingleFlight({ leases: new Leases({ io, prefix: 'p/', ttlMs: TTL_MS, addr: 'http://127.0.0.1:1' }), token: PEER_TOKEN, log: pino({ level: 'silent' }) })
  t.teardown(async () => { await cluster.close() })
  const flight = cluster.flight('d'.repeat(64), proxy.app.dsmirror.upstream)
  await t.rejects(flight.request(new URL('https://example.invalid/x'), { method: 'GET', headers: {} }), { code: 'DSM_CLUSTER_LEADER_UNREACHABLE' })
  t.ok(peerRequests() >= 2, `it asked the leader more than once (${peerRequests()})`)
  t.equal(io.reads(), peerRequests(), 'one lease read per try')
  t.equal(cluster.stats.followersWaiting, 0, 'no follower is left counted as waiting')
})
