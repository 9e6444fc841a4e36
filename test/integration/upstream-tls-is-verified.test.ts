// Upstream TLS is always verified against the managed bundle: an upstream signed by a CA that is
// not trusted fails with DSM_UPSTREAM_TLS naming upstream.caFiles; adding that CA to caFiles makes
// it work; a certificate for another name is refused whatever CA signed it.
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('an upstream from an untrusted CA is refused, then trusted through caFiles', async (t) => {
  const pki = await getTestPki()
  const corporate = await startUpstream({ tls: pki.otherLeaf })
  corporate.set('/model.pth', { body: Buffer.from('weights') })
  t.teardown(() => corporate.close())

  const strict = await startProxy({ allowHosts: [corporate.host] })
  const refused = await request(strict.mirrorUrl(corporate.host, '/model.pth'))
  await strict.close({ remove: true })
  t.equal(refused.status, 502)
  const error = JSON.parse(refused.body.toString()) as { code: string; error: string }
  t.equal(error.code, 'DSM_UPSTREAM_TLS')
  t.match(error.error, /upstream\.caFiles/, 'the message names the fix')
  t.match(error.error, /dsmirror doctor/, 'and the diagnosis command')

  const trusting = await startProxy({
    allowHosts: [corporate.host],
    config: { upstream: { caFiles: [pki.files.rootCa, pki.files.otherCa] } }
  })
  t.teardown(() => trusting.close({ remove: true }))
  const ok = await request(trusting.mirrorUrl(corporate.host, '/model.pth'))
  t.equal(ok.status, 200)
  t.equal(ok.body.toString(), 'weights')
})

t.test('the extra CA is added to the public roots, not substituted for them', async (t) => {
  const pki = await getTestPki()
  const proxy = await startProxy({ config: { upstream: { caFiles: [pki.files.otherCa], systemStore: false } } })
  t.teardown(() => proxy.close({ remove: true }))
  const bundle = proxy.app.dsmirror.caBundle
  t.ok(bundle.entries.some((e) => e.source === 'node' && e.status === 'added'), "Node's public roots are in the bundle")
  t.ok(bundle.entries.some((e) => e.source === pki.files.otherCa && e.status === 'added'), 'the corporate root is in the bundle')
})

t.test('a certificate for the wrong host name is refused', async (t) => {
  const pki = await getTestPki()
  const wrong = await startUpstream({ tls: pki.wrongNameLeaf })
  wrong.set('/x.bin', { body: Buffer.from('x') })
  const proxy = await startProxy({ allowHosts: [wrong.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await wrong.close() })
  const res = await request(proxy.mirrorUrl(wrong.host, '/x.bin'))
  t.equal(res.status, 502)
  t.match(res.body.toString(), /"code":"DSM_UPSTREAM_TLS"/)
  t.match(res.body.toString(), /ERR_TLS_CERT_ALTNAME_INVALID|altname|Hostname/i)
})

t.test('an expired upstream certificate is refused', async (t) => {
  const pki = await getTestPki()
  const expired = await startUpstream({ tls: pki.expiredLeaf })
  expired.set('/x.bin', { body: Buffer.from('x') })
  const proxy = await startProxy({ allowHosts: [expired.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await expired.close() })
  const res = await request(proxy.mirrorUrl(expired.host, '/x.bin'))
  t.equal(res.status, 502)
  t.match(res.body.toString(), /"code":"DSM_UPSTREAM_TLS"/)
  t.match(res.body.toString(), /CERT_HAS_EXPIRED/)
})
