// Contract rule 10 and issue 11 item 6 (hf-protocol.md §4.3): the caller's Authorization goes to
// the Hub (never to the CDN host); a gated repo's cached content goes to a caller only once the
// Hub confirmed that caller's access: without a token the Hub's 401 GatedRepo, with a wrong one
// its 403, even though the bytes are in the cache.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { GATED_MODEL, GATED_TOKEN, gatedModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('gated: served with a valid token; refused as the Hub refuses without one or with a wrong one', async (t) => {
  const { hub, base, proxy } = await startHfMode(t, { hub: { repos: [gatedModelRepo()] } })
  const sha = hub.sha(GATED_MODEL)
  const model = hub.file(GATED_MODEL, 'model.safetensors')
  const auth = { authorization: `Bearer ${GATED_TOKEN}` }

  const head = await request(`${base}/${GATED_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD', headers: auth })
  await head.body.dump()
  t.equal(head.statusCode, 307)
  const ok = await request(`${proxy.origin}${String(head.headers.location)}`, { headers: auth })
  t.equal(sha256(Buffer.from(await ok.body.arrayBuffer())), model.sha256, 'the token holder gets the bytes')
  t.notOk(hub.requests.some((r) => r.kind === 'cdn' && r.authorization), 'no Authorization ever reached the CDN host')
  t.ok(hub.requests.some((r) => r.kind === 'resolve' && r.authorization), 'the token went to the Hub')

  for (const [headers, status, what] of [[{}, 401, 'no token'], [{ authorization: 'Bearer hf_wrong' }, 403, 'a wrong token']] as const) {
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await request(`${base}/${GATED_MODEL}/resolve/${sha}/model.safetensors`, { method, headers })
      const body = Buffer.from(await res.body.arrayBuffer())
      t.equal(res.statusCode, status, `${method} with ${what}: the Hub's answer`)
      t.equal(res.headers['x-error-code'], 'GatedRepo')
      t.not(sha256(body), model.sha256, 'not the cached bytes')
    }
  }
  const again = await request(`${base}/${GATED_MODEL}/resolve/${sha}/model.safetensors`, { headers: auth })
  t.equal(sha256(Buffer.from(await again.body.arrayBuffer())), model.sha256, 'still served to the token holder')
  t.equal(again.headers['cache-status'], 'dsmirror; hit')
})
