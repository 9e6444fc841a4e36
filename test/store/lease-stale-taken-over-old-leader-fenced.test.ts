// Issue 19 item 3 (research/s3-tier.md §2.2–2.3) on a real RGW: a lease whose heartbeats stop is
// stale by the store's clock (Date − LastModified) after the TTL, another replica takes it over
// with If-Match, and the old leader's next heartbeat is refused (412): it is fenced. A lease that
// is heartbeated is never taken over.
import t from 'tap'
import { uniquePrefix, useRgw } from '../helpers/rgw.js'
import { freshKey, manualTimers, probedBucket, testLeases } from '../helpers/cluster-leases.js'
import { waitUntil } from '../helpers/wait.js'

const TTL_MS = 1000

const rgw = await useRgw(t)

t.test('a stale lease is taken over; the old leader is fenced at its next heartbeat', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const bucket = await probedBucket(rgw, uniquePrefix('lease'))
  t.teardown(() => { bucket.client.destroy() })
  const key = freshKey()
  const aTimers = manualTimers()
  const a = testLeases(bucket, { ttlMs: TTL_MS, owner: 'a', timers: aTimers })
  const b = testLeases(bucket, { ttlMs: TTL_MS, owner: 'b' })
  const first = await a.claim(key)
  t.equal(first.role, 'leader', 'a leads')
  t.equal(aTimers.pending(), 1, 'a heartbeat is scheduled')

  // While a heartbeats, b stays a follower however long it asks (bounded: 6 beats over > 2 TTLs).
  for (let beat = 0; beat < 6; beat++) {
    aTimers.fire()
    await waitUntil(() => aTimers.pending() === 1 || null, { what: 'the heartbeat to finish and reschedule', timeoutMs: 10_000 })
    t.equal((await b.claim(key)).role, 'follower', `b follows while a heartbeats (beat ${beat + 1})`)
    // Pacing, not synchronisation: six beats must span more than TTL + 1 s of the store's clock.
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  t.ok(a.leads(key), 'a still leads')

  // a stops heartbeating (its timer is never fired again): stale after TTL + 1 s by RGW's clock.
  const claim = await waitUntil(async () => {
    const c = await b.claim(key)
    return c.role === 'leader' ? c : null
  }, { what: 'b to take over the stale lease', timeoutMs: 15_000 })
  t.equal(claim.takeover, true, 'b took over (not a fresh create)')
  t.ok(b.leads(key), 'b leads')

  const held = a.held.get(key)
  t.ok(held, 'a still holds its lease object in memory')
  await held?.heartbeat()
  t.equal(held?.fenced, true, 'a heartbeat after the takeover is refused: a is fenced')
  t.notOk(a.leads(key), 'a no longer leads')
  t.equal(aTimers.pending(), 0, 'a stopped heartbeating')

  // b releases; the next claim (a's) takes the released lease over at once, no TTL wait.
  await claim.lease.release()
  const again = await a.claim(key)
  t.equal(again.role, 'leader', 'a released lease is taken over at once')
  if (again.role === 'leader') await again.lease.release()
})
