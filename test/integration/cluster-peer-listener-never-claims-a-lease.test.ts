// Issue 19 item 3: the peer listener only serves what this replica already has (a download it
// leads, or a committed entry). Asked for anything else it answers 409 DSM_CLUSTER_NOT_LEADER
// without touching a lease: it never claims a lease or starts a download, so two replicas can
// never send each other's requests round in a loop.
import t from 'tap'
import { PEER_TOKEN, startPeerFixture } from '../helpers/cluster-peer.js'
import { request } from '../helpers/http-client.js'

t.test('a peer request for a key this replica neither leads nor holds: 409, no bucket request, no download', async (t) => {
  const { proxy, peerUrl, leaseCalls } = await startPeerFixture(t)
  const headers = { authorization: `Bearer ${PEER_TOKEN}` }
  for (const key of ['b'.repeat(64), 'c'.repeat(64)]) {
    const res = await request(`${peerUrl}/_/peer/objects/${key}`, { headers })
    t.equal(res.status, 409, `${key.slice(0, 4)}…: 409`)
    t.match(JSON.parse(res.body.toString()), { code: 'DSM_CLUSTER_NOT_LEADER' })
  }
  const bad = await request(`${peerUrl}/_/peer/objects/..%2f..%2fetc`, { headers })
  t.equal(bad.status, 409, 'a key that is not a cache key: 409 too, never a path')
  t.equal(leaseCalls(), 0, 'no lease was read, claimed or written')
  t.equal(proxy.app.dsmirror.cache.downloads.size, 0, 'no download started')
})
