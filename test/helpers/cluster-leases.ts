// Leases on a real RGW for the cluster tests, with timers the test fires by hand (heartbeats
// are scheduled, never waited for).
import { S3Client } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { Leases, S3LeaseIo, type LeaseTimers } from '../../server/cluster/lease.js'
import type { RgwEnv } from './cluster-rgw.js'

export function rgwClient (rgw: RgwEnv): S3Client {
  return new S3Client({
    region: rgw.region,
    endpoint: rgw.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
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

export function testLeases (rgw: RgwEnv, client: S3Client, opts: { prefix: string, ttlMs: number, owner: string, timers?: LeaseTimers }): Leases {
  return new Leases({
    io: new S3LeaseIo(client, rgw.bucket),
    prefix: opts.prefix,
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
