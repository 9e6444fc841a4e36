// Issue 11 item 1: huggingface.mount names the prefix (HF_ENDPOINT=<base>/<mount>), and the 307
// to the commit stays on it; `mount: false` turns the mode off (the path is then the mirror form's).
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('mount: hub serves /hub/ and redirects within it', async (t) => {
  const { hub, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] }, huggingface: { mount: 'hub' } })
  const res = await request(`${proxy.origin}/hub/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  await res.body.dump()
  t.equal(res.statusCode, 307)
  t.equal(res.headers.location, `/hub/${TINY_MODEL}/resolve/${hub.sha(TINY_MODEL)}/config.json`)
})

t.test('mount: false: /hf/ is not the Hub mode and nothing reaches the Hub', async (t) => {
  const { hub, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] }, huggingface: { mount: false } })
  const res = await request(`${proxy.origin}/hf/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  await res.body.dump()
  t.equal(res.statusCode, 404)
  t.notOk(res.headers['x-repo-commit'])
  t.equal(hub.requests.length, 0)
  const status = await request(`${proxy.origin}/_/api/status`)
  const snapshot = await status.body.json() as { huggingface: unknown, snippets: { huggingface: string } }
  t.equal(snapshot.huggingface, null)
  t.match(snapshot.snippets.huggingface, /mode is off/)
})
