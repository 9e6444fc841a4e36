// Issue 19 item 7: with store.kind s3 the status page and /_/metrics show the store tier: a body
// opened from the bucket counts as an S3 hit on the replica that read it, the upload as bytes
// uploaded on the one that wrote it, and the page shows the shared bucket's use.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { useRgw, uniquePrefix } from '../helpers/rgw.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const rgw = await useRgw(t)

function metric (text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

t.test('the store tier on the status page and in the metrics', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const upstream = await startUpstream()
  t.teardown(async () => { await upstream.close() })
  const body = makeBytes(200_000, 11)
  upstream.set('/m/a.bin', { body })
  const config = {
    store: { kind: 's3', s3: { endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix: uniquePrefix('tier-status') } },
    cluster: { peer: false, singleFlight: false }
  }
  const writer = await startProxy({ allowHosts: [upstream.host], config })
  t.teardown(async () => { await writer.close({ remove: true }) })
  t.equal((await request(writer.mirrorUrl(upstream.host, '/m/a.bin'))).sha256, sha256(body))
  await waitUntil(async () => metric((await request(`${writer.origin}/_/metrics`)).body.toString(), 'dsmirror_store_uploaded_bytes_total') === body.length, { what: 'the upload to be counted' })

  const reader = await startProxy({ allowHosts: [upstream.host], config })
  t.teardown(async () => { await reader.close({ remove: true }) })
  t.equal((await request(reader.mirrorUrl(upstream.host, '/m/a.bin'))).sha256, sha256(body), 'served from the bucket')
  t.equal(upstream.count('/m/a.bin'), 1)
  const metrics = (await request(`${reader.origin}/_/metrics`)).body.toString()
  t.equal(metric(metrics, 'dsmirror_store_s3_hits_total'), 1, 'an S3 hit on the replica that read it')
  t.equal(metric(metrics, 'dsmirror_store_l1_hits_total'), 0)
  t.equal(metric(metrics, 'dsmirror_store_bucket_entries'), 1, 'the bucket holds the entry')
  const page = (await request(`${reader.origin}/_/`)).body.toString()
  t.match(page, /id="tier-hits">0 disk · 1 S3</, 'the status page shows hits by tier')
  t.match(page, /Shared S3 store/, 'and the shared bucket')
})
