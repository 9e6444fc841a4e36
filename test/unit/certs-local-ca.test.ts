// certs/local-ca.ts: the certificates it issues verify with OpenSSL and with node:tls over a real
// socket on 127.0.0.1, and the root's name constraints hold: a leaf for a name outside them,
// signed by the same root, is refused by both.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import t from 'tap'
import { CLOCK_SKEW_MS, createIntermediateCa, createRootCa, issueLeaf, type KeyPairPem } from '../../certs/local-ca.js'
import { request } from '../helpers/http-client.js'

const HOUR_MS = 60 * 60 * 1000
const PERMITTED = ['localhost', '127.0.0.1', '::1']

const root = await createRootCa({ commonName: 'dsmirror local CA (test)', lifetimeMs: 24 * HOUR_MS, permittedNames: PERMITTED })
const leaf = await issueLeaf({ issuer: root, names: ['localhost', '127.0.0.1', '::1'], lifetimeMs: HOUR_MS })
// Outside the permitted names, but also valid for 127.0.0.1 so that Node's hostname check passes
// and only the name constraint can make the handshake fail.
const outside = await issueLeaf({ issuer: root, names: ['evil.example', '127.0.0.1'], lifetimeMs: HOUR_MS })

const dir = mkdtempSync(join(tmpdir(), 'dsmirror-local-ca-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

// openssl is an independent verifier. Missing it is a skip on a laptop, a failure in CI.
const opensslMissing = spawnSync('openssl', ['version']).error !== undefined
const opensslSkip = opensslMissing && process.env.CI !== 'true' ? 'openssl is not installed' : false

/** Runs openssl with the OS trust settings removed, so only the files given are trusted. */
function openssl (args: string[]): { status: number | null, out: string } {
  const env = { ...process.env }
  for (const name of ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'OPENSSL_CONF']) Reflect.deleteProperty(env, name)
  const r = spawnSync('openssl', args, { env, encoding: 'utf8' })
  if (r.error !== undefined) throw r.error
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

async function withServer (pair: KeyPairPem, fn: (origin: string) => Promise<void>): Promise<void> {
  const server = https.createServer({ cert: pair.certPem, key: pair.keyPem }, (_req, res) => { res.end('ok') })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  try {
    await fn(`https://127.0.0.1:${address.port}`)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => { server.close(resolve) })
  }
}

t.test('root CA extensions', { skip: opensslSkip }, async (t) => {
  const { status, out } = openssl(['x509', '-noout', '-text', '-in', file('root.pem', root.certPem)])
  t.equal(status, 0)
  t.match(out, /X509v3 Basic Constraints: critical\s+CA:TRUE/)
  t.match(out, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/)
  t.match(out, /X509v3 Subject Key Identifier/)
  t.match(out, /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:localhost\s+IP:127\.0\.0\.1\/255\.255\.255\.255\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\s/)
  t.match(out, /ecdsa-with-SHA256/)
  t.match(out, /ASN1 OID: prime256v1/)
})

t.test('name constraints: IPv4-mapped IPv6 is encoded as 16 bytes', { skip: opensslSkip }, async (t) => {
  const ca = await createRootCa({ commonName: 'mapped', lifetimeMs: HOUR_MS, permittedNames: ['::ffff:10.0.0.1', 'fd00::1'] })
  const { out } = openssl(['x509', '-noout', '-text', '-in', file('mapped.pem', ca.certPem)])
  t.match(out, /IP:0:0:0:0:0:FFFF:A00:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/)
  t.match(out, /IP:FD00:0:0:0:0:0:0:1\/FFFF/)
})

t.test('name constraints are present, critical, only when asked for', async (t) => {
  const constrained = new x509.X509Certificate(root.certPem).getExtension('2.5.29.30')
  t.equal(constrained?.critical, true)
  const open = await createRootCa({ commonName: 'open', lifetimeMs: HOUR_MS })
  const cert = new x509.X509Certificate(open.certPem)
  t.equal(cert.getExtension('2.5.29.30'), null)
  t.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, true)
})

