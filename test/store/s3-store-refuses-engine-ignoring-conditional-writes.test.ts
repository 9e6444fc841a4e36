// Issue 19 item 4: a store that ignores conditional writes is refused at start-up, with a stable
// code naming the way out (cluster.singleFlight: false), and runs only when the operator says so.
// The engine that ignores them is RGW behind ignoringFront (test/helpers/rgw.ts).
import pino from 'pino'
import t from 'tap'
import { probeConditionalWrites } from '../../server/cache/s3/conditional-write-probe.js'
import { openS3Store } from '../../server/cache/s3/open-s3-store.js'
import { S3Bucket } from '../../server/cache/s3/s3-client.js'
import { ignoringFront, useRgw, uniquePrefix } from '../helpers/rgw.js'

const log = pino({ level: 'silent' })
const rgw = await useRgw(t)

if ('skip' in rgw) {
  t.test('the conditional-write probe', { skip: rgw.skip }, () => {})
} else {
  const s3 = (endpoint: string, label: string): { endpoint: string, region: string, bucket: string, prefix: string, forcePathStyle: null, maxSize: number } =>
    ({ endpoint, region: rgw.region, bucket: rgw.bucket, prefix: uniquePrefix(label), forcePathStyle: null, maxSize: 2 ** 30 })

  t.test('RGW itself passes the probe, with bare ETags in If-Match (rgw-recipe.md §4)', async (t) => {
    const bucket = S3Bucket.fromConfig(s3(rgw.endpoint, 'probe-direct'))
    t.teardown(() => { bucket.destroy() })
    t.same(await probeConditionalWrites(bucket), { ok: true, ifMatch: 'unquoted' })
  })

  t.test('an engine that ignores conditional writes is refused at start-up', async (t) => {
    const front = await ignoringFront(t, new URL(rgw.endpoint))
    const dir = t.testdir()
    await t.rejects(openS3Store({ s3: s3(front, 'probe-refused'), singleFlight: true, dir, maxSize: 2 ** 20, log, sweepIntervalMs: 0 }), {
      code: 'DSM_STORE_CONDITIONAL_WRITES_IGNORED',
      message: /If-None-Match: \* of the same key succeeded.*cluster\.singleFlight: false/
    })
  })

  t.test('with cluster.singleFlight: false it runs, saying so loudly', async (t) => {
    const front = await ignoringFront(t, new URL(rgw.endpoint))
    const lines: string[] = []
    const loud = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
    const store = await openS3Store({ s3: s3(front, 'probe-allowed'), singleFlight: false, dir: t.testdir(), maxSize: 2 ** 20, log: loud, sweepIntervalMs: 0 })
    t.teardown(async () => { await store.close() })
    t.match(lines.join(''), /IGNORES CONDITIONAL WRITES/, 'a warning names what is missing')
    t.same((await store.health()).ok, true)
  })

  t.test('a bucket that does not exist is refused with DSM_STORE_UNREACHABLE', async (t) => {
    await t.rejects(openS3Store({ s3: { ...s3(rgw.endpoint, 'nobucket'), bucket: 'no-such-bucket-here' }, singleFlight: true, dir: t.testdir(), maxSize: 2 ** 20, log, sweepIntervalMs: 0 }), {
      code: 'DSM_STORE_UNREACHABLE',
      message: /no-such-bucket-here/
    })
  })
}
