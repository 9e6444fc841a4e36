// Contract rule 7 (hf-protocol.md §1.8): clients give a HEAD and each read 10 s. A cold file's
// HEAD is answered from the Hub's metadata without waiting for any byte, and its GET streams the
// bytes that arrived while the rest is still coming (here the CDN stalls mid-way).
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('HEAD needs no byte; GET delivers the first bytes while the CDN stalls', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 4 * 1024 * 1024 })] } })
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')
  const url = `${base}/${TINY_MODEL}/resolve/${sha}/model.safetensors`
  // Stalled until the hub closes: the test ends by itself (teardown) whatever the code does.
  hub.inject({ kind: 'cdn', method: 'GET', fault: { type: 'stall', afterBytes: 1024 * 1024 } })

  const head = await request(url, { method: 'HEAD' })
  await head.body.dump()
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], String(model.size))
  t.equal(hub.count({ kind: 'cdn' }), 0, 'the HEAD fetched no byte')

  const controller = new AbortController()
  const get = await request(url, { signal: controller.signal })
  t.equal(get.statusCode, 200)
  t.equal(get.headers['content-length'], String(model.size))
  let received = 0
  for await (const chunk of get.body) {
    received += (chunk as Buffer).length
    if (received >= 512 * 1024) break
  }
  t.ok(received >= 512 * 1024, `bytes streamed before the file is complete (${received})`)
  const status = await request(`${base.replace(/\/hf$/, '')}/_/api/status`)
  const snapshot = await status.body.json() as { downloads: Array<{ size: number | null }> }
  t.same(snapshot.downloads.map((d) => d.size), [model.size], 'the blob download shows on the status page while it runs')
  controller.abort()
})