t.test('leaf fields', async (t) => {
  const cert = new X509Certificate(leaf.certPem)
  const issuer = new X509Certificate(root.certPem)
  t.ok(cert.checkIssued(issuer))
  t.ok(cert.verify(issuer.publicKey))
  t.notOk(cert.ca)
  t.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage serverAuth')
  t.equal(cert.subject, 'CN=localhost')
  t.equal(cert.serialNumber.length, 32, '16-byte serial')
  t.ok(Number.parseInt(cert.serialNumber.slice(0, 2), 16) < 0x80, 'positive serial')
  t.not(cert.serialNumber, new X509Certificate(outside.certPem).serialNumber)
  const skew = Date.now() - Date.parse(cert.validFrom)
  t.ok(skew >= CLOCK_SKEW_MS - 2000 && skew <= CLOCK_SKEW_MS + 5000, `notBefore is a minute back (${skew} ms)`)
  const key = createPrivateKey(leaf.keyPem)
  t.equal(key.asymmetricKeyType, 'ec')
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.ok(cert.checkPrivateKey(key), 'the key belongs to the certificate')
  t.ok(createPrivateKey(root.keyPem))

  const ipOnly = new X509Certificate((await issueLeaf({ issuer: root, names: ['127.0.0.1'], lifetimeMs: HOUR_MS })).certPem)
  t.equal(ipOnly.subject, 'CN=dsmirror 127.0.0.1', 'an IP-only leaf gets a CN OpenSSL never takes for a hostname')

  const now = new Date('2030-01-01T00:00:00Z')
  const notBefore = new Date('2029-12-31T00:00:00Z')
  const dated = new X509Certificate((await issueLeaf({ issuer: root, names: ['localhost'], lifetimeMs: HOUR_MS, now, notBefore })).certPem)
  t.equal(Date.parse(dated.validFrom), notBefore.getTime())
  t.equal(Date.parse(dated.validTo), now.getTime() + HOUR_MS)

  await t.rejects(issueLeaf({ issuer: root, names: [], lifetimeMs: HOUR_MS }), TypeError)
})

t.test('openssl verify: inside the constraints passes, outside fails', { skip: opensslSkip }, async (t) => {
  const rootFile = file('ca.pem', root.certPem)
  const ok = openssl(['verify', '-no-CApath', '-CAfile', rootFile, file('leaf.pem', leaf.certPem)])
  t.equal(ok.status, 0, ok.out)
  t.match(ok.out, /leaf\.pem: OK/)
  const bad = openssl(['verify', '-no-CApath', '-CAfile', rootFile, file('outside.pem', outside.certPem)])
  t.not(bad.status, 0)
  t.match(bad.out, /permitted subtree violation/)
})

t.test('openssl verify: leaf from an intermediate', { skip: opensslSkip }, async (t) => {
  const inter = await createIntermediateCa({ issuer: root, commonName: 'dsmirror intermediate (test)', lifetimeMs: HOUR_MS })
  const child = await issueLeaf({ issuer: inter, names: ['localhost'], lifetimeMs: HOUR_MS })
  const r = openssl(['verify', '-no-CApath', '-CAfile', file('ca2.pem', root.certPem), '-untrusted', file('inter.pem', inter.certPem), file('child.pem', child.certPem)])
  t.equal(r.status, 0, r.out)
  const { out } = openssl(['x509', '-noout', '-text', '-in', file('inter.pem', inter.certPem)])
  t.match(out, /CA:TRUE, pathlen:0/)
  t.match(out, /X509v3 Authority Key Identifier/)
})

t.test('node:tls trusts a leaf from the root, and nothing outside its constraints', async (t) => {
  await withServer(leaf, async (origin) => {
    const res = await request(`${origin}/`, { ca: root.certPem })
    t.equal(res.status, 200)
    t.equal(res.body.toString(), 'ok')
    await t.rejects(request(`${origin}/`, { ca: (await createRootCa({ commonName: 'stranger', lifetimeMs: HOUR_MS })).certPem }),
      { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a client that trusts another root refuses it')
  })
  await withServer(outside, async (origin) => {
    await t.rejects(request(`${origin}/`, { ca: root.certPem }), { message: /permitted subtree violation/ })
  })
  const evil = await issueLeaf({ issuer: root, names: ['evil.example'], lifetimeMs: HOUR_MS })
  await withServer(evil, async (origin) => {
    await t.rejects(request(`${origin}/`, { ca: root.certPem, servername: 'evil.example' }), { message: /permitted subtree violation/ },
      'refused even when the client asks for that very name')
  })
})

t.test('node:tls refuses expired and not-yet-valid leaves', async (t) => {
  const expired = await issueLeaf({ issuer: root, names: ['127.0.0.1'], lifetimeMs: HOUR_MS, now: new Date(Date.now() - 2 * HOUR_MS) })
  await withServer(expired, async (origin) => {
    await t.rejects(request(`${origin}/`, { ca: root.certPem }), { code: 'CERT_HAS_EXPIRED' })
  })
  const future = await issueLeaf({ issuer: root, names: ['127.0.0.1'], lifetimeMs: HOUR_MS, notBefore: new Date(Date.now() + HOUR_MS) })
  await withServer(future, async (origin) => {
    await t.rejects(request(`${origin}/`, { ca: root.certPem }), { code: 'CERT_NOT_YET_VALID' })
  })
})
