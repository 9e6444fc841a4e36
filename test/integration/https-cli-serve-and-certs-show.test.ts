// The real CLI (bin/dsmirror.js, built by `npm test`): `serve` starts the HTTPS listener beside
// the HTTP one and shuts both down on SIGTERM; a certificate problem stops it at start with the
// DSM_CERT_* code. `certs show` prints the local CA's SHA-256 fingerprint, validity and
// permitted names and the served leaf's names and expiry (auto), or the files' subjects, issuers
// and expiry (files), and exits 1 when the files cannot be used.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startChildProxy } from '../helpers/child-proxy.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { testConfig } from '../helpers/proxy.js'
import { runDsmirror } from '../helpers/cli.js'

async function configFile (dataDir: string, config: Record<string, unknown>): Promise<string> {
  const file = join(dataDir, 'show-config.json')
  await writeFile(file, JSON.stringify(await testConfig(dataDir, { config })))
  return file
}

async function freshDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-cli-https-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('serve: HTTP and HTTPS, certs show, SIGTERM', async (t) => {
  const dataDir = await freshDir(t)
  const before = await runDsmirror(['certs', 'show', '--config', await configFile(dataDir, {})])
  t.equal(before.code, 0)
  t.match(before.stdout, /tls\.mode: auto\n/)
  t.match(before.stdout, /local CA: none yet/)

  const proxy = await startChildProxy(dataDir, { https: true })
  t.teardown(() => { proxy.child.kill('SIGKILL') })
  const serving = proxy.output().split('\n').find((line) => line.includes('dsmirror is serving')) ?? '{}'
  const { urls } = JSON.parse(serving) as { urls: string[] }
  t.equal(urls.length, 2, 'two listeners')
  t.equal(urls[0], proxy.origin, 'HTTP first')
  const httpsOrigin = urls[1] ?? ''
  t.match(httpsOrigin, /^https:\/\/127\.0\.0\.1:\d+$/)
  const caPem = await readFile(join(dataDir, 'ca', 'ca.pem'), 'utf8')
  const health = await request(`${httpsOrigin}/_/healthz`, { ca: caPem })
  t.equal(health.status, 200, 'HTTPS answers with the local CA trusted')
  t.notMatch(proxy.output(), /PRIVATE KEY/, 'no key material in the log')

  const shown = await runDsmirror(['certs', 'show', '--config', join(dataDir, 'config.json')])
  t.equal(shown.code, 0, shown.stderr)
  const ca = new X509Certificate(caPem)
  t.match(shown.stdout, `SHA-256:    ${ca.fingerprint256}`, 'the CA fingerprint')
  t.match(shown.stdout, /permitted: {2}localhost, 127\.0\.0\.1, ::1/)
  t.match(shown.stdout, /current leaf: .*leaf\.pem\n {2}subject: {4}CN=localhost\n {2}SHA-256: .*\n {2}valid: .* \(expires in (6|7)d\)\n {2}names: {6}localhost, 127\.0\.0\.1, ::1/)
  t.notMatch(shown.stdout, /PRIVATE/)
  const json = await runDsmirror(['certs', 'show', '--json', '--config', join(dataDir, 'config.json')])
  const report = JSON.parse(json.stdout) as { ca: { sha256: string, permittedNames: string[] }, leaf: { names: string[], notAfter: string } }
  t.equal(report.ca.sha256, ca.fingerprint256)
  t.same(report.leaf.names, ['localhost', '127.0.0.1', '::1'])

  proxy.child.kill('SIGTERM')
  t.equal(await proxy.exited, 0, 'SIGTERM closes both listeners and exits 0')
})

t.test('serve refuses a mismatched pair at start with DSM_CERT_KEY_MISMATCH', async (t) => {
  const pki = await getTestPki()
  const dataDir = await freshDir(t)
  const file = join(dataDir, 'config.json')
  await writeFile(file, JSON.stringify(await testConfig(dataDir, { https: true, config: { tls: { mode: 'files', certFile: pki.files.leafCert, keyFile: pki.files.otherLeafKey } } })))
  const r = await runDsmirror(['serve', '--config', file])
  t.equal(r.code, 1)
  t.match(r.stderr, /^dsmirror: DSM_CERT_KEY_MISMATCH: tls\.keyFile '.*other-leaf-key\.pem' is not the private key/m)
})

t.test('certs show in files mode: each certificate, and exit 1 for a bad pair', async (t) => {
  const pki = await getTestPki()
  const dataDir = await freshDir(t)
  const good = await runDsmirror(['certs', 'show', '--config', await configFile(dataDir, { tls: { mode: 'files', certFile: pki.files.chainLeafCert, keyFile: pki.files.chainLeafKey } })])
  t.equal(good.code, 0, good.stderr)
  t.match(good.stdout, /certificate #1 \(served\)\n {2}subject: {4}CN=localhost\n/)
  t.match(good.stdout, /certificate #2 \(CA\)\n {2}subject: {4}CN=dsmirror test intermediate\n/)
  t.match(good.stdout, /issuer: {5}CN=dsmirror test root/)
  t.match(good.stdout, /valid: .* \(expires in \d+d\)/)
  t.notMatch(good.stdout, /problem:/)

  const bad = await runDsmirror(['certs', 'show', '--config', await configFile(dataDir, { tls: { mode: 'files', certFile: pki.files.leafCert, keyFile: pki.files.otherLeafKey } })])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /problem: DSM_CERT_KEY_MISMATCH: /)
})
