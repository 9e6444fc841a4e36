// The HTTPS listener speaks TLS 1.2 and 1.3 only, with Node's default cipher list: a client that
// offers TLS 1.0 or 1.1 (at OpenSSL security level 0, so it really offers them) is refused with
// a protocol_version alert, by Node and by `openssl s_client`, and so is one that offers only a
// NULL cipher. The minimum still holds after the leaf was renewed with setSecureContext.
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startProxy } from '../helpers/proxy.js'
import { handshake, openssl, opensslSkip } from '../helpers/tls-probe.js'

const proxy = await startProxy({ https: true, config: { tls: { leafLifetime: '2500ms' } }, httpsDeps: { minLeafLifetimeMs: 0 } })
t.teardown(() => proxy.close({ remove: true }))
const { port } = new URL(proxy.httpsOrigin ?? '')
const caPem = await readFile(join(proxy.dataDir, 'ca', 'ca.pem'), 'utf8')
const target = { host: '127.0.0.1', port: Number(port), ca: caPem, servername: 'localhost' }

async function checkVersions (t: Test): Promise<void> {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    await t.rejects(handshake({ ...target, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' }),
      { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, `${version} is refused by the server`)
  }
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const socket = await handshake({ ...target, minVersion: version, maxVersion: version })
    t.equal(socket.getProtocol(), version, `${version} is accepted`)
    socket.destroy()
  }
}

t.test('TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted (Node client)', async (t) => {
  await checkVersions(t)
})

t.test('a client offering only a NULL cipher is refused', async (t) => {
  // The same handshake_failure alert (RFC 8446 §6.2, alert 40): Node 20's OpenSSL 3.0 names it
  // SSLV3_ALERT_HANDSHAKE_FAILURE, Node 24's OpenSSL 3.5 SSL/TLS_ALERT_HANDSHAKE_FAILURE.
  await t.rejects(handshake({ ...target, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-NULL-SHA@SECLEVEL=0' }),
    { code: /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/ })
  const socket = await handshake({ ...target, maxVersion: 'TLSv1.2' })
  t.match(socket.getCipher().name, /GCM|CHACHA20/, 'a TLS 1.2 client gets an AEAD suite')
  socket.destroy()
})

t.test('openssl s_client: -tls1_1 and -tls1 fail, -tls1_2 succeeds', { skip: opensslSkip }, async (t) => {
  const caFile = join(proxy.dataDir, 'trusted-ca.pem')
  await writeFile(caFile, caPem)
  const base = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', caFile, '-verify_return_error']
  for (const flag of ['-tls1', '-tls1_1']) {
    const r = await openssl([...base, flag, '-cipher', 'DEFAULT@SECLEVEL=0'], 'Q\n')
    t.not(r.status, 0, `${flag} fails`)
    t.match(r.out, /alert protocol version/, `${flag}: refused for its version`)
  }
  const ok = await openssl([...base, '-tls1_2'], 'Q\n')
  t.equal(ok.status, 0, '-tls1_2 connects')
  t.match(ok.out, /Protocol\s*:\s*TLSv1\.2|New, TLSv1\.2/)
})

t.test('the minimum version survives a leaf renewal (setSecureContext)', async (t) => {
  const tls = proxy.https?.tls
  if (tls === undefined) throw new Error('no HTTPS listener')
  await once(tls, 'change')
  await checkVersions(t)
})
