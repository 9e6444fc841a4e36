// Issue 11 item 3: a blob is verified against its content address before it is committed (sha256
// for LFS, the git blob sha1 for a regular file): same-length wrong bytes from the CDN never reach
// a client complete, are not kept, and the next request fetches them again.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('corrupt LFS and regular bodies: the client connection aborts, nothing is cached', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 300_000 })] } })
  const sha = hub.sha(TINY_MODEL)
  for (const path of ['model.safetensors', 'config.json']) {
    const file = hub.file(TINY_MODEL, path)
    hub.clearFaults()
    hub.inject({ kind: ['cdn', 'resolve-cache'], method: 'GET', path, fault: { type: 'corrupt' } })
    const url = `${base}/${TINY_MODEL}/resolve/${sha}/${path}`
    const bad = await request(url)
    await t.rejects(bad.body.arrayBuffer(), `${path}: the wrong body never ends cleanly`)
    hub.clearFaults()
    const good = await request(url)
    const body = Buffer.from(await good.body.arrayBuffer())
    t.equal(good.headers['cache-status'], 'dsmirror; fwd=miss; stored', `${path}: fetched again, the wrong bytes were not kept`)
    t.equal(sha256(body), file.sha256)
  }
})
