// Issue 12 item 7: every upstream connection used to build a TLS context from the whole CA
// bundle (155 certificates: 26.8 ms of CPU each, against 1.9 ms with a reused SecureContext; an
// upstream that closes every connection capped misses near 35/s and grew RSS to 1.7 GiB). The
// upstream client builds one SecureContext per bundle, rebuilt when the bundle is reloaded,
// and every connection uses it, while each connection still verifies the chain and the name.
//
// Which context a connection used is read from the TLSSocket announced on a diagnostics channel
// (undici's 'undici:client:connected', and 'dsmirror:cold-path:connected' for the cold path's own
// client, which fetches these downloads): `_tlsOptions.secureContext` is the context tls.connect
// handed the socket (Node builds a fresh one there when none is given).
import diagnostics from 'node:diagnostics_channel'
import type { SecureContext, TLSSocket } from 'node:tls'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const FILES = 8

function contextOf (socket: TLSSocket): SecureContext | undefined {
  return (socket as unknown as { _tlsOptions?: { secureContext?: SecureContext } })._tlsOptions?.secureContext
}

t.test('one SecureContext serves every upstream connection until the bundle is reloaded', async (t) => {
  const pki = await getTestPki()
  const upstream = await startUpstream()
  // `Connection: close` on every response: each request needs a new connection (and handshake).
  const bodies = Array.from({ length: FILES }, (_, i) => makeBytes(32 * 1024, 300 + i))
  bodies.forEach((body, i) => { upstream.set(`/c/${i}.bin`, { body, headers: { connection: 'close' } }) })
  const wrongName = await startUpstream({ tls: pki.wrongNameLeaf })
  wrongName.set('/w.bin', { body: makeBytes(1024, 399) })
  const proxy = await startProxy({ allowHosts: [upstream.host, wrongName.host] })
  const sockets: TLSSocket[] = []
  const onConnected = (message: unknown): void => { sockets.push((message as { socket: TLSSocket }).socket) }
  const channels = ['undici:client:connected', 'dsmirror:cold-path:connected']
  for (const name of channels) diagnostics.subscribe(name, onConnected)
  t.teardown(async () => {
    for (const name of channels) diagnostics.unsubscribe(name, onConnected)
    await proxy.close({ remove: true })
    await upstream.close()
    await wrongName.close()
  })
  const client = proxy.app.dsmirror.upstream

  const first = client.secureContext
  t.ok(first !== undefined && first !== null, 'the upstream client exposes the context it uses')
  for (const [i, body] of bodies.entries()) {
    const res = await request(proxy.mirrorUrl(upstream.host, `/c/${i}.bin`))
    t.equal(res.status, 200)
    t.equal(res.sha256, sha256(body), `file ${i} verified and served`)
  }
  t.equal(upstream.connections, FILES, `${FILES} connections, one per request`)
  t.equal(sockets.length, FILES, 'each connection was announced')
  t.ok(sockets.every((s) => contextOf(s) === first), 'every connection used the one context')
  t.ok(sockets.every((s) => s.authorized), 'and every handshake verified the chain')

  // Negative: the shared context does not skip the per-connection name check.
  const wrong = await request(proxy.mirrorUrl(wrongName.host, '/w.bin'))
  t.equal(wrong.status, 502)
  t.equal((JSON.parse(wrong.body.toString()) as { code: string }).code, 'DSM_UPSTREAM_TLS', 'a certificate for another name is refused')

  // A reloaded bundle builds a new context, and new connections use it.
  await client.setCa([pki.rootCa.certPem])
  const second = client.secureContext
  t.not(second, first, 'a reload replaces the context')
  sockets.length = 0
  upstream.set('/c/after.bin', { body: bodies[0] ?? Buffer.alloc(0), headers: { connection: 'close' } })
  const after = await request(proxy.mirrorUrl(upstream.host, '/c/after.bin'))
  t.equal(after.status, 200)
  t.ok(sockets.length > 0 && sockets.every((s) => contextOf(s) === second), 'connections after the reload use the new context')

  // Negative: a bundle without the upstream's root refuses it (the context carries the bundle).
  await client.setCa([pki.otherCa.certPem])
  upstream.set('/c/untrusted.bin', { body: bodies[1] ?? Buffer.alloc(0), headers: { connection: 'close' } })
  const untrusted = await request(proxy.mirrorUrl(upstream.host, '/c/untrusted.bin'))
  t.equal(untrusted.status, 502)
  t.equal((JSON.parse(untrusted.body.toString()) as { code: string }).code, 'DSM_UPSTREAM_TLS', 'a root no longer in the bundle is not trusted')
})
