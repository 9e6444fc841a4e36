// Issue 11 item 6: a token sent in clear over plain HTTP to an address other machines can reach
// is refused with DSM_HF_TOKEN_OVER_HTTP and never forwarded; over loopback it is used.
import { networkInterfaces } from 'node:os'
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

const external = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address

t.test('Authorization over HTTP on a non-loopback address: 403 DSM_HF_TOKEN_OVER_HTTP, nothing upstream', { skip: external === undefined ? 'this machine has no non-loopback IPv4 address' : false }, async (t) => {
  const { hub, proxy } = await startHfMode(t, {
    hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] },
    // Open on purpose (issue 17 would refuse it without this): the address under test is not loopback.
    proxy: { config: { listen: { http: { host: '0.0.0.0', port: 0 } }, admin: { openOnNetwork: true }, forwardProxy: { enabled: false } } }
  })
  const port = new URL(proxy.origin).port
  const headers = { authorization: 'Bearer hf_secret' }
  const before = hub.requests.length
  const refused = await request(`http://${external ?? ''}:${port}/hf/${TINY_MODEL}/resolve/main/config.json`, { method: 'GET', headers })
  const error = await refused.body.json() as { code?: string, error?: string }
  t.equal(refused.statusCode, 403)
  t.equal(error.code, 'DSM_HF_TOKEN_OVER_HTTP')
  t.match(error.error, /HTTPS listener/)
  t.equal(hub.requests.length, before, 'the token went nowhere')

  const anonymous = await request(`http://${external ?? ''}:${port}/hf/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  await anonymous.body.dump()
  t.equal(anonymous.statusCode, 307, 'without a token the same listener works')
  const loopback = await request(`http://127.0.0.1:${port}/hf/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD', headers })
  await loopback.body.dump()
  t.equal(loopback.statusCode, 307, 'over loopback the token is used')
})
