// Issue 11 "Show": 8 concurrent clients on a cold repo, each doing what hf_hub_download does per
// file (HEAD at main, follow the 307, GET at the commit): every blob comes from the Hub (or its
// CDN) exactly once, the branch is resolved once, and every client gets the right bytes.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

const CLIENTS = 8

t.test('8 cold clients: one Hub transfer per blob, one revision call', async (t) => {
  const { hub, base, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 2 * 1024 * 1024 })] } })
  const files = hub.files(TINY_MODEL)
  const client = async (): Promise<void> => {
    for (const file of files) {
      const head = await request(`${base}/${TINY_MODEL}/resolve/main/${file.path}`, { method: 'HEAD' })
      await head.body.dump()
      t.equal(head.statusCode, 307)
      const get = await request(`${proxy.origin}${String(head.headers.location)}`)
      const body = Buffer.from(await get.body.arrayBuffer())
      t.equal(get.statusCode, 200)
      t.equal(sha256(body), file.sha256, `${file.path} whole and right`)
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, client))
  t.equal(hub.count({ kind: 'api-info' }), 1, 'main resolved once')
  for (const file of files) {
    if (file.lfs) t.equal(hub.count({ kind: 'cdn', method: 'GET', path: file.path }), 1, `${file.path}: one CDN transfer`)
    else t.equal(hub.count({ kind: 'resolve-cache', method: 'GET', path: file.path }), 1, `${file.path}: one Hub transfer`)
  }
})
