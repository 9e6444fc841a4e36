// Issue 12 item 10: hundreds of clients on one cold object each held ~1.5 MiB (1 MiB reads per
// reader, up to four per response), 866 MiB for 500 readers, kept by the allocator afterwards.
// A reader of a download still being written reads into small buffers from the shared pool, so
// what the readers hold is bounded by their number × PUMP_BUFFERS × SMALL_BUFFER_BYTES; a hit of
// a committed file still reads large buffers (throughput), from a budget all responses share.
// The mechanism is asserted here (buffer sizes and counts), never RSS: bench/soak.ts --stampede
// measures the process with 500 readers (bench/results.md).
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, readAtLeast, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { LARGE_BUFFER_BUDGET_BYTES, PUMP_BUFFERS, readBuffers, SMALL_BUFFER_BYTES } from '../../server/cache/file-pump.js'
import { READ_CHUNK_BYTES } from '../../server/cache/growing-file-reader.js'

const SIZE = 16 * 1024 * 1024
/** The upstream sends this much, then stalls: every reader catches up with the writer and waits. */
const SENT = 4 * 1024 * 1024
const CLIENTS = 24
const WAIT_LIMIT_MS = 20_000

t.test('tailing readers read into small pooled buffers; a hit reads large ones within the budget', async (t) => {
  const body = makeBytes(SIZE, 12)
  const upstream = await startUpstream()
  upstream.set('/data/sized.bin', { body, stallAfter: SENT })
  upstream.set('/data/lengthless.bin', { body, stallAfter: SENT, contentLength: 'omit' })
  upstream.set('/data/whole.bin', { body })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  const clients: Array<{ destroy: () => void }> = []
  t.teardown(async () => {
    for (const client of clients) client.destroy()
    await proxy.close({ remove: true })
    await upstream.close()
  })

  // Every reader has all the bytes it may read (the download holds its last written byte back).
  const readable = SENT - 1
  const received = await Promise.all(Array.from({ length: CLIENTS }, async () => {
    const { res, req } = await openResponse(proxy.mirrorUrl(upstream.host, '/data/sized.bin'))
    clients.push(req)
    res.on('error', () => {})
    return await readAtLeast(res, readable, WAIT_LIMIT_MS)
  }))
  const download = [...proxy.app.dsmirror.cache.downloads.values()].find((d) => d.url.pathname === '/data/sized.bin')
  t.equal(download?.state, 'streaming', 'the download is still being written')
  for (const bytes of received) t.equal(sha256(bytes), sha256(body.subarray(0, readable)), 'each reader got the bytes written so far')

  const stats = readBuffers.stats()
  t.equal(stats.largePeak, 0, 'no tailing read used a large buffer')
  t.ok(stats.smallPeak <= CLIENTS * PUMP_BUFFERS, `at most ${PUMP_BUFFERS} small buffers per reader (peak ${stats.smallPeak})`)
  t.ok(stats.allocatedBytes <= CLIENTS * PUMP_BUFFERS * SMALL_BUFFER_BYTES,
    `the readers' buffers total at most ${CLIENTS} × ${PUMP_BUFFERS} × ${SMALL_BUFFER_BYTES} bytes (${stats.allocatedBytes})`)

  // Without Content-Length a reader streams (GrowingFileReader): its chunks and buffer stay small too.
  const lengthless = await openResponse(proxy.mirrorUrl(upstream.host, '/data/lengthless.bin'))
  clients.push(lengthless.req)
  lengthless.res.on('error', () => {})
  const pending = [...proxy.app.dsmirror.cache.downloads.values()].find((d) => d.url.pathname === '/data/lengthless.bin')
  if (pending === undefined) throw new Error('no download in flight for /data/lengthless.bin')
  const reader = pending.createReader(0, null)
  clients.push(reader)
  t.ok(reader.readableHighWaterMark <= READ_CHUNK_BYTES && READ_CHUNK_BYTES <= SMALL_BUFFER_BYTES, `the stream buffers at most ${READ_CHUNK_BYTES} bytes`)
  let largest = 0
  let streamed = 0
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the reader got ${streamed} of ${readable} bytes within ${WAIT_LIMIT_MS} ms`)) }, WAIT_LIMIT_MS)
    reader.on('data', (chunk: Buffer) => {
      largest = Math.max(largest, chunk.length)
      streamed += chunk.length
      if (streamed >= readable) { clearTimeout(timer); resolve() }
    })
  })
  t.ok(largest <= READ_CHUNK_BYTES, `every chunk of a tailing stream is at most ${READ_CHUNK_BYTES} bytes (largest ${largest})`)

  // A committed hit: large reads for throughput, within the shared budget. The first client gets
  // its last byte only once the body is published, so the second request is a hit.
  const first = await request(proxy.mirrorUrl(upstream.host, '/data/whole.bin'))
  t.equal(first.sha256, sha256(body))
  const hit = await request(proxy.mirrorUrl(upstream.host, '/data/whole.bin'))
  t.equal(hit.headers['cache-status'], 'dsmirror; hit')
  t.equal(hit.sha256, sha256(body), 'the hit is byte-exact')
  const after = readBuffers.stats()
  t.ok(after.largePeak > 0, 'a hit reads into large buffers')
  t.ok(after.largePeak * 1024 * 1024 <= LARGE_BUFFER_BUDGET_BYTES, 'large buffers stay within the shared budget')
})
