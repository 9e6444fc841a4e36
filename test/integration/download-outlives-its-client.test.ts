// A download belongs to the cache, not to the client that started it: torchvision opens every
// URL twice and closes the first response unread. The transfer completes and the next request is
// a hit with no further upstream request.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 8 * 1024 * 1024

t.test('the download completes after its only client disconnects', async (t) => {
  const body = makeBytes(SIZE, 11)
  const upstream = await startUpstream()
  upstream.set('/mnist/train-images-idx3-ubyte.gz', { body, throttleBytesPerSec: 16 * 1024 * 1024, chunkSize: 128 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/mnist/train-images-idx3-ubyte.gz')

  const { res, req } = await openResponse(url)
  await new Promise((resolve) => res.once('data', resolve))
  req.destroy()

  const download = proxy.app.dsmirror.cache.downloads.values().next().value
  t.ok(download, 'the download is still in flight after the client left')
  await download?.settled()

  const hit = await request(url)
  t.equal(hit.headers['cache-status'], 'dsmirror; hit')
  t.equal(hit.sha256, sha256(body))
  t.equal(upstream.count('/mnist/train-images-idx3-ubyte.gz', 'GET'), 1, 'no further upstream request')
})
