// Leases on a real RGW for the cluster tests, on the S3 store's bucket wrapper with the If-Match
// form its start-up probe finds, and with timers the test fires by hand (heartbeats are
// scheduled, never waited for).
import { randomBytes } from 'node:crypto'
import { probeConditionalWrites } from '../../server/cache/s3/conditional-write-probe.js'
import { makeS3Client, S3Bucket } from '../../server/cache/s3/s3-client.js'
import { BucketLeaseIo, Leases, type LeaseTimers } from '../../server/cluster/lease.js'
import type { Rgw } from './rgw.js'

/** The bucket under `prefix`, probed like a replica's at start-up. */
export async function probedBucket (rgw: Rgw, prefix: string): Promise<S3Bucket> {
  const bucket = new S3Bucket(makeS3Client({ endpoint: rgw.endpoint, region: rgw.region, bucket: rgw.bucket, prefix, forcePathStyle: true }), rgw.bucket, prefix)
  const probe = await probeConditionalWrites(bucket)
  if (!probe.ok) throw new Error(`the test RGW failed the conditional-write probe: ${probe.failed}`)
  return bucket
}

/** Timers that only run when the test calls fire(). */
export function manualTimers (): LeaseTimers & { fire: () => void, pending: () => number } {
  let queue: Array<() => void> = []
  return {
    setTimeout: (fn) => { queue.push(fn); return fn },
    clearTimeout: (handle) => { queue = queue.filter((fn) => fn !== handle) },
    fire: () => { const due = queue; queue = []; for (const fn of due) fn() },
    pending: () => queue.length
  }
}

export function testLeases (bucket: S3Bucket, opts: { ttlMs: number, owner: string, timers?: LeaseTimers }): Leases {
  return new Leases({
    io: new BucketLeaseIo(bucket),
    prefix: bucket.prefix,
    ttlMs: opts.ttlMs,
    owner: opts.owner,
    addr: `http://127.0.0.1:1/${opts.owner}`,
    timers: opts.timers ?? manualTimers()
  })
}

/** A key no other test run uses. */
export function freshKey (): string {
  return randomBytes(32).toString('hex')
}
