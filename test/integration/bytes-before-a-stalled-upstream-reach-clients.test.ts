// Issue 14: the temp file is written in batches (Download WRITE_BATCH_BYTES) rather than per TLS
// record, and readers see bytes once they are written. Less than a batch must still reach the
// clients soon: an upstream that sends a little and then goes quiet (a slow mirror, a stalled
// CDN node) leaves its bytes in the queue, and only the batch timer writes them.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, readAtLeast } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { WRITE_BATCH_BYTES } from '../../server/cache/download.js'

const SIZE = 8 * 1024 * 1024
/** Several upstream chunks, together less than one write batch. */
const SENT = 320 * 1024
const WAIT_LIMIT_MS = 10_000

t.test('bytes sent before the upstream stalls reach the client though they fill no write batch', async (t) => {
  t.ok(SENT < WRITE_BATCH_BYTES, 'what is sent is less than one batch')
  const body = makeBytes(SIZE, 14)
  const upstream = await startUpstream()
  upstream.set('/data/stalls.bin', { body, stallAfter: SENT, chunkSize: 64 * 1024 })
  // The idle timeout is far off: its drop-and-resume would write the queue too, and hide a missing timer.
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { timeouts: { connect: '2s', headers: '5s', idle: '60s' } } } })
  const { res, req } = await openResponse(proxy.mirrorUrl(upstream.host, '/data/stalls.bin'))
  t.teardown(async () => {
    req.destroy()
    await proxy.close({ remove: true })
    await upstream.close()
  })
  res.on('error', () => {})

  // The download holds its last written byte back until the body is verified.
  const readable = SENT - 1
  const received = await readAtLeast(res, readable, WAIT_LIMIT_MS)
  t.equal(sha256(received), sha256(body.subarray(0, readable)), 'the client got every byte sent so far')
  const download = [...proxy.app.dsmirror.cache.downloads.values()][0]
  t.equal(download?.state, 'streaming', 'while the upstream is still silent')
})
