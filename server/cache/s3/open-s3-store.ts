// Start-up of store.kind s3 (issue 19 items 1 and 4; docs/s3.md): the bucket must answer, and
// conditional writes must really work, before a replica serves anything from it.
import { StoreConditionalWritesError, StoreUnreachableError } from '../../errors.js'
import { DiskStore } from '../disk-store.js'
import { probeConditionalWrites, type ProbeResult } from './conditional-write-probe.js'
import { S3Bucket, type S3StoreConfig } from './s3-client.js'
import { S3Store, type S3StoreOptions } from './s3-store.js'

export interface OpenS3StoreOptions extends Pick<S3StoreOptions, 'log' | 'now' | 'minPartSize' | 'sweepIntervalMs'> {
  s3: S3StoreConfig & { maxSize: number }
  /** cluster.singleFlight: false lets a store without conditional writes run, loudly. */
  singleFlight: boolean
  /** The L1 of this replica: cache.dir and cache.maxSize. */
  dir: string
  maxSize: number
}

function where (s3: S3StoreConfig): string {
  return s3.endpoint ?? `AWS S3 (${s3.region})`
}

/** Checks the bucket (HeadBucket, then the probe) and opens L1 and the store. */
export async function checkS3Bucket (bucket: S3Bucket, s3: S3StoreConfig): Promise<ProbeResult> {
  try {
    await bucket.headBucket()
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    const reason = err instanceof Error ? `${err.name}${status === undefined ? '' : ` ${status}`}: ${err.message}` : String(err)
    throw new StoreUnreachableError(bucket.bucket, where(s3), reason)
  }
  return await probeConditionalWrites(bucket)
}

export async function openS3Store (opts: OpenS3StoreOptions): Promise<S3Store> {
  const bucket = S3Bucket.fromConfig(opts.s3)
  try {
    const probe = await checkS3Bucket(bucket, opts.s3)
    if (!probe.ok) {
      if (opts.singleFlight) throw new StoreConditionalWritesError(bucket.bucket, where(opts.s3), probe.failed)
      opts.log.warn({ bucket: bucket.bucket, endpoint: where(opts.s3), failed: probe.failed },
        'THE S3 STORE IGNORES CONDITIONAL WRITES: running without cross-replica coordination (cluster.singleFlight: false); concurrent commits of one key are last-writer-wins')
    } else {
      opts.log.info({ bucket: bucket.bucket, endpoint: where(opts.s3), ifMatch: probe.ifMatch }, 'S3 store honours conditional writes')
    }
  } catch (err) {
    bucket.destroy()
    throw err
  }
  const l1 = await DiskStore.open({ dir: opts.dir, maxSize: opts.maxSize, log: opts.log, ...(opts.now === undefined ? {} : { now: opts.now }) })
  return await S3Store.open({
    l1,
    bucket,
    maxSize: opts.s3.maxSize,
    log: opts.log,
    ...(opts.now === undefined ? {} : { now: opts.now }),
    ...(opts.minPartSize === undefined ? {} : { minPartSize: opts.minPartSize }),
    ...(opts.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: opts.sweepIntervalMs })
  })
}

/** What `dsmirror doctor` says of store.kind s3 (issue 19 item 4): reachable, the bucket, the probe. */
export interface StoreDoctorReport {
  kind: 's3'
  endpoint: string
  bucket: string | null
  prefix: string
  ok: boolean
  /** How PutObject If-Match takes the ETag on this engine, when the probe passed. */
  ifMatch: 'quoted' | 'unquoted' | null
  problem: string | null
}

export async function doctorS3Store (s3: S3StoreConfig): Promise<StoreDoctorReport> {
  const report: StoreDoctorReport = { kind: 's3', endpoint: where(s3), bucket: s3.bucket, prefix: s3.prefix, ok: false, ifMatch: null, problem: null }
  let bucket: S3Bucket | null = null
  try {
    bucket = S3Bucket.fromConfig(s3)
    const probe = await checkS3Bucket(bucket, s3)
    if (probe.ok) {
      report.ok = true
      report.ifMatch = probe.ifMatch
    } else {
      report.problem = new StoreConditionalWritesError(bucket.bucket, where(s3), probe.failed).message
    }
  } catch (err) {
    report.problem = err instanceof Error ? err.message : String(err)
  } finally {
    bucket?.destroy()
  }
  return report
}

export function formatStoreDoctorReport (r: StoreDoctorReport): string {
  const head = `S3 store: bucket ${r.bucket ?? '(not set)'} at ${r.endpoint}, prefix ${r.prefix}`
  return r.ok
    ? `${head}\n  ok: reachable; conditional writes honoured (If-Match with ${r.ifMatch === 'unquoted' ? 'bare' : 'quoted'} ETags)\n`
    : `${head}\n  FAILED: ${r.problem ?? 'unknown'}\n`
}
