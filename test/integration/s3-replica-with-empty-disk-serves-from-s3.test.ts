// Issue 19 "Show": a replica restarted with an EMPTY disk serves a cached object from the shared
// S3 store (store.kind s3, a real Ceph RGW) with 0 upstream requests, and the bytes are the source's.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { S3Bucket } from '../../server/cache/s3/s3-client.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { request } from '../helpers/http-client.js'
import { useRgw, uniquePrefix } from '../helpers/rgw.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const rgw = await useRgw(t)

t.test('a replica restarted with an empty disk serves a cached object from S3, 0 upstream requests', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const upstream = await startUpstream()
  const prefix = uniquePrefix('empty-disk')
  const dirs = [await mkdtemp(join(tmpdir(), 'dsmirror-s3-a-')), await mkdtemp(join(tmpdir(), 'dsmirror-s3-b-'))]
  t.teardown(async () => {
    await upstream.close()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  const body = makeBytes(3 * 1024 * 1024 + 17, 7)
  upstream.set('/d/model.bin', { body })
  const options = {
    allowHosts: [upstream.host],
    // Only these children get the store and its credentials (never this process's environment).
    env: { AWS_ACCESS_KEY_ID: rgw.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.env.AWS_SECRET_ACCESS_KEY },
    config: {
      store: { kind: 's3', s3: { endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix } },
      cluster: { peer: false, singleFlight: false }
    }
  }

  const first = await startChildProxy(dirs[0] as string, options)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const cold = await request(`${first.origin}/${upstream.host}/d/model.bin`)
  t.equal(cold.sha256, sha256(body), 'the first replica serves the source bytes')
  t.equal(upstream.count('/d/model.bin', 'GET'), 1, 'one upstream download')
  const bucket = S3Bucket.fromConfig({ endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix, forcePathStyle: null })
  t.teardown(() => { bucket.destroy() })
  await waitUntil(async () => (await bucket.list(`${prefix}v1/meta/`).next()).done !== true, { what: 'the entry to be committed to S3' })
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'the first replica stops')

  const second = await startChildProxy(dirs[1] as string, options)
  t.teardown(() => { second.child.kill('SIGKILL') })
  const warm = await request(`${second.origin}/${upstream.host}/d/model.bin`)
  t.equal(warm.status, 200)
  t.ok(warm.complete, 'complete')
  t.equal(warm.sha256, sha256(body), 'the replica with an empty disk serves the exact bytes')
  t.equal(upstream.count('/d/model.bin'), 1, 'with 0 upstream requests of its own')
  const ranged = await request(`${second.origin}/${upstream.host}/d/model.bin`, { headers: { range: 'bytes=1000-1999' } })
  t.equal(ranged.status, 206, 'a range of it too')
  t.equal(ranged.sha256, sha256(body.subarray(1000, 2000)))
  t.equal(upstream.count('/d/model.bin'), 1, 'still 0 upstream requests')
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})
