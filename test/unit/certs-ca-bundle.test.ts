// certs/ca-bundle.ts: the managed upstream bundle keeps Node's public roots, adds the operator's
// CAs (files, directories, DER), reports duplicates and expired certificates, refuses unusable
// caFiles entries with DSM_CERT_CA_FILE, and works as node:tls `ca` against a real server.
import { X509Certificate } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import t from 'tap'
import { buildCaBundle, CA_BUNDLE_FILE_NAME, SYSTEM_BUNDLE_PATHS, writeCaBundle } from '../../certs/ca-bundle.js'
import { createRootCa } from '../../certs/local-ca.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'

const pki = await getTestPki()
const dir = mkdtempSync(join(tmpdir(), 'dsmirror-ca-bundle-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const file = (name: string, data: string | Buffer): string => {
  const path = join(dir, name)
  writeFileSync(path, data)
  return path
}
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256
const rootFp = fingerprint(pki.rootCa.certPem)
const otherFp = fingerprint(pki.otherCa.certPem)
const nodeFps = new Set(rootCertificates.map(fingerprint))

t.test('Node roots + caFiles; the result as `ca` reaches a server signed by the extra CA', async (t) => {
  const bundle = await buildCaBundle({ caFiles: [pki.files.rootCa], systemStore: false })
  const added = bundle.entries.filter((e) => e.status === 'added')
  t.equal(added.length, bundle.certificates.length)
  t.equal(bundle.entries.filter((e) => e.source === 'node').length, rootCertificates.length)
  const bundleFps = new Set(bundle.certificates.map(fingerprint))
  // How many of Node's roots are still valid depends on today's date (issue 8), so only the rule
  // is checked: every one that is valid at this clock is kept.
  const liveNodeRoots = bundle.entries.filter((e) => e.source === 'node' && e.status !== 'expired')
  t.ok(liveNodeRoots.every((e) => bundleFps.has(e.fingerprint256)), 'every unexpired Node root stays in the bundle')
  t.ok(bundleFps.has(rootFp))
  const extra = bundle.entries.find((e) => e.fingerprint256 === rootFp)
  t.match(extra, { source: pki.files.rootCa, status: 'added', subject: 'CN=dsmirror test root', issuer: 'CN=dsmirror test root' })
  t.ok(Number.isFinite(Date.parse(extra?.notAfter ?? '')))
  t.equal(bundle.pem, bundle.certificates.join(''))

  const up = await startUpstream()
  t.teardown(() => up.close())
  up.set('/x', { body: Buffer.from('hello') })
  const viaList = await request(`${up.origin}/x`, { ca: bundle.certificates })
  t.equal(viaList.status, 200)
  t.equal(viaList.body.toString(), 'hello')
  t.equal((await request(`${up.origin}/x`, { ca: bundle.pem })).status, 200, 'the concatenated PEM works too')

  const publicOnly = await buildCaBundle({ caFiles: [], systemStore: false })
  await t.rejects(request(`${up.origin}/x`, { ca: publicOnly.certificates }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    'without the caFiles entry the test root is not trusted')
})

t.test('duplicates are dropped and reported', async (t) => {
  const copy = file('root-copy.pem', pki.rootCa.certPem + pki.rootCa.certPem)
  const bundle = await buildCaBundle({ caFiles: [pki.files.rootCa, copy], systemStore: false })
  const mine = bundle.entries.filter((e) => e.fingerprint256 === rootFp)
  t.same(mine.map((e) => [e.source, e.status]), [[pki.files.rootCa, 'added'], [copy, 'duplicate'], [copy, 'duplicate']])
  t.equal(bundle.certificates.filter((pem) => fingerprint(pem) === rootFp).length, 1)

  // A built-in root repeated in a caFiles entry is a duplicate of the 'node' one. The built-in
  // roots are generated here: a real one may have expired by the time the test runs (Entrust's
  // root expired on 2026-11-27 and made this test fail, issue 8).
  const again = file('node-root.pem', pki.otherCa.certPem)
  const withNode = await buildCaBundle({ caFiles: [again], systemStore: false, builtinRoots: [pki.otherCa.certPem] })
  t.same(withNode.entries.map((e) => [e.source, e.status]), [['node', 'added'], [again, 'duplicate']])
  t.equal(withNode.entries.at(-1)?.fingerprint256, otherFp)
})

t.test('expired certificates are reported, not included', async (t) => {
  const old = await createRootCa({ commonName: 'expired test root', lifetimeMs: 60 * 60 * 1000, now: new Date(Date.now() - 48 * 60 * 60 * 1000) })
  const path = file('expired.pem', old.certPem)
  const bundle = await buildCaBundle({ caFiles: [path, pki.files.otherCa], systemStore: false })
  const oldFp = fingerprint(old.certPem)
  t.match(bundle.entries.find((e) => e.fingerprint256 === oldFp), { source: path, status: 'expired', subject: 'CN=expired test root' })
  t.notOk(bundle.certificates.some((pem) => fingerprint(pem) === oldFp))
  t.ok(bundle.certificates.some((pem) => fingerprint(pem) === otherFp), 'the rest of the caFiles still count')

  // The injected clock decides: at a date before its expiry the same certificate is added.
  const then = await buildCaBundle({ caFiles: [path], systemStore: false, now: new Date(Date.now() - 47.5 * 60 * 60 * 1000) })
  t.equal(then.entries.find((e) => e.fingerprint256 === oldFp)?.status, 'added')
})

t.test('a directory contributes its *.pem / *.crt / *.cer files, DER included', async (t) => {
  const caDir = join(dir, 'cas')
  mkdirSync(caDir)
  writeFileSync(join(caDir, 'a.pem'), `corporate root, from IT\n${pki.rootCa.certPem}`)
  writeFileSync(join(caDir, 'b.cer'), new X509Certificate(pki.otherCa.certPem).raw)
  writeFileSync(join(caDir, 'c.crt'), pki.intermediateCa.certPem)
  writeFileSync(join(caDir, 'README.txt'), 'not a certificate')
  const bundle = await buildCaBundle({ caFiles: [caDir], systemStore: false })
  const fromDir = bundle.entries.filter((e) => e.source.startsWith(caDir))
  t.same(fromDir.map((e) => [e.source, e.status]), [
    [join(caDir, 'a.pem'), 'added'],
    [join(caDir, 'b.cer'), 'added'],
    [join(caDir, 'c.crt'), 'added']
  ])
  t.equal(fromDir[1]?.fingerprint256, otherFp, 'a DER file is read as one certificate')
})

t.test('unusable caFiles entries throw DSM_CERT_CA_FILE naming the entry', async (t) => {
  const missing = join(dir, 'nope.pem')
  await t.rejects(buildCaBundle({ caFiles: [missing], systemStore: false }),
    { code: 'DSM_CERT_CA_FILE', statusCode: 500, message: /'.*nope\.pem'.*does not exist/ })
  const garbage = file('garbage.pem', 'this is not a certificate\n')
  await t.rejects(buildCaBundle({ caFiles: [garbage], systemStore: false }),
    { code: 'DSM_CERT_CA_FILE', message: /garbage\.pem.*contains no certificate/ })
  const empty = file('empty.pem', '')
  await t.rejects(buildCaBundle({ caFiles: [empty], systemStore: false }), { code: 'DSM_CERT_CA_FILE' })
  const broken = file('broken.pem', `${pki.rootCa.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`)
  await t.rejects(buildCaBundle({ caFiles: [broken], systemStore: false }),
    { code: 'DSM_CERT_CA_FILE', message: /broken\.pem.*certificate #2 cannot be parsed/ })
  const emptyDir = join(dir, 'empty-dir')
  mkdirSync(emptyDir)
  writeFileSync(join(emptyDir, 'notes.txt'), 'x')
  await t.rejects(buildCaBundle({ caFiles: [emptyDir], systemStore: false }),
    { code: 'DSM_CERT_CA_FILE', message: /empty-dir.*no \.pem/ })
})

// Permission bits mean nothing to root, which can read anything.
t.test('an unreadable caFiles entry throws DSM_CERT_CA_FILE', { skip: process.getuid?.() === 0 ? 'running as root: every file is readable' : false }, async (t) => {
  const unreadable = file('unreadable.pem', pki.rootCa.certPem)
  chmodSync(unreadable, 0o000)
  await t.rejects(buildCaBundle({ caFiles: [unreadable], systemStore: false }),
    { code: 'DSM_CERT_CA_FILE', message: /not readable/ })
})

t.test('systemStore adds the first OS bundle that exists', async (t) => {
  const osBundle = file('os-bundle.pem', pki.otherCa.certPem + pki.rootCa.certPem)
  const paths = [join(dir, 'absent-1.crt'), osBundle, pki.files.leafCert]
  const bundle = await buildCaBundle({ caFiles: [pki.files.rootCa], systemStore: true, systemBundlePaths: paths })
  t.same(bundle.entries.filter((e) => e.source !== 'node').map((e) => [e.source, e.fingerprint256, e.status]), [
    [osBundle, otherFp, 'added'],
    [osBundle, rootFp, 'added'],
    [pki.files.rootCa, rootFp, 'duplicate']
  ], 'only the first existing path is read, and it comes before caFiles')

  const none = await buildCaBundle({ caFiles: [], systemStore: true, systemBundlePaths: [join(dir, 'absent-2.crt')] })
  t.equal(none.entries.length, rootCertificates.length, 'no OS bundle is not an error')

  const off = await buildCaBundle({ caFiles: [], systemStore: false, systemBundlePaths: [osBundle] })
  t.notOk(off.entries.some((e) => e.source === osBundle), 'systemStore: false ignores the OS bundle')

  t.ok(SYSTEM_BUNDLE_PATHS.includes('/etc/ssl/certs/ca-certificates.crt'))
  t.ok(SYSTEM_BUNDLE_PATHS.includes('/etc/pki/tls/certs/ca-bundle.crt'))
  t.ok(SYSTEM_BUNDLE_PATHS.includes('/etc/ssl/cert.pem'))
})

const hasOsBundle = SYSTEM_BUNDLE_PATHS.some((path) => existsSync(path))
t.test('systemStore with the real OS bundle', { skip: hasOsBundle ? false : 'no OS bundle at any of SYSTEM_BUNDLE_PATHS' }, async (t) => {
  const bundle = await buildCaBundle({ caFiles: [], systemStore: true })
  const os = bundle.entries.filter((e) => e.source !== 'node')
  t.ok(SYSTEM_BUNDLE_PATHS.includes(os[0]?.source ?? ''))
  t.ok(os.some((e) => e.status === 'duplicate' && nodeFps.has(e.fingerprint256)), 'OS and Node roots overlap; the overlap is dropped')
  t.equal(new Set(bundle.certificates.map(fingerprint)).size, bundle.certificates.length, 'no certificate twice')
})

t.test('writeCaBundle writes <dataDir>/upstream-ca.pem atomically, 0644, usable as ca', async (t) => {
  const dataDir = join(dir, 'data', 'nested')
  const bundle = await buildCaBundle({ caFiles: [pki.files.rootCa], systemStore: false })
  const path = await writeCaBundle(bundle, dataDir)
  t.equal(path, join(dataDir, CA_BUNDLE_FILE_NAME))
  t.equal(statSync(path).mode & 0o777, 0o644)
  const text = readFileSync(path, 'utf8')
  t.match(text, `# CN=dsmirror test root (from ${pki.files.rootCa})\n-----BEGIN CERTIFICATE-----`)
  t.equal(text.match(/-----BEGIN CERTIFICATE-----/g)?.length, bundle.certificates.length)

  const up = await startUpstream()
  t.teardown(() => up.close())
  up.set('/y', { body: Buffer.from('y') })
  t.equal((await request(`${up.origin}/y`, { ca: text })).status, 200, 'the written file, comments and all, works as ca')

  // Rewriting replaces the file in place and leaves no temp files behind.
  const smaller = await buildCaBundle({ caFiles: [], systemStore: false })
  await writeCaBundle(smaller, dataDir)
  t.notMatch(readFileSync(path, 'utf8'), 'dsmirror test root')
  t.same(readdirSync(dataDir), [CA_BUNDLE_FILE_NAME])
})
