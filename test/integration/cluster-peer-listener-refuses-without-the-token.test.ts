// Issue 19 item 3 (SECURITY.md "Cluster peer listener"): the peer listener serves every in-flight
// download to whoever holds cluster.token, so a request without it is 401 and one with another
// token 403, before anything is looked up; the right token gets through (here: to a 409, no such download).
import t from 'tap'
import { PEER_TOKEN, startPeerFixture } from '../helpers/cluster-peer.js'
import { request } from '../helpers/http-client.js'

const KEY = 'a'.repeat(64)

t.test('peer requests: no token 401, wrong token 403, right token reaches the route', async (t) => {
  const { peerUrl } = await startPeerFixture(t)
  const url = `${peerUrl}/_/peer/objects/${KEY}`

  const none = await request(url)
  t.equal(none.status, 401, 'no Authorization: 401')
  t.match(JSON.parse(none.body.toString()), { code: 'DSM_CLUSTER_PEER_UNAUTHORIZED' })

  const wrong = await request(url, { headers: { authorization: `Bearer ${PEER_TOKEN}x` } })
  t.equal(wrong.status, 403, 'another token: 403')
  t.match(JSON.parse(wrong.body.toString()), { code: 'DSM_CLUSTER_PEER_FORBIDDEN' })

  const short = await request(url, { headers: { authorization: 'Bearer p' } })
  t.equal(short.status, 403, 'a token of another length: 403 too (compared as digests, constant time)')

  const basic = await request(url, { headers: { authorization: `Basic ${Buffer.from(`x:${PEER_TOKEN}`).toString('base64')}` } })
  t.equal(basic.status, 401, 'the token in another scheme is not a bearer token: 401')

  const right = await request(url, { headers: { authorization: `Bearer ${PEER_TOKEN}` } })
  t.equal(right.status, 409, 'the right token reaches the route (no such download here: 409)')
})
