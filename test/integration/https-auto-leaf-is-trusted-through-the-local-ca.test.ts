// tls.mode auto: the HTTPS listener serves a leaf for tls.hostnames from the local CA in
// <dataDir>/ca/, with the complete chain. OpenSSL and Node accept it with only that CA trusted;
// a leaf for a name outside tls.hostnames, signed with the very same CA key, is refused by both
// (the name constraints are real); a client that does not trust the CA refuses the listener.
// /_/ca.pem serves the CA (never a key) on both listeners; the CA is reused across restarts.
import { X509Certificate } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import t from 'tap'
import { issueLeaf } from '../../certs/local-ca.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { openssl, opensslSkip, servedCertificate } from '../helpers/tls-probe.js'

const HOUR_MS = 60 * 60 * 1000

t.test('the auto leaf verifies with the local CA, over 127.0.0.1 and localhost', async (t) => {
  const proxy = await startProxy({ https: true })
  t.teardown(() => proxy.close({ remove: true }))
  const httpsOrigin = proxy.httpsOrigin ?? ''
  t.match(httpsOrigin, /^https:\/\/127\.0\.0\.1:\d+$/)
  const caDir = join(proxy.dataDir, 'ca')
  const caPem = await readFile(join(caDir, 'ca.pem'), 'utf8')
  const ca = new X509Certificate(caPem)
  t.ok(ca.ca, 'ca.pem is a CA certificate')

  const port = new URL(httpsOrigin).port
  for (const origin of [`https://127.0.0.1:${port}`, `https://localhost:${port}`]) {
    const res = await request(`${origin}/_/healthz`, { ca: caPem })
    t.equal(res.status, 200, `${origin} answers`)
    t.same(JSON.parse(res.body.toString()), { status: 'ok' })
  }

  const leaf = await servedCertificate(httpsOrigin, caPem)
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'the served leaf is signed by the local CA')
  t.equal(leaf.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1', 'for tls.hostnames')
  const lifetime = Date.parse(leaf.validTo) - Date.now()
  t.ok(lifetime > 6 * 24 * HOUR_MS && lifetime <= 7 * 24 * HOUR_MS, 'valid for tls.leafLifetime (7d by default)')
  t.ok(Date.parse(ca.validTo) - Date.now() > 9.9 * 365 * 24 * HOUR_MS, 'the CA is valid for 10 years')

  t.test('files on disk: key 0600, directory 0700, certificates 0644', async (t) => {
    t.equal((await stat(caDir)).mode & 0o777, 0o700)
    t.equal((await stat(join(caDir, 'ca-key.pem'))).mode & 0o777, 0o600)
    t.equal((await stat(join(caDir, 'ca.pem'))).mode & 0o777, 0o644)
    t.equal((await stat(join(caDir, 'leaf.pem'))).mode & 0o777, 0o644)
    t.notMatch(await readFile(join(caDir, 'leaf.pem'), 'utf8'), /PRIVATE KEY/, 'the leaf key is never written')
  })

  t.test('openssl: the served chain is leaf + CA and verifies against ca.pem alone', { skip: opensslSkip }, async (t) => {
    const caFile = join(proxy.dataDir, 'trusted-ca.pem')
    await writeFile(caFile, caPem)
    const sc = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-showcerts', '-CAfile', caFile, '-verify_return_error', '-verify_hostname', 'localhost'], 'Q\n')
    if (sc.status !== 0) t.comment(sc.out)
    t.equal(sc.status, 0, 'openssl s_client completes the handshake')
    t.match(sc.out, /Verify return code: 0 \(ok\)/)
    t.equal(sc.out.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'two certificates sent: the leaf and the CA')
    const leafFile = join(proxy.dataDir, 'served-leaf.pem')
    await writeFile(leafFile, leaf.toString())
    const verified = await openssl(['verify', '-no-CApath', '-CAfile', caFile, '-purpose', 'sslserver', leafFile])
    t.equal(verified.status, 0, 'openssl verify accepts the served leaf')
    t.match(verified.out, /served-leaf\.pem: OK/)
  })

  t.test('a leaf outside tls.hostnames from the same CA key is refused by openssl and Node', async (t) => {
    const keyPem = await readFile(join(caDir, 'ca-key.pem'), 'utf8')
    // Also valid for 127.0.0.1, so the hostname check passes and only the constraint can fail.
    const outside = await issueLeaf({ issuer: { certPem: caPem, keyPem }, names: ['evil.example', '127.0.0.1'], lifetimeMs: HOUR_MS })
    const outsideFile = join(proxy.dataDir, 'outside.pem')
    await writeFile(outsideFile, outside.certPem)
    const caFile = join(proxy.dataDir, 'trusted-ca.pem')
    await writeFile(caFile, caPem)
    if (opensslSkip === false) {
      const r = await openssl(['verify', '-no-CApath', '-CAfile', caFile, outsideFile])
      t.not(r.status, 0, 'openssl refuses it')
      t.match(r.out, /permitted subtree violation/)
    }
    const server = https.createServer({ cert: outside.certPem + caPem, key: outside.keyPem }, (_req, res) => { res.end('should not be reached') })
    server.on('tlsClientError', () => {})
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    t.teardown(() => { server.close() })
    const { port: evilPort } = server.address() as { port: number }
    await t.rejects(request(`https://127.0.0.1:${evilPort}/`, { ca: caPem }), { message: /permitted subtree violation/ }, 'Node refuses it')
    await t.rejects(request(`https://127.0.0.1:${evilPort}/`, { ca: caPem, servername: 'evil.example' }), { message: /permitted subtree violation/ },
      'even when the client asks for that very name')
  })

  t.test('a client that does not trust the local CA refuses the listener', async (t) => {
    // No `ca`: Node's public roots (plus NODE_EXTRA_CA_CERTS, the OS bundle here) only.
    await t.rejects(request(`${httpsOrigin}/_/healthz`), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })
    await t.rejects(request(`${httpsOrigin}/_/healthz`, { ca: caPem, servername: 'mirror.example' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
      'and a name outside tls.hostnames does not match the leaf')
  })

  t.test('/_/ca.pem serves the CA on both listeners, and never a key', async (t) => {
    for (const [origin, ca] of [[proxy.origin, undefined], [httpsOrigin, caPem]] as const) {
      const res = await request(`${origin}/_/ca.pem`, ca === undefined ? {} : { ca })
      t.equal(res.status, 200, origin)
      t.equal(res.headers['content-type'], 'application/x-pem-file')
      t.equal(res.body.toString(), caPem, 'the CA certificate, exactly')
      t.notMatch(res.body.toString(), /PRIVATE/)
    }
  })
})

t.test('the CA is reused across restarts; a new leaf is issued each start', async (t) => {
  const first = await startProxy({ https: true })
  const caPem = await readFile(join(first.dataDir, 'ca', 'ca.pem'), 'utf8')
  const leaf1 = await servedCertificate(first.httpsOrigin ?? '', caPem)
  await first.close()
  const second = await startProxy({ https: true, dataDir: first.dataDir })
  t.teardown(() => second.close({ remove: true }))
  t.equal(await readFile(join(first.dataDir, 'ca', 'ca.pem'), 'utf8'), caPem, 'same CA')
  const leaf2 = await servedCertificate(second.httpsOrigin ?? '', caPem)
  t.not(leaf2.serialNumber, leaf1.serialNumber, 'a fresh leaf')
  t.equal(second.https?.tls.mode, 'auto')
})

t.test('tls.mode off or listen.https false: no HTTPS listener, and /_/ca.pem says why', async (t) => {
  // The HTTPS listener itself is refused with tls.mode off by the config (test/unit/config-*).
  const off = await startProxy({ config: { tls: { mode: 'off' } } })
  t.teardown(() => off.close({ remove: true }))
  t.equal(off.httpsOrigin, undefined)
  const res = await request(`${off.origin}/_/ca.pem`)
  t.equal(res.status, 404)
  const body = JSON.parse(res.body.toString()) as { code: string, error: string }
  t.equal(body.code, 'DSM_CERT_NO_CA')
  t.match(body.error, /tls\.mode is off/)

  const noHttps = await startProxy()
  t.teardown(() => noHttps.close({ remove: true }))
  t.equal(noHttps.httpsOrigin, undefined)
  const none = await request(`${noHttps.origin}/_/ca.pem`)
  t.equal(none.status, 404)
  t.match(none.body.toString(), /"code":"DSM_CERT_NO_CA".*no local CA has been made/)
})

t.test('a leaf lifetime too short to renew safely is refused at start', async (t) => {
  await t.rejects(startProxy({ https: true, config: { tls: { leafLifetime: '10m' } } }), { code: 'DSM_CONFIG_INVALID', message: /tls\.leafLifetime: .*at least 60m/ })
})
