// Issue 11 item 3: blobs are keyed by content (LFS sha256, git blob sha1), so the same bytes in
// two repos (or two commits) are fetched from the Hub and stored once.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('two repos with the same weights and config: one transfer each', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ id: 'acme/a', safetensorsBytes: 100_000 }), tinyModelRepo({ id: 'acme/b', safetensorsBytes: 100_000 })] } })
  for (const repo of ['acme/a', 'acme/b']) {
    for (const path of ['model.safetensors', 'config.json']) {
      const res = await request(`${base}/${repo}/resolve/${hub.sha(repo)}/${path}`)
      const body = Buffer.from(await res.body.arrayBuffer())
      t.equal(sha256(body), hub.file(repo, path).sha256)
      t.equal(res.headers['cache-status'], repo === 'acme/a' ? 'dsmirror; fwd=miss; stored' : 'dsmirror; hit', `${repo} ${path}`)
    }
  }
  t.equal(hub.count({ kind: 'cdn', method: 'GET' }), 1)
  t.equal(hub.count({ kind: 'resolve-cache', method: 'GET' }), 1)
})
