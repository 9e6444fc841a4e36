// certs/local-ca-store.ts: the local CA is made once in <dataDir>/ca (dir 0700, key 0600, cert
// 0644), reused while it covers tls.hostnames, and replaced (the old directory kept as
// ca.retired-<time>) when the hostnames outgrow its name constraints or it is about to expire.
// Damaged files fail with DSM_CERT_LOCAL_CA instead of being silently replaced.
import { X509Certificate } from 'node:crypto'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import t from 'tap'
import { createRootCa, issueLeaf } from '../../certs/local-ca.js'
import { isCoveredBy, loadOrCreateLocalCa, localCaPaths, permittedNamesFor, readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { openssl, opensslSkip } from '../helpers/tls-probe.js'

const HOSTNAMES = ['localhost', '127.0.0.1', '::1']
const YEAR_MS = 365 * 24 * 60 * 60 * 1000

interface LogLine { level: number, msg: string, reason?: string }
/** A real pino logger whose JSON lines are kept for the test to read. */
function recordingLog (): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
  return Object.assign(log, { lines })
}
const WARN = 40

async function freshDataDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-local-ca-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('made once with safe modes, then reused', async (t) => {
  const dataDir = await freshDataDir(t)
  const first = await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  t.equal(first.created, true)
  const paths = localCaPaths(dataDir)
  t.equal((await stat(paths.dir)).mode & 0o777, 0o700, 'directory 0700')
  t.equal((await stat(paths.keyFile)).mode & 0o777, 0o600, 'key 0600')
  t.equal((await stat(paths.certFile)).mode & 0o777, 0o644, 'certificate 0644')
  t.same(first.ca.permittedNames, ['localhost', '127.0.0.1', '::1'])
  t.match(first.ca.cert.subject, /^CN=dsmirror local CA \d{4}-\d\d-\d\d/)
  t.same(await readdir(dataDir), ['ca'], 'no staging directory is left behind')

  const again = await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  t.equal(again.created, false)
  t.equal(again.ca.cert.fingerprint256, first.ca.cert.fingerprint256, 'the same CA')
  const fewer = await loadOrCreateLocalCa({ dataDir, hostnames: ['localhost'] })
  t.equal(fewer.ca.cert.fingerprint256, first.ca.cert.fingerprint256, 'fewer names are still covered')
  const onDisk = await readLocalCaCertificate(dataDir)
  t.equal(onDisk?.cert.fingerprint256, first.ca.cert.fingerprint256)
  t.equal(await readLocalCaCertificate(await freshDataDir(t)), null, 'none before the first start')
})

t.test('two processes starting at once end up with one CA', async (t) => {
  const dataDir = await freshDataDir(t)
  const [a, b] = await Promise.all([loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES }), loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })])
  t.equal(a.ca.cert.fingerprint256, b.ca.cert.fingerprint256)
  t.equal((await readLocalCaCertificate(dataDir))?.cert.fingerprint256, a.ca.cert.fingerprint256)
  t.same(await readdir(dataDir), ['ca'])
})

t.test('new tls.hostnames outside the constraints: a new CA, the old one kept', async (t) => {
  const dataDir = await freshDataDir(t)
  const old = await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  const log = recordingLog()
  const grown = await loadOrCreateLocalCa({ dataDir, hostnames: [...HOSTNAMES, 'mirror.corp.example'], log })
  t.equal(grown.created, true)
  t.not(grown.ca.cert.fingerprint256, old.ca.cert.fingerprint256, 'a new CA')
  t.same(grown.ca.permittedNames, ['localhost', '127.0.0.1', '::1', 'mirror.corp.example'])
  t.ok(grown.retiredDir?.startsWith(join(dataDir, 'ca.retired-')), 'the old directory is kept beside it')
  const retiredCert = new X509Certificate(await readFile(join(grown.retiredDir ?? '', 'ca.pem')))
  t.equal(retiredCert.fingerprint256, old.ca.cert.fingerprint256, 'with the old CA in it')
  t.equal((await stat(join(grown.retiredDir ?? '', 'ca-key.pem'))).mode & 0o777, 0o600, 'and its key still 0600')
  const warning = log.lines.find((line) => line.level === WARN)
  t.match(warning?.reason, /do not cover tls\.hostnames mirror\.corp\.example/)
  t.match(warning?.msg, /clients that trusted the old one must trust the new one/)
})

t.test('a CA that would expire before the next leaf is replaced', async (t) => {
  const dataDir = await freshDataDir(t)
  const old = await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  const later = Date.now() + 10 * YEAR_MS - 24 * 60 * 60 * 1000
  const log = recordingLog()
  const renewed = await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES, minValidityMs: 7 * 24 * 60 * 60 * 1000, now: () => later, log })
  t.not(renewed.ca.cert.fingerprint256, old.ca.cert.fingerprint256)
  t.match(log.lines.find((line) => line.level === WARN)?.reason, /expires .* before the next leaf would/)
})

