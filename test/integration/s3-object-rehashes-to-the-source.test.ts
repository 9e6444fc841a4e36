// Issue 19 / research/s3-tier.md §3.4: the object dsmirror wrote to S3, read back with a plain
// GET, has the source's sha256: no aws-chunked framing or checksum trailer was stored in the body
// (aws-sdk-js-v3#6810, seaweedfs#7623), whatever the SDK's default checksum mode.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { S3Bucket } from '../../server/cache/s3/s3-client.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { request } from '../helpers/http-client.js'
import { useRgw, uniquePrefix } from '../helpers/rgw.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const rgw = await useRgw(t)

t.test('the object in S3 re-hashed equals the source', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const upstream = await startUpstream()
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-s3-rehash-'))
  t.teardown(async () => { await upstream.close(); await rm(dataDir, { recursive: true, force: true }) })
  const body = makeBytes(6 * 1024 * 1024 + 5, 9)
  upstream.set('/r/weights.safetensors', { body })
  const prefix = uniquePrefix('rehash')
  const proxy = await startChildProxy(dataDir, {
    allowHosts: [upstream.host],
    env: { AWS_ACCESS_KEY_ID: rgw.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.env.AWS_SECRET_ACCESS_KEY },
    config: {
      store: { kind: 's3', s3: { endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix } },
      cluster: { peer: false, singleFlight: false }
    }
  })
  t.teardown(() => { proxy.child.kill('SIGKILL') })
  t.equal((await request(`${proxy.origin}/${upstream.host}/r/weights.safetensors`)).sha256, sha256(body))

  const bucket = S3Bucket.fromConfig({ endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix, forcePathStyle: null })
  t.teardown(() => { bucket.destroy() })
  const dataKey = await waitUntil(async () => (await bucket.list(`${prefix}v1/data/`).next()).value?.key, { what: 'the body to reach S3' })
  const out = await bucket.client.send(new GetObjectCommand({ Bucket: rgw.bucket, Key: dataKey }))
  const hash = createHash('sha256')
  let length = 0
  for await (const chunk of out.Body as AsyncIterable<Buffer>) { hash.update(chunk); length += chunk.length }
  t.equal(length, body.length, 'the S3 object has the source length')
  t.equal(hash.digest('hex'), sha256(body), 'the object in S3 re-hashed equals the source')
  proxy.child.kill('SIGTERM')
  t.equal(await proxy.exited, 0)
})
