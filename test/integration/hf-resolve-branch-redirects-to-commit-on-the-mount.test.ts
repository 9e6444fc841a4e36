// Contract rules 1-3 (hf-protocol.md §0, §2.2): a resolve at a branch answers a relative 307 to
// the same mount at /{sha}/ with X-Repo-Commit, never the Hub's own Location (the relative
// /api/resolve-cache one would lose the /hf prefix; the CDN one would bypass the mirror).
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('HEAD and GET at main: 307 to /hf/{repo}/resolve/{sha}/{path}, query kept', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 50_000 })] } })
  const sha = hub.sha(TINY_MODEL)
  for (const path of ['config.json', 'model.safetensors']) {
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await request(`${base}/${TINY_MODEL}/resolve/main/${path}?download=true`, { method })
      await res.body.dump()
      t.equal(res.statusCode, 307, `${method} ${path}`)
      t.equal(res.headers.location, `/hf/${TINY_MODEL}/resolve/${sha}/${path}?download=true`, 'relative, on the mount, pinned')
      t.equal(res.headers['x-repo-commit'], sha)
    }
  }
})
