// The store contract (docs/design.md "The store contract") on S3Store over a real Ceph RGW
// (test/helpers/rgw.ts): the conformance suite unchanged. A location is this replica's L1
// directory and, through a prefix made from it, its part of the bucket: a restart on the same
// location finds both again.
import { createHash } from 'node:crypto'
import pino from 'pino'
import t from 'tap'
import { openS3Store } from '../../server/cache/s3/open-s3-store.js'
import { useRgw, uniquePrefix } from '../helpers/rgw.js'
import { cacheStoreTests } from './cache-store.suite.js'

const log = pino({ level: 'silent' })
const rgw = await useRgw(t)
if ('skip' in rgw) {
  t.test('S3Store conformance', { skip: rgw.skip }, () => {})
} else {
  const run = uniquePrefix('suite')
  cacheStoreTests(t, async ({ location, maxSize, now }) => await openS3Store({
    s3: { endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix: `${run}${createHash('sha256').update(location).digest('hex').slice(0, 16)}/`, forcePathStyle: null, maxSize },
    singleFlight: true,
    dir: location,
    maxSize,
    log,
    now,
    sweepIntervalMs: 0
  }))
}
