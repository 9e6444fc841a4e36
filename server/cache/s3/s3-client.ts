// The S3 client of the shared store (issue 19; docs/s3.md) and the few typed calls the store and
// the cluster lease make. No store logic here: server/cluster/* imports this file for its lease
// (putIfAbsent / putIfMatch / get with S3's Date header), research/s3-tier.md §2.2.
// @aws-sdk/client-s3 rather than hand-signed SigV4 (research §5): credential chain with refresh,
// adaptive retries, clock-skew correction, XML error parsing (incl. 200-with-error on Complete).
import { createHash, randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig
} from '@aws-sdk/client-s3'

/** The part of `config.store.s3` the client needs. */
export interface S3StoreConfig {
  endpoint: string | null
  region: string
  bucket: string | null
  prefix: string
  forcePathStyle: boolean | null
}

/** Parts in flight per upload (research §3.1: 2–4); the keep-alive pool is sized to it plus reads. */
export const S3_PART_CONCURRENCY = 3
const S3_MAX_SOCKETS = 32
/** Attempts per call, adaptive mode (research §6: 503 SlowDown backs off harder than resets). */
const S3_MAX_ATTEMPTS = 5

/**
 * How this engine wants the ETag in a PutObject `If-Match`. AWS and MinIO take it as returned
 * (quoted); Ceph RGW 16 compares the raw header with its stored unquoted ETag, so only the bare
 * form matches (research/rgw-recipe.md §4). The start-up probe decides (conditional-write-probe.ts).
 */
export type IfMatchForm = 'quoted' | 'unquoted'

export function makeS3Client (cfg: S3StoreConfig): S3Client {
  const options: S3ClientConfig = {
    region: cfg.region,
    // null: path style where an endpoint is given (RGW, MinIO answer on one host), virtual-host on AWS.
    forcePathStyle: cfg.forcePathStyle ?? cfg.endpoint !== null,
    // Since client-s3 3.729 the SDK adds CRC32 trailers by default; engines that do not know the
    // aws-chunked trailer encoding fail or store the framing as object bytes (aws-sdk-js-v3#6810,
    // seaweedfs#7623). Parts carry Content-MD5 instead (research §3.4).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    retryMode: 'adaptive',
    maxAttempts: S3_MAX_ATTEMPTS,
    requestHandler: {
      httpAgent: { keepAlive: true, maxSockets: S3_MAX_SOCKETS },
      httpsAgent: { keepAlive: true, maxSockets: S3_MAX_SOCKETS }
    }
  }
  if (cfg.endpoint !== null) options.endpoint = cfg.endpoint
  return new S3Client(options)
}

/** An HTTP status of a failed SDK call, or undefined for a network error. */
export function s3Status (err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
  return meta?.httpStatusCode
}

/** A failed condition: 412, or 409 ConditionalRequestConflict from a concurrent conditional writer (AWS). */
export function isConditionFailed (err: unknown): boolean {
  const status = s3Status(err)
  return status === 412 || status === 409
}

function isNotFound (err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name
  return s3Status(err) === 404 || name === 'NoSuchKey' || name === 'NotFound'
}

export function md5Base64 (bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('base64')
}

export interface GotObject {
  body: Buffer
  etag: string
  /** S3's Date header of this answer: the store's clock (lease staleness never uses the replica's). */
  date: Date | null
  lastModified: Date | null
}

export interface ObjectHead {
  etag: string
  size: number
  lastModified: Date | null
}

/** Keeps the Date header of one call's answer (the SDK drops it from outputs). */
function captureDate<C extends { middlewareStack: { add: (...args: any[]) => void } }> (command: C, into: { date: Date | null }): C {
  command.middlewareStack.add((next: (args: unknown) => Promise<{ response: { headers?: Record<string, string> } }>) => async (args: unknown) => {
    const result = await next(args)
    const header = result.response.headers?.date
    if (header !== undefined) into.date = new Date(header)
    return result
  }, { step: 'deserialize', name: 'dsmirrorCaptureDate' })
  return command
}

/** One bucket and prefix, with the calls dsmirror makes. */
export class S3Bucket {
  readonly client: S3Client
  readonly bucket: string
  readonly prefix: string
  /** Set by the start-up probe; quoted until then (the S3 standard). */
  ifMatchForm: IfMatchForm = 'quoted'

  constructor (client: S3Client, bucket: string, prefix: string) {
    this.client = client
    this.bucket = bucket
    this.prefix = prefix
  }

  static fromConfig (cfg: S3StoreConfig, prefix = cfg.prefix): S3Bucket {
    if (cfg.bucket === null) throw new Error('store.s3.bucket is not set')
    return new S3Bucket(makeS3Client(cfg), cfg.bucket, prefix)
  }

  /** The ETag in the form this engine's PutObject If-Match compares. */
  ifMatchValue (etag: string): string {
    const bare = etag.replace(/^"(.*)"$/, '$1')
    return this.ifMatchForm === 'quoted' ? `"${bare}"` : bare
  }

