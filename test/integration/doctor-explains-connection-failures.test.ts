// `dsmirror doctor` explains failures before TLS in words, with the fix: connection refused (a
// closed 127.0.0.1 port), DNS failure (a name under the reserved .invalid TLD, which never
// resolves, RFC 6761 §6.4), an egress proxy that cannot be reached or refuses the tunnel, and a
// port that does not speak TLS. Through a working CONNECT proxy, TLS is still verified end to end.
import { once } from 'node:events'
import http from 'node:http'
import { createServer } from 'node:net'
import t from 'tap'
import { buildCaBundle } from '../../certs/ca-bundle.js'
import { checkUpstream, type DoctorOptions } from '../../certs/doctor.js'
import { startConnectProxy } from '../helpers/connect-proxy.js'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'

const TIMEOUT_MS = 2000

async function options (over: Partial<DoctorOptions> = {}): Promise<DoctorOptions> {
  const pki = await getTestPki()
  const bundle = await buildCaBundle({ caFiles: [pki.files.rootCa], systemStore: false })
  return { ca: bundle.certificates, proxy: 'none', timeoutMs: TIMEOUT_MS, ...over }
}

/** A port on 127.0.0.1 that nothing listens on: bound, read, closed. */
async function closedPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  await new Promise((resolve) => server.close(resolve))
  return address.port
}

t.test('connection refused: a closed port on 127.0.0.1', async (t) => {
  const port = await closedPort()
  const result = await checkUpstream({ host: '127.0.0.1', port }, await options())
  t.equal(result.ok, false)
  t.equal(result.cause, 'refused')
  t.equal(result.title, `connection refused by 127.0.0.1:${port}`)
  t.match(result.explanation.join(' '), /Nothing accepts connections .* the server is down, or the port is wrong/)
  t.match(result.fix.join('\n'), /upstream:\n {2}proxy: http:\/\//)
  t.match(result.detail, /ECONNREFUSED/)
})

t.test('DNS failure: a name under .invalid', async (t) => {
  const result = await checkUpstream({ host: 'nothing.invalid', port: 443 }, await options())
  t.equal(result.cause, 'dns')
  t.match(result.title, /DNS failure: 'nothing\.invalid' does not resolve/)
  t.match(result.fix.join('\n'), /Check the spelling of 'nothing\.invalid' in allowHosts/)
  t.match(result.fix.join('\n'), /upstream:\n {2}proxy: http:\/\/egress\.example:3128/)
})

t.test('a port that does not speak TLS', async (t) => {
  const plain = http.createServer((_req, res) => { res.end('plain\n') })
  plain.listen(0, '127.0.0.1')
  await once(plain, 'listening')
  t.teardown(() => { plain.closeAllConnections(); plain.close() })
  const address = plain.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const result = await checkUpstream({ host: '127.0.0.1', port: address.port }, await options())
  t.equal(result.cause, 'tls-handshake')
  t.match(result.title, /the TLS handshake failed before any certificate was checked/)
  t.match(result.explanation.join(' '), /may not speak TLS/)
})

t.test('through a CONNECT proxy, TLS is verified inside the tunnel', async (t) => {
  const pki = await getTestPki()
  const egress = await startConnectProxy(t)
  const good = await startUpstream()
  const bad = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(async () => { await good.close(); await bad.close() })

  const ok = await checkUpstream({ host: '127.0.0.1', port: good.port }, await options({ proxy: egress.url }))
  t.equal(ok.ok, true)
  t.equal(ok.via, egress.url.replace(/\/$/, ''))
  const refused = await checkUpstream({ host: '127.0.0.1', port: bad.port }, await options({ proxy: egress.url }))
  t.equal(refused.ok, false, 'the proxy cannot make an untrusted certificate pass')
  t.equal(refused.cause, 'missing-intermediate')
  t.same(egress.connects, [`127.0.0.1:${good.port}`, `127.0.0.1:${bad.port}`, `127.0.0.1:${bad.port}`], 'every connection went through the tunnel')
})

t.test('proxy failures: refused tunnel, unreachable proxy, and env with NO_PROXY', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const denying = await startConnectProxy(t, { deny: true })
  const denied = await checkUpstream({ host: '127.0.0.1', port: upstream.port }, await options({ proxy: denying.url }))
  t.equal(denied.cause, 'proxy')
  t.match(denied.title, new RegExp(`refused the tunnel to 127\\.0\\.0\\.1:${upstream.port} \\(403\\)`))
  t.match(denied.fix.join(' '), /Ask the proxy's administrator to allow CONNECT/)

  const dead = `http://127.0.0.1:${await closedPort()}`
  const unreachable = await checkUpstream({ host: '127.0.0.1', port: upstream.port }, await options({ proxy: 'env', env: { HTTPS_PROXY: dead } }))
  t.equal(unreachable.cause, 'proxy')
  t.match(unreachable.title, /could not reach the egress proxy http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/)
  t.match(unreachable.fix.join('\n'), /Fix HTTPS_PROXY \/ HTTP_PROXY/)
  t.match(unreachable.fix.join('\n'), /proxy: none/)

  const bypassed = await checkUpstream({ host: '127.0.0.1', port: upstream.port }, await options({ proxy: 'env', env: { HTTPS_PROXY: dead, NO_PROXY: '127.0.0.1' } }))
  t.equal(bypassed.ok, true, 'NO_PROXY sends it direct')
  t.equal(bypassed.via, undefined)
})
