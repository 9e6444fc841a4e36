// Issue 19 "Show": 3 replicas (separate processes) sharing one RGW bucket, 24 clients spread
// across them on one cold, throttled object: exactly 1 upstream request, all 24 bodies
// sha256-identical to the source, every client's first byte while the upstream transfer was
// still running (the leader's download had not written the whole body yet).
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { uniquePrefix, useRgw } from '../helpers/rgw.js'
import { downloadsOf, fetchBody, startReplica, stopReplica, type Fetched, type Replica } from '../helpers/cluster-replicas.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const MIB = 1024 * 1024
const SIZE = 8 * MIB
const RATE = 2 * MIB // about 4 s of upstream transfer
const CLIENTS = 24
const REPLICAS = 3

const rgw = await useRgw(t)

t.test('24 clients on 3 replicas: one upstream request, 24 identical bodies, all streaming before the end', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const upstream = await startUpstream()
  t.teardown(async () => { await upstream.close() })
  const body = randomBytes(SIZE)
  const sha = createHash('sha256').update(body).digest('hex')
  upstream.set('/cold/model.bin', { body, throttleBytesPerSec: RATE })
  const prefix = uniquePrefix('cluster-e2e')
  const replicas: Replica[] = []
  for (let i = 0; i < REPLICAS; i++) {
    const dir = await mkdtemp(join(tmpdir(), `dsm-replica-${i}-`))
    t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
    const replica = await startReplica(dir, { allowHosts: [upstream.host], rgw, prefix, token: 'cluster-test-token', leaseTtl: '5s' })
    t.teardown(async () => { await stopReplica(replica) })
    replicas.push(replica)
  }

  const startedAt = Date.now()
  const firstBytes = new Map<number, number>()
  let partialAtLastFirstByte: boolean | null = null
  const results = await Promise.all(Array.from({ length: CLIENTS }, async (_, i): Promise<Fetched> => {
    const replica = replicas[i % REPLICAS] as Replica
    return await fetchBody(`${replica.origin}/${upstream.host}/cold/model.bin`, 60_000, () => {
      firstBytes.set(i, Date.now())
      if (firstBytes.size === CLIENTS) {
        // The moment the last client got its first byte: is the leader still downloading?
        void Promise.all(replicas.map(downloadsOf)).then((all) => {
          partialAtLastFirstByte = all.flat().some((d) => d.size === SIZE && d.written < SIZE)
        })
      }
    })
  }))

  const lastDone = Date.now() - startedAt
  t.comment(`stampede: last of ${CLIENTS} clients done ${lastDone} ms after the start; one download at the throttle takes ${(SIZE / RATE) * 1000} ms; last first byte at ${Math.max(...firstBytes.values()) - startedAt} ms`)
  t.equal(upstream.count('/cold/model.bin', 'GET'), 1, 'exactly one upstream GET across the three replicas')
  t.equal(results.filter((r) => r.status === 200 && r.complete && r.sha256 === sha).length, CLIENTS, 'all 24 bodies complete and sha256-identical to the source')
  await waitUntil(() => partialAtLastFirstByte !== null || null, { what: 'the status snapshot taken at the last first byte', timeoutMs: 10_000 })
  t.equal(partialAtLastFirstByte, true, 'when the last client got its first byte, the upstream transfer was still running')
  for (const replica of replicas) t.notMatch(replica.output(), /DSM_CLUSTER_LEADER_UNREACHABLE|DSM_CLUSTER_LEASE_IO/, 'no cluster errors in the log')

  // Item 7: what operators see. One lease acquired in the cluster, released once durable; each
  // follower replica received the body once from the leader.
  const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  const scrape = async (): Promise<string[]> => await Promise.all(replicas.map(async (r) => await (await fetch(`${r.origin}/_/metrics`)).text()))
  const texts = await waitUntil(async () => {
    const all = await scrape()
    return all.every((text) => metric(text, 'dsmirror_cluster_leases_held') === 0) ? all : null
  }, { what: 'the leader to release its lease after the commit is durable', timeoutMs: 10_000 })
  t.equal(texts.reduce((n, text) => n + metric(text, 'dsmirror_cluster_leases_acquired_total'), 0), 1, 'one lease acquired across the cluster')
  t.equal(texts.filter((text) => metric(text, 'dsmirror_cluster_peer_bytes_total') === SIZE).length, REPLICAS - 1, 'each follower replica streamed the body once from the leader')
  // Every replica committed the body; only the leader sent it to the bucket (followers find it there).
  const total = (all: string[], name: string): number => all.reduce((n, text) => n + (Number.isNaN(metric(text, name)) ? 0 : metric(text, name)), 0)
  const commits = await waitUntil(async () => {
    const all = await scrape()
    const uploaded = total(all, 'dsmirror_store_uploaded_bytes_total')
    const skipped = total(all, 'dsmirror_store_uploads_skipped_total')
    return uploaded + skipped * SIZE >= REPLICAS * SIZE ? { uploaded, skipped } : null
  }, { what: 'every replica\'s commit to be durable', timeoutMs: 20_000 })
  t.equal(commits.uploaded, SIZE, 'the body went to the bucket once, from the leader')
  t.equal(commits.skipped, REPLICAS - 1, 'each follower left the upload to the leader')
  const status = await (await fetch(`${replicas[0]?.origin ?? ''}/_/api/status`)).json() as { cluster: { leaseTtl: number } | null }
  t.equal(status.cluster?.leaseTtl, 5000, 'the status API has the cluster block')
  t.match(await (await fetch(`${replicas[0]?.origin ?? ''}/_/`)).text(), /id="cluster-leases"/, 'the status page shows it')
})
