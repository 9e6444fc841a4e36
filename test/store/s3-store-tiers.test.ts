// S3Store beyond the shared contract (issue 19 items 1 and 2; docs/s3.md), on a real Ceph RGW:
// a replica with an empty L1 serves from the bucket and back-fills its disk; a body over one part
// goes up as a multipart upload whose object re-hashes to the source (no aws-chunked framing
// stored); an upload that fails is aborted and publishes nothing; the sweeper removes orphans.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { EntryMeta } from '../../server/cache/cache-store.js'
import { openS3Store } from '../../server/cache/s3/open-s3-store.js'
import { S3_MIN_PART_BYTES, type S3Store } from '../../server/cache/s3/s3-store.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { useRgw, uniquePrefix, type Rgw } from '../helpers/rgw.js'
import { waitUntil } from '../helpers/wait.js'

const log = pino({ level: 'silent' })
const rgw = await useRgw(t)

const keyOf = (name: string): string => createHash('sha256').update(name).digest('hex')

function metaFor (key: string, body: Buffer, digest = sha256(body)): EntryMeta {
  return { key, url: `https://example.org/${key.slice(0, 8)}`, status: 200, headers: { 'content-type': 'application/octet-stream' }, size: body.length, sha256: digest, etag: null, lastModified: null, fetchedAt: 1, lastAccess: 1, immutable: true, policy: {} }
}

/** Each store its own L1 directory: a second t.testdir() in one test would wipe the first's. */
async function open (t: Test, r: Rgw, prefix: string, opts: { maxSize?: number } = {}): Promise<S3Store> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-s3-l1-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = await openS3Store({
    s3: { endpoint: r.endpoint, region: r.region, bucket: r.bucket, prefix, forcePathStyle: null, maxSize: 2 ** 30 },
    singleFlight: true,
    dir,
    maxSize: opts.maxSize ?? 2 ** 30,
    log,
    minPartSize: S3_MIN_PART_BYTES,
    sweepIntervalMs: 0
  })
  t.teardown(async () => { await store.close() })
  return store
}

/** Stages and commits as download.ts does; the durable promise, the staged file closed after it. */
async function put (store: S3Store, key: string, body: Buffer, digest?: string): Promise<{ durable: Promise<void> }> {
  const room = await store.reserve(body.length)
  if (typeof room === 'string') throw new Error(`refused: ${room}`)
  const handle = await store.staging.open(key)
  room.use(body.length)
  let done = 0
  while (done < body.length) done += (await handle.write(body, done, body.length - done, done)).bytesWritten
  const { durable } = await store.commit(metaFor(key, body, digest), handle, room)
  return { durable: durable.finally(async () => { await handle.close() }) }
}

async function readAll (store: S3Store, key: string, start = 0, end: number | null = null): Promise<Buffer> {
  const opened = await store.openBody(key)
  if (opened === null) throw new Error('not found')
  try {
    const chunks: Buffer[] = []
    for await (const chunk of opened.stream(start, end) as AsyncIterable<Buffer>) chunks.push(chunk)
    return Buffer.concat(chunks)
  } finally {
    await opened.close()
  }
}

