// Issue 19 "Show" and item 3 (research/s3-tier.md §2.3): the replica leading a download is
// SIGKILLed mid-transfer. Its own client gets an aborted transfer; the followers' clients stall,
// then one follower takes the stale lease over (TTL 2 s here, by RGW's clock) and resumes from
// the upstream, and every follower client completes with the right bytes, within the TTL plus
// one download. Nobody gets a complete wrong body, and the killed leader's client's retry succeeds.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { S3Bucket } from '../../server/cache/s3/s3-client.js'
import { uniquePrefix, useRgw } from '../helpers/rgw.js'
import { downloadsOf, fetchBody, startReplica, stopReplica, type Replica } from '../helpers/cluster-replicas.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const MIB = 1024 * 1024
const SIZE = 8 * MIB
const RATE = 2 * MIB
const TTL_MS = 2000
/** One whole download at RATE. */
const DOWNLOAD_MS = (SIZE / RATE) * 1000
/** HTTP-date resolution (server/cluster/lease.ts) plus room for a loaded 2-core machine. */
const SLACK_MS = 1000 + 5000

const rgw = await useRgw(t)

t.test('leader SIGKILLed mid-download: a follower takes over, every follower client completes, the retry succeeds', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const upstream = await startUpstream()
  t.teardown(async () => { await upstream.close() })
  const body = randomBytes(SIZE)
  const sha = createHash('sha256').update(body).digest('hex')
  const path = '/cold/killed.bin'
  upstream.set(path, { body, throttleBytesPerSec: RATE })
  const prefix = uniquePrefix('cluster-kill')
  const replicas: Replica[] = []
  for (let i = 0; i < 3; i++) {
    const dir = await mkdtemp(join(tmpdir(), `dsm-replica-${i}-`))
    t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
    const replica = await startReplica(dir, { allowHosts: [upstream.host], rgw, prefix, token: 'cluster-test-token', leaseTtl: `${TTL_MS}ms` })
    t.teardown(async () => { await stopReplica(replica) })
    replicas.push(replica)
  }
  const [leader, f1, f2] = replicas as [Replica, Replica, Replica]
  const url = (r: Replica): string => `${r.origin}/${upstream.host}${path}`

  const leaderClient = fetchBody(url(leader), 60_000)
  await waitUntil(() => upstream.count(path, 'GET') === 1 || null, { what: 'the first replica to reach the upstream (it leads)', timeoutMs: 15_000 })
  const followerClients = [fetchBody(url(f1), 60_000), fetchBody(url(f1), 60_000), fetchBody(url(f2), 60_000), fetchBody(url(f2), 60_000)]
  const streamed = async (r: Replica): Promise<boolean> => (await downloadsOf(r)).some((d) => d.written >= MIB)
  await waitUntil(async () => (await streamed(f1) && await streamed(f2)) || null, { what: 'both followers to have streamed 1 MiB from the leader', timeoutMs: 15_000 })
  t.equal(upstream.count(path, 'GET'), 1, 'followers stream from the leader: still one upstream GET')

  leader.child.kill('SIGKILL')
  const killedAt = Date.now()
  await leader.exited

  const lost = await leaderClient
  t.equal(lost.complete, false, 'the killed leader\'s client gets an aborted transfer')
  t.ok(lost.bytes < SIZE, 'and not the whole body')

  const results = await Promise.all(followerClients)
  const doneAt = Date.now()
  for (const [i, r] of results.entries()) {
    t.equal(r.status, 200, `follower client ${i}: 200`)
    t.ok(r.complete, `follower client ${i}: complete`)
    t.equal(r.sha256, sha, `follower client ${i}: the source's bytes`)
  }
  t.ok(doneAt - killedAt <= TTL_MS + DOWNLOAD_MS + SLACK_MS, `completed ${doneAt - killedAt} ms after the kill (bound: TTL ${TTL_MS} + one download ${DOWNLOAD_MS} + ${SLACK_MS})`)
  t.equal(upstream.count(path, 'GET'), 2, 'one more upstream GET: the takeover, by exactly one replica')
  const resumed = upstream.requests.filter((r) => r.path === path && r.method === 'GET')[1]
  t.match(resumed?.headers.range, /^bytes=\d+-$/, 'the new leader resumed with Range from what it had')

  const metric = async (r: Replica, name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${r.origin}/_/metrics`)).text())?.[1] ?? NaN)
  t.equal(await metric(f1, 'dsmirror_cluster_leases_taken_over_total') + await metric(f2, 'dsmirror_cluster_leases_taken_over_total'), 1, 'the takeover is counted, once')

  // The object in S3 (written by the S3 store once the new leader's commit is durable) is the source's bytes.
  const bucket = S3Bucket.fromConfig({ endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix, forcePathStyle: null })
  t.teardown(() => { bucket.destroy() })
  // The commit point is the meta object (server/cache/s3/s3-store.ts layout); it names the one data object readers get.
  const metaKey = await waitUntil(async () => {
    const first = await bucket.list(`${prefix}v1/meta/`).next()
    return first.done === true ? null : first.value.key
  }, { what: 'the entry\'s meta object to reach S3', timeoutMs: 30_000 })
  const meta = JSON.parse((await bucket.get(metaKey))?.body.toString() ?? '{}') as { sha256?: string, s3?: { dataKey: string } }
  t.equal(meta.sha256, sha, 'the committed entry in S3 names the source\'s sha256')
  const out = await bucket.client.send(new GetObjectCommand({ Bucket: rgw.bucket, Key: meta.s3?.dataKey ?? '' }))
  const hash = createHash('sha256')
  for await (const chunk of out.Body as AsyncIterable<Buffer>) hash.update(chunk)
  t.equal(hash.digest('hex'), sha, 'the object in S3 re-hashes to the source')

  const retry = await fetchBody(url(f1), 30_000)
  t.ok(retry.complete && retry.sha256 === sha, 'the killed leader\'s client retries at another replica and gets the right body')
  t.equal(upstream.count(path, 'GET'), 2, 'the retry is served from the replica, not the upstream')
})
