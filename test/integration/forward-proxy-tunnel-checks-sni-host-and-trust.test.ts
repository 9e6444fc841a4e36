// Issue 12 item 1, the negative TLS paths of a tunnel: a client asking (SNI) for another name than
// the CONNECT host gets no handshake; an h2-only client gets no common protocol; a client that
// does not trust the interception CA fails verification (and the proxy counts it as "unknown CA",
// item 7); a request inside a tunnel naming another host in Host gets 421, never that host.
import t from 'tap'
import { httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver } from '../helpers/test-resolver.js'

t.test('SNI, ALPN, trust and Host inside a tunnel', async (t) => {
  const resolver = createTestResolver({})
  const proxy = await startProxy({ allowHosts: ['data.example', 'other.example'], config: { forwardProxy: { enabled: true } }, lookup: resolver.lookup })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const port = Number(new URL(proxy.origin).port)
  const host = 'data.example'

  const sni = await sendConnect(t, port, `${host}:443`)
  t.equal(sni.status, 200)
  await t.rejects(tlsInTunnel(sni.socket, { ca: fp.ca.certPem, servername: 'other.example', host }), 'SNI naming another host: no handshake, though the leaf would verify for the CONNECT host')

  const h2 = await sendConnect(t, port, `${host}:443`)
  await t.rejects(tlsInTunnel(h2.socket, { ca: fp.ca.certPem, servername: host, host, ALPNProtocols: ['h2'] }), { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' }, 'h2-only: no application protocol')

  const untrusted = await sendConnect(t, port, `${host}:443`)
  await t.rejects(tlsInTunnel(untrusted.socket, { ca: (await getTestPki()).rootCa.certPem, servername: host, host }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a client without the interception CA refuses the leaf')

  const noSni = await sendConnect(t, port, `${host}:443`)
  const plain = await tlsInTunnel(noSni.socket, { ca: fp.ca.certPem, host })
  t.pass('a client sending no SNI gets the CONNECT host\'s leaf')

  const misdirected = await httpOver(plain, ['GET /x HTTP/1.1', 'host: other.example'])
  t.equal(misdirected.status, 421, 'Host naming another (allowed) host: 421')
  t.match(misdirected.body.toString(), '"code":"DSM_PROXY_MISDIRECTED"')
  const port8443 = await httpOver(plain, ['GET /x HTTP/1.1', `host: ${host}:8443`])
  t.equal(port8443.status, 421, 'Host naming another port: 421')
  plain.destroy()
  t.equal(resolver.calls.length, 0, 'nothing was resolved: no upstream was ever asked')
})