if ('skip' in rgw) {
  t.test('S3Store tiers', { skip: rgw.skip }, () => {})
} else {
  t.test('a replica with an empty disk serves from S3 and back-fills its L1', async (t) => {
    const prefix = uniquePrefix('tiers')
    const first = await open(t, rgw, prefix)
    const key = keyOf('shared')
    const body = makeBytes(300_000, 1)
    await (await put(first, key, body)).durable
    const second = await open(t, rgw, prefix)
    t.equal(second.l1.peek(key), undefined, 'the second replica has nothing on disk')
    t.equal((await second.peek(key))?.sha256, sha256(body), 'but finds the entry in the bucket')
    t.ok(body.subarray(1000, 2000).equals(await readAll(second, key, 1000, 1999)), 'a range comes from S3')
    t.equal(second.tierStats.s3Hits, 1, 'counted as an S3 hit')
    await waitUntil(() => second.l1.peek(key), { what: 'the back-fill into L1' })
    t.ok(body.equals(await readAll(second, key)), 'the back-filled body is the committed one')
    t.equal(second.tierStats.l1Hits, 1, 'and is then an L1 hit')
  })

  t.test('a download staging a key stops its back-fill: the new body is the one kept', async (t) => {
    const prefix = uniquePrefix('backfill-race')
    const first = await open(t, rgw, prefix)
    const key = keyOf('raced')
    const old = makeBytes(4 * 1024 * 1024, 5)
    await (await put(first, key, old)).durable
    const second = await open(t, rgw, prefix)
    const reader = await second.openBody(key)
    t.equal(reader?.remote, true, 'an S3 body, read with ranged GETs')
    // The back-fill starts once the reader is done (never beside it); a download of a new body starts at once.
    await reader?.close()
    const fresh = makeBytes(1_000_000, 6)
    await (await put(second, key, fresh)).durable
    await second.close()
    t.equal(second.l1.peek(key)?.sha256, sha256(fresh), 'L1 holds the new body')
    t.ok(fresh.equals(await readAll(await open(t, rgw, prefix), key)), 'and so does the bucket')
  })

  t.test('a body over one part goes up as a multipart upload; the S3 object re-hashes to the source', async (t) => {
    const prefix = uniquePrefix('mpu')
    const store = await open(t, rgw, prefix)
    const key = keyOf('big')
    const body = makeBytes(2 * S3_MIN_PART_BYTES + 123_457, 2)
    await (await put(store, key, body)).durable
    const meta = await store.bucket.get(store.metaKey(key))
    const pointer = (JSON.parse(meta?.body.toString() ?? '{}') as { s3: { dataKey: string, dataETag: string } }).s3
    t.match(pointer.dataETag, /-3"$/, 'three parts (5 MiB, 5 MiB, the rest)')
    const hash = createHash('sha256')
    for await (const chunk of await store.bucket.getRange(pointer.dataKey, 0, body.length - 1, pointer.dataETag) as AsyncIterable<Buffer>) hash.update(chunk)
    t.equal(hash.digest('hex'), sha256(body), 'the object in S3 re-hashed equals the source')
    t.equal(store.tierStats.bytesUploaded, body.length)
  })

  t.test('parts go up while the body is still being staged (issue 19 item 2), completed only at commit', async (t) => {
    const prefix = uniquePrefix('spool')
    const store = await open(t, rgw, prefix)
    const key = keyOf('spooled')
    const body = makeBytes(2 * S3_MIN_PART_BYTES + 4321, 8)
    const room = await store.reserve(body.length)
    if (typeof room === 'string') throw new Error(room)
    const handle = await store.staging.open(key)
    room.use(body.length)
    // The first two parts' bytes, written in two writes as a download does: the body is not complete.
    const firstParts = 2 * S3_MIN_PART_BYTES
    await handle.write(body, 0, S3_MIN_PART_BYTES, 0)
    await handle.writev([body.subarray(S3_MIN_PART_BYTES, firstParts)], S3_MIN_PART_BYTES)
    const uploading = await waitUntil(async () => {
      const out = await store.bucket.client.send(new ListMultipartUploadsCommand({ Bucket: rgw.bucket, Prefix: prefix }))
      const upload = out.Uploads?.[0]
      if (upload?.UploadId === undefined || upload.Key === undefined) return null
      const parts = await store.bucket.client.send(new ListPartsCommand({ Bucket: rgw.bucket, Key: upload.Key, UploadId: upload.UploadId }))
      return (parts.Parts?.length ?? 0) === 2 ? upload.Key : null
    }, { what: 'two parts uploaded before the body is complete' })
    t.equal(await store.bucket.get(store.metaKey(key)), null, 'nothing is visible in the bucket yet')
    await handle.write(body, firstParts, body.length - firstParts, firstParts)
    const { durable } = await store.commit(metaFor(key, body), handle, room)
    await durable
    await handle.close()
    const pointer = (JSON.parse((await store.bucket.get(store.metaKey(key)))?.body.toString() ?? '{}') as { s3: { dataKey: string, dataETag: string } }).s3
    t.equal(pointer.dataKey, uploading, 'the spooled upload is the committed body')
    t.match(pointer.dataETag, /-3"$/, 'three parts')
    const hash = createHash('sha256')
    for await (const chunk of await store.bucket.getRange(pointer.dataKey, 0, body.length - 1, pointer.dataETag) as AsyncIterable<Buffer>) hash.update(chunk)
    t.equal(hash.digest('hex'), sha256(body), 'and re-hashes to the source')
  })

  t.test('a staged body rewritten from the start is not spooled: the commit uploads the file', async (t) => {
    const prefix = uniquePrefix('spool-rewrite')
    const store = await open(t, rgw, prefix)
    const key = keyOf('rewritten')
    const stale = makeBytes(S3_MIN_PART_BYTES + 10, 9)
    const body = makeBytes(2 * S3_MIN_PART_BYTES + 10, 10)
    const room = await store.reserve(body.length)
    if (typeof room === 'string') throw new Error(room)
    const handle = await store.staging.open(key)
    room.use(body.length)
    await handle.write(stale, 0, stale.length, 0)
    await handle.write(body, 0, body.length, 0)
    const { durable } = await store.commit(metaFor(key, body), handle, room)
    await durable
    await handle.close()
    const second = await open(t, rgw, prefix)
    t.ok(body.equals(await readAll(second, key)), 'the bucket holds the committed bytes, not the first ones')
    const left = await store.bucket.client.send(new ListMultipartUploadsCommand({ Bucket: rgw.bucket, Prefix: prefix }))
    t.same(left.Uploads ?? [], [], 'the given-up upload was aborted')
  })

  t.test('an upload that fails is aborted and publishes nothing', async (t) => {
    const prefix = uniquePrefix('abort')
    const store = await open(t, rgw, prefix)
    const key = keyOf('bad')
    const body = makeBytes(2 * S3_MIN_PART_BYTES + 10, 3)
    // The staged bytes are not those download.ts verified: the upload must not complete.
    await t.rejects((await put(store, key, body, sha256(Buffer.from('other')))).durable, /is not the verified one|changed on disk/)
    t.equal(await store.bucket.get(store.metaKey(key)), null, 'no meta object')
    const uploads = await store.bucket.client.send(new ListMultipartUploadsCommand({ Bucket: rgw.bucket, Prefix: prefix }))
    t.same(uploads.Uploads ?? [], [], 'no multipart upload left behind')
    t.equal(store.tierStats.uploadsAborted, 1)
  })

  t.test('the sweeper removes orphan data and stale uploads, and keeps committed data', async (t) => {
    const prefix = uniquePrefix('sweep')
    const store = await open(t, rgw, prefix)
    const key = keyOf('kept')
    await (await put(store, key, makeBytes(1000, 4))).durable
    const orphanKey = `${prefix}v1/data/${keyOf('gone').slice(0, 2)}/${keyOf('gone')}/fill-1`
    await store.bucket.put(orphanKey, Buffer.from('orphan'))
    const uploadKey = `${prefix}v1/data/${keyOf('crashed').slice(0, 2)}/${keyOf('crashed')}/fill-2`
    await store.bucket.createMultipart(uploadKey)
    t.same(await store.sweep(0), { uploadsAborted: 1, dataDeleted: 1 }, 'one upload aborted, one orphan deleted')
    t.equal(await store.bucket.head(orphanKey), null, 'the orphan is gone')
    t.ok(body(await readAll(store, key)), 'the committed entry still reads')
    t.equal(store.tierStats.orphansSwept, 2)
    t.same(await store.sweep(0), { uploadsAborted: 0, dataDeleted: 0 }, 'a second sweep finds nothing')
  })
}

function body (b: Buffer): boolean { return b.equals(makeBytes(1000, 4)) }