  async headBucket (): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
  }

  /** PUT with `If-None-Match: *`; null when the key exists (or a concurrent creator won). */
  async putIfAbsent (key: string, body: Buffer, contentType = 'application/json'): Promise<{ etag: string } | null> {
    try {
      const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentMD5: md5Base64(body), IfNoneMatch: '*' }))
      return { etag: out.ETag ?? '' }
    } catch (err) {
      if (isConditionFailed(err)) return null
      throw err
    }
  }

  /** PUT with `If-Match: <etag>` in the probed form; null when the object changed or is gone. */
  async putIfMatch (key: string, body: Buffer, etag: string, contentType = 'application/json'): Promise<{ etag: string } | null> {
    try {
      const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentMD5: md5Base64(body), IfMatch: this.ifMatchValue(etag) }))
      return { etag: out.ETag ?? '' }
    } catch (err) {
      // RGW answers 412 on a missing key, AWS 404 NoSuchKey: both mean "not the object you saw".
      if (isConditionFailed(err) || isNotFound(err)) return null
      throw err
    }
  }

  async put (key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<{ etag: string }> {
    const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentMD5: md5Base64(body), ContentLength: body.length }))
    return { etag: out.ETag ?? '' }
  }

  /** The whole (small) object with its ETag and S3's Date; null when there is none. */
  async get (key: string): Promise<GotObject | null> {
    const seen = { date: null as Date | null }
    try {
      const out = await this.client.send(captureDate(new GetObjectCommand({ Bucket: this.bucket, Key: key }), seen))
      const body = Buffer.from(await out.Body?.transformToByteArray() ?? new Uint8Array())
      return { body, etag: out.ETag ?? '', date: seen.date, lastModified: out.LastModified ?? null }
    } catch (err) {
      if (isNotFound(err)) return null
      throw err
    }
  }

  async head (key: string): Promise<ObjectHead | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return { etag: out.ETag ?? '', size: out.ContentLength ?? 0, lastModified: out.LastModified ?? null }
    } catch (err) {
      if (isNotFound(err)) return null
      throw err
    }
  }

  /**
   * Bytes [start, endInclusive] of `key`, only while its ETag is still `etag` (GET compares quoted
   * ETags properly on every engine seen): a replaced or deleted object fails, never mixes bodies.
   */
  async getRange (key: string, start: number, endInclusive: number, etag: string, signal?: AbortSignal): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${endInclusive}`, IfMatch: etag }), signal === undefined ? {} : { abortSignal: signal })
    if (out.Body === undefined) throw new Error(`S3 answered GET ${key} without a body`)
    return out.Body as Readable
  }

  async delete (key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
  }

  async createMultipart (key: string): Promise<string> {
    const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream' }))
    if (out.UploadId === undefined) throw new Error(`S3 gave no UploadId for ${key}`)
    return out.UploadId
  }

  /**
   * One part with Content-MD5 (the engine answers BadDigest on a mismatch); its ETag, which on
   * non-KMS engines is that MD5: checked too, a second guard beside the header.
   */
  async uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const md5 = md5Base64(body)
    const out = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentMD5: md5, ContentLength: body.length }))
    const etag = out.ETag ?? ''
    if (etag.replace(/"/g, '') !== Buffer.from(md5, 'base64').toString('hex')) throw new Error(`S3 part ${partNumber} of ${key} came back with ETag ${etag}`)
    return etag
  }

  async completeMultipart (key: string, uploadId: string, parts: Array<{ PartNumber: number, ETag: string }>): Promise<void> {
    await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }))
  }

  /**
   * The ETag of an object just completed, once it is there whole (`size` bytes): RGW 16 answers
   * Complete with an empty ETag, HeadObject has the real one (rgw-recipe.md §4).
   */
  async completedETag (key: string, size: number): Promise<string> {
    const head = await this.head(key)
    if (head === null || head.size !== size) throw new Error(`S3 object ${key} is not there whole after its upload completed`)
    return head.etag
  }

  async abortMultipart (key: string, uploadId: string): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
  }

  /** Every object under `prefix` (after `startAfter`), page by page. */
  async * list (prefix: string, startAfter?: string, pageSize = 1000): AsyncGenerator<{ key: string, size: number, etag: string, lastModified: Date | null }> {
    let token: string | undefined
    for (;;) {
      const out = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        MaxKeys: pageSize,
        ...(token === undefined ? (startAfter === undefined ? {} : { StartAfter: startAfter }) : { ContinuationToken: token })
      }))
      for (const o of out.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? null }
      }
      if (out.IsTruncated !== true || out.NextContinuationToken === undefined) return
      token = out.NextContinuationToken
    }
  }

  /** Incomplete multipart uploads under `prefix`, with when they were started (S3's clock). */
  async * listUploads (prefix: string): AsyncGenerator<{ key: string, uploadId: string, initiated: Date | null }> {
    let keyMarker: string | undefined
    let idMarker: string | undefined
    for (;;) {
      const out = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.bucket,
        Prefix: prefix,
        ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
        ...(idMarker === undefined ? {} : { UploadIdMarker: idMarker })
      }))
      for (const u of out.Uploads ?? []) {
        if (u.Key !== undefined && u.UploadId !== undefined) yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? null }
      }
      if (out.IsTruncated !== true) return
      keyMarker = out.NextKeyMarker
      idMarker = out.NextUploadIdMarker
    }
  }

  /** S3's clock now: the Date of a cheap answer (HeadBucket). */
  async serverNow (): Promise<Date | null> {
    const seen = { date: null as Date | null }
    await this.client.send(captureDate(new HeadBucketCommand({ Bucket: this.bucket }), seen))
    return seen.date
  }

  destroy (): void {
    this.client.destroy()
  }
}

/** A fresh random id: every lease/probe body differs, so ETags never repeat (research §2.2). */
export function nonce (): string {
  return randomBytes(12).toString('hex')
}