t.test('damaged CA files fail with DSM_CERT_LOCAL_CA and are left alone', async (t) => {
  const dataDir = await freshDataDir(t)
  await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  const paths = localCaPaths(dataDir)
  const goodKey = await readFile(paths.keyFile, 'utf8')
  const goodCert = await readFile(paths.certFile, 'utf8')
  const stranger = await createRootCa({ commonName: 'stranger', lifetimeMs: YEAR_MS })

  const cases: Array<[string, () => Promise<void>, RegExp]> = [
    ['garbage key', async () => { await writeFile(paths.keyFile, 'not a key\n') }, /ca-key\.pem is not a usable private key/],
    ['key of another CA', async () => { await writeFile(paths.keyFile, stranger.keyPem) }, /ca-key\.pem is not the key of ca\.pem/],
    ['certificate missing', async () => { await rm(paths.certFile) }, /ca-key\.pem is there but ca\.pem is missing/],
    ['not a CA', async () => {
      const leaf = await issueLeaf({ issuer: { certPem: goodCert, keyPem: goodKey }, names: ['localhost'], lifetimeMs: YEAR_MS })
      await writeFile(paths.certFile, leaf.certPem)
    }, /ca\.pem is not a CA certificate/]
  ]
  for (const [name, damage, message] of cases) {
    await writeFile(paths.keyFile, goodKey, { mode: 0o600 })
    await writeFile(paths.certFile, goodCert)
    await damage()
    await t.rejects(loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES }), { code: 'DSM_CERT_LOCAL_CA', message }, name)
    t.same((await readdir(dataDir)).sort(), ['ca'], `${name}: nothing replaced or retired`)
  }
  await writeFile(paths.certFile, goodCert)
  await writeFile(paths.keyFile, goodKey)
  await t.resolves(loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES }), 'restored files work again')
})

t.test('a key readable by others is set back to 0600, with a warning', async (t) => {
  const dataDir = await freshDataDir(t)
  await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES })
  const { keyFile } = localCaPaths(dataDir)
  await chmod(keyFile, 0o644)
  const log = recordingLog()
  await loadOrCreateLocalCa({ dataDir, hostnames: HOSTNAMES, log })
  t.equal((await stat(keyFile)).mode & 0o777, 0o600)
  t.match(log.lines.find((line) => line.level === WARN)?.msg, /readable by others/)
})

t.test('constraints for wildcards and IPs', async (t) => {
  t.same(permittedNamesFor(['*.corp.example', 'mirror.corp.example', 'LOCALHOST', '0:0:0:0:0:0:0:1', '::1']), ['corp.example', 'mirror.corp.example', 'localhost', '::1'])
  const permitted = ['corp.example', '10.0.0.5', '::1']
  t.ok(isCoveredBy('*.corp.example', permitted))
  t.ok(isCoveredBy('a.b.corp.example', permitted))
  t.ok(isCoveredBy('corp.example', permitted))
  t.notOk(isCoveredBy('evilcorp.example', permitted), 'a suffix match needs a dot boundary')
  t.ok(isCoveredBy('0:0:0:0:0:0:0:1', permitted), 'IPv6 compared in canonical form')
  t.notOk(isCoveredBy('10.0.0.6', permitted))
  t.notOk(isCoveredBy('localhost', permitted))
  t.ok(isCoveredBy('anything', null), 'a CA without constraints covers every name')
})

t.test('a wildcard hostname: the CA signs *.corp.example, and openssl holds it to corp.example', { skip: opensslSkip }, async (t) => {
  const dataDir = await freshDataDir(t)
  const { ca } = await loadOrCreateLocalCa({ dataDir, hostnames: ['*.corp.example'] })
  const wildcard = await issueLeaf({ issuer: ca, names: ['*.corp.example'], lifetimeMs: YEAR_MS })
  const outside = await issueLeaf({ issuer: ca, names: ['corp.example.evil'], lifetimeMs: YEAR_MS })
  await writeFile(join(dataDir, 'wildcard.pem'), wildcard.certPem)
  await writeFile(join(dataDir, 'outside.pem'), outside.certPem)
  const ok = await openssl(['verify', '-no-CApath', '-CAfile', ca.paths.certFile, join(dataDir, 'wildcard.pem')])
  t.equal(ok.status, 0, 'the wildcard leaf verifies')
  const bad = await openssl(['verify', '-no-CApath', '-CAfile', ca.paths.certFile, join(dataDir, 'outside.pem')])
  t.not(bad.status, 0)
  t.match(bad.out, /permitted subtree violation/)
})
