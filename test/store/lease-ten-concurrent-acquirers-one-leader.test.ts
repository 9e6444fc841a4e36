// Issue 19 item 3 (research/s3-tier.md §2.2): ten replicas claim one key's lease at once on a
// real RGW; If-None-Match: * lets exactly one create it, the nine others follow it.
import t from 'tap'
import { uniquePrefix, useRgw } from '../helpers/rgw.js'
import { freshKey, probedBucket, testLeases } from '../helpers/cluster-leases.js'

const rgw = await useRgw(t)

t.test('10 concurrent claims of one key: exactly one leader, nine followers naming it', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const bucket = await probedBucket(rgw, uniquePrefix('lease'))
  t.teardown(() => { bucket.client.destroy() })
  const key = freshKey()
  const replicas = Array.from({ length: 10 }, (_, i) => testLeases(bucket, { ttlMs: 20_000, owner: `r${i}` }))
  const claims = await Promise.all(replicas.map(async (leases) => await leases.claim(key)))
  const leaders = claims.flatMap((c, i) => c.role === 'leader' ? [i] : [])
  t.equal(leaders.length, 1, 'one leader')
  const leader = leaders[0] as number
  for (const [i, claim] of claims.entries()) {
    if (i === leader) continue
    t.same(claim, { role: 'follower', addr: `http://127.0.0.1:1/r${leader}`, owner: `r${leader}` }, `r${i} follows r${leader}`)
  }
  t.ok(replicas[leader]?.leads(key), 'the leader knows it leads')
  t.equal(replicas.filter((r) => r.leads(key)).length, 1, 'nobody else thinks it leads')
})
