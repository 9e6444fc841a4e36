// The start-up probe of issue 19 item 4: does this engine really honour conditional PutObject?
// Engines exist that accept If-None-Match / If-Match and ignore them (pithings/mountx#19,
// minio#21526), and Ceph RGW 16 fails If-Match with the ETag quoted as S3 returns it
// (research/rgw-recipe.md §4). So the checks are positive as well as negative: a second
// `If-None-Match: *` PUT must fail, an `If-Match` with the current ETag must succeed (quoted or
// bare: whichever works is what the store uses), and a bogus `If-Match` must fail.
import { createHash } from 'node:crypto'
import { S3Bucket, nonce, type IfMatchForm } from './s3-client.js'

export type ProbeResult =
  | { ok: true, ifMatch: IfMatchForm }
  | { ok: false, failed: string }

/** Where the probe writes; under the store's prefix, so the credentials it needs are the store's own. */
export function probeKey (prefix: string): string {
  return `${prefix}v1/probe/${nonce()}`
}

export async function probeConditionalWrites (bucket: S3Bucket): Promise<ProbeResult> {
  const key = probeKey(bucket.prefix)
  try {
    const first = await bucket.putIfAbsent(key, Buffer.from(nonce()), 'text/plain')
    if (first === null) return { ok: false, failed: 'a PUT with If-None-Match: * of a new key failed' }
    if (await bucket.putIfAbsent(key, Buffer.from(nonce()), 'text/plain') !== null) {
      return { ok: false, failed: 'a second PUT with If-None-Match: * of the same key succeeded (the condition was ignored)' }
    }
    let etag = (await bucket.head(key))?.etag ?? first.etag
    let form: IfMatchForm | null = null
    for (const candidate of ['quoted', 'unquoted'] as const) {
      bucket.ifMatchForm = candidate
      const put = await bucket.putIfMatch(key, Buffer.from(nonce()), etag, 'text/plain')
      if (put !== null) {
        form = candidate
        etag = put.etag
        break
      }
    }
    if (form === null) return { ok: false, failed: 'a PUT with If-Match: <the current ETag> failed, quoted and bare (every If-Match is refused)' }
    bucket.ifMatchForm = form
    // Same length as a real ETag: RGW compares If-Match by prefix over the stored ETag's length.
    const bogus = createHash('md5').update(nonce()).digest('hex')
    if (await bucket.putIfMatch(key, Buffer.from(nonce()), bogus, 'text/plain') !== null) {
      return { ok: false, failed: 'a PUT with If-Match: <a wrong ETag> succeeded (the condition was ignored)' }
    }
    return { ok: true, ifMatch: form }
  } finally {
    await bucket.delete(key).catch(() => {})
  }
}
