// Issue 19 item 4 "Show": `dsmirror serve` with store.kind s3 on an engine that ignores
// conditional writes (RGW behind ignoringFront, test/helpers/rgw.ts) refuses to start with
// DSM_STORE_CONDITIONAL_WRITES_IGNORED, naming cluster.singleFlight: false as the way out.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startChildProxy } from '../helpers/child-proxy.js'
import { ignoringFront, useRgw, uniquePrefix } from '../helpers/rgw.js'

const rgw = await useRgw(t)

t.test('a store that ignores conditional writes is refused at start-up', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const front = await ignoringFront(t, new URL(rgw.endpoint))
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-s3-refused-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const started = startChildProxy(dataDir, {
    env: { AWS_ACCESS_KEY_ID: rgw.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.env.AWS_SECRET_ACCESS_KEY },
    config: {
      store: { kind: 's3', s3: { endpoint: front, region: rgw.region, bucket: rgw.bucket, prefix: uniquePrefix('refused') } },
      cluster: { peer: false, singleFlight: false }
    }
  })
  // singleFlight: false is the operator's way to run anyway: it starts.
  const allowed = await started
  allowed.child.kill('SIGTERM')
  t.equal(await allowed.exited, 0, 'with cluster.singleFlight: false it runs')
  t.match(allowed.output(), /IGNORES CONDITIONAL WRITES/, 'and says so loudly')

  const refused = startChildProxy(dataDir, {
    env: { AWS_ACCESS_KEY_ID: rgw.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.env.AWS_SECRET_ACCESS_KEY },
    config: {
      store: { kind: 's3', s3: { endpoint: front, region: rgw.region, bucket: rgw.bucket, prefix: uniquePrefix('refused') } },
      cluster: { peer: { host: '127.0.0.1', port: 0 }, singleFlight: true }
    }
  })
  const err = await refused.then(() => null, (e: unknown) => e as Error)
  t.ok(err, 'with cluster.singleFlight on, the replica does not start')
  t.match(err?.message, /DSM_STORE_CONDITIONAL_WRITES_IGNORED/, 'refused with the stable code')
  t.match(err?.message, /cluster\.singleFlight: false/, 'naming the way to run without coordination')
})
