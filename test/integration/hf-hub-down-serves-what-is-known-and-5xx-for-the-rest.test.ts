// Contract rule 6 and issue 11 item 5 (hf-protocol.md §2.3, §4.4): with the Hub unreachable,
// cached commits and the last known branch resolution are served (marked stale in Cache-Status),
// and anything unknown gets a 5xx with a DSM code, never a 404 (clients record 404s as absent).
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('Hub down: branch and pinned downloads of cached content work; the unknown is 5xx', async (t) => {
  let clock = Date.parse('2026-06-01T00:00:00Z')
  const { hub, base, proxy } = await startHfMode(t, {
    hub: { repos: [tinyModelRepo({ safetensorsBytes: 100_000 })] },
    proxy: { now: () => clock }
  })
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')
  const info = await request(`${base}/api/models/${TINY_MODEL}/revision/main`)
  await info.body.dump()
  const head = await request(`${base}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  await head.body.dump()
  const warm = await request(`${proxy.origin}${String(head.headers.location)}`)
  await warm.body.dump()

  await hub.down()
  clock += 10 * 60_000 // past revisionTtl (1m): the resolution must be asked again, and cannot be

  const branch = await request(`${base}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  await branch.body.dump()
  t.equal(branch.statusCode, 307, 'the last known resolution of main')
  t.equal(branch.headers['x-repo-commit'], sha)
  t.match(String(branch.headers['cache-status']), /fwd=stale; detail=DSM_UPSTREAM_CONNECT/)

  const pinned = await request(`${base}/${TINY_MODEL}/resolve/${sha}/model.safetensors`)
  const body = Buffer.from(await pinned.body.arrayBuffer())
  t.equal(pinned.statusCode, 200)
  t.equal(sha256(body), model.sha256, 'the cached commit is served')

  const api = await request(`${base}/api/models/${TINY_MODEL}/revision/main`)
  const json = await api.body.json() as { sha?: string }
  t.equal(api.statusCode, 200)
  t.equal(json.sha, sha)
  t.match(String(api.headers['cache-status']), /fwd=stale/)

  for (const url of [
    `${base}/${TINY_MODEL}/resolve/${sha}/config.json`,
    `${base}/acme/never-seen/resolve/main/config.json`,
    `${base}/api/models/acme/never-seen/revision/main`,
    `${base}/api/models/${TINY_MODEL}/tree/${sha}`
  ]) {
    const res = await request(url)
    const error = await res.body.json() as { code?: string }
    t.ok(res.statusCode >= 500 && res.statusCode < 600, `${url}: 5xx (${res.statusCode}), never 404`)
    t.match(error.code, /^DSM_UPSTREAM_/)
  }
})
