// Contract rule 4 (hf-protocol.md §2.5): the mirror never hands out a Xet token (it would send
// hf_xet to the CAS hosts directly): xet-read-token answers 404 EntryNotFound, the Hub unasked.
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('xet-read-token: 404 EntryNotFound from dsmirror, nothing upstream', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  const res = await request(`${base}/api/models/${TINY_MODEL}/xet-read-token/${hub.sha(TINY_MODEL)}`)
  await res.body.dump()
  t.equal(res.statusCode, 404)
  t.equal(res.headers['x-error-code'], 'EntryNotFound')
  t.notOk(res.headers['x-xet-cas-url'])
  t.equal(hub.count({ kind: 'xet-read-token' }), 0)
})
