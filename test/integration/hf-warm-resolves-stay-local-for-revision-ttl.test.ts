// Issue 11 item 2 (hf-protocol.md §3 "Rate limits"): a branch resolution is reused for
// huggingface.revisionTtl and file metadata at a commit for good, so warm HEADs never reach the
// Hub; after revisionTtl the branch is asked again (and follows a moved branch); a 429 then is
// answered from the last resolution (counted as avoided).
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('warm HEADs are local; revisionTtl later main is asked again', async (t) => {
  let clock = Date.parse('2026-06-01T00:00:00Z')
  const { hub, base, proxy } = await startHfMode(t, {
    hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] },
    proxy: { now: () => clock },
    huggingface: { revisionTtl: '30s' }
  })
  const headAll = async (): Promise<string> => {
    let sha = ''
    for (const file of hub.files(TINY_MODEL)) {
      const res = await request(`${base}/${TINY_MODEL}/resolve/main/${file.path}`, { method: 'HEAD' })
      await res.body.dump()
      sha = String(res.headers['x-repo-commit'])
      const pinned = await request(`${proxy.origin}${String(res.headers.location)}`, { method: 'HEAD' })
      await pinned.body.dump()
      t.equal(pinned.statusCode, 200)
    }
    return sha
  }
  t.equal(await headAll(), hub.sha(TINY_MODEL))
  const cold = hub.requests.length
  clock += 29_000
  await headAll()
  t.equal(hub.requests.length, cold, 'within revisionTtl: no request reached the Hub')

  const moved = hub.commit(TINY_MODEL, [{ path: 'config.json', body: '{"model_type":"bert","moved":true}\n' }])
  clock += 2_000
  const res = await request(`${base}/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  await res.body.dump()
  t.equal(res.headers['x-repo-commit'], moved, 'past revisionTtl the moved branch is followed')
  t.equal(hub.count({ kind: 'api-info' }), 2)

  clock += 31_000
  hub.inject({ kind: 'api-info', fault: { type: 'status', status: 429, headers: { 'retry-after': '5' } } })
  const limited = await request(`${base}/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  await limited.body.dump()
  t.equal(limited.statusCode, 307, 'a 429 is answered from the last resolution')
  t.equal(limited.headers['x-repo-commit'], moved)
  t.match(String(limited.headers['cache-status']), /fwd=stale; fwd-status=429/)
  const metrics = await request(`${proxy.origin}/_/metrics`)
  t.match(await metrics.body.text(), /dsmirror_hf_rate_limits_avoided_total 1/)
})
