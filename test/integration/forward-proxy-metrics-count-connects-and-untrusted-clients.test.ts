// Issue 12 item 7: /_/metrics counts the forward proxy's CONNECTs by result (intercepted,
// tunnelled, refused, auth), tunnels open, leaves minted and client TLS failures by reason; a
// client that does not trust the interception CA is counted as "unknown CA" and shown on the
// status page's recent errors as DSM_PROXY_CLIENT_UNTRUSTED, whose message names the fix.
import t from 'tap'
import { httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { parsePrometheus, type Exposition } from '../helpers/prometheus.js'
import { startProxy } from '../helpers/proxy.js'
import { waitUntil } from '../helpers/wait.js'

const AUTH = `proxy-authorization: Basic ${Buffer.from('alice:pw').toString('base64')}`

t.test('CONNECTs by result, tunnels open, leaves minted, TLS failures by reason', async (t) => {
  const proxy = await startProxy({ allowHosts: ['data.example'], config: { forwardProxy: { enabled: true, auth: { users: { alice: 'pw' } } } } })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const port = Number(new URL(proxy.origin).port)
  const scrape = async (): Promise<Exposition> => parsePrometheus((await request(`${proxy.origin}/_/metrics`)).body.toString())

  const before = await scrape()
  for (const result of ['intercepted', 'tunnelled', 'refused', 'auth']) t.equal(before.value('dsmirror_forward_connects_total', { result }), 0, `${result} starts at 0`)
  t.equal(before.value('dsmirror_forward_tls_failures_total', { reason: 'unknown CA' }), 0)

  const open = await sendConnect(t, port, 'data.example:443', { headers: [AUTH] })
  const secure = await tlsInTunnel(open.socket, { ca: fp.ca.certPem, servername: 'data.example', host: 'data.example' })
  await httpOver(secure, ['GET /_/ HTTP/1.1', 'host: data.example'])
  t.equal((await scrape()).value('dsmirror_forward_tunnels_open', { kind: 'intercepted' }), 1, 'one tunnel open')
  await sendConnect(t, port, 'evil.example:443', { headers: [AUTH] })
  await sendConnect(t, port, 'data.example:443')
  const untrusted = await sendConnect(t, port, 'data.example:443', { headers: [AUTH] })
  await t.rejects(tlsInTunnel(untrusted.socket, { ca: (await getTestPki()).rootCa.certPem, servername: 'data.example', host: 'data.example' }))
  secure.destroy()

  const after = await waitUntil(async () => {
    const m = await scrape()
    return m.value('dsmirror_forward_tunnels_open', { kind: 'intercepted' }) === 0 && (m.value('dsmirror_forward_tls_failures_total', { reason: 'unknown CA' }) ?? 0) > 0 ? m : null
  }, { what: 'the tunnels to close and the TLS failure to be counted', timeoutMs: 5000 })
  t.equal(after.value('dsmirror_forward_connects_total', { result: 'intercepted' }), 2)
  t.equal(after.value('dsmirror_forward_connects_total', { result: 'refused' }), 1)
  t.equal(after.value('dsmirror_forward_connects_total', { result: 'auth' }), 1)
  t.equal(after.value('dsmirror_forward_leaves_minted_total'), 1)
  t.equal(after.value('dsmirror_forward_tls_failures_total', { reason: 'unknown CA' }), 1, 'the untrusting client: "unknown CA"')
  t.equal(after.value('dsmirror_errors_total', { code: 'DSM_PROXY_CLIENT_UNTRUSTED' }), 1)

  const status = await request(`${proxy.origin}/_/api/status`)
  const errors = (JSON.parse(status.body.toString()) as { errors: Array<{ code: string, message: string }> }).errors
  const untrustedError = errors.find((e) => e.code === 'DSM_PROXY_CLIENT_UNTRUSTED')
  t.ok(untrustedError, 'on the status page')
  t.match(untrustedError?.message, 'dsmirror trust install', 'with the fix')
  t.ok(errors.some((e) => e.code === 'DSM_HOST_NOT_ALLOWED'), 'the refused CONNECT too')
})
