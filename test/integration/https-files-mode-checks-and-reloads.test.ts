// tls.mode files: the operator's chain and key. At start the key must belong to the first
// certificate (DSM_CERT_KEY_MISMATCH names both files), and unreadable, empty, swapped or
// encrypted files fail with DSM_CERT_TLS_FILE. While serving, replacing the files (atomic
// rename or in-place write) swaps the served certificate without a restart; a pair that does not
// match is refused and the previous certificate keeps serving. /_/ca.pem offers the chain's last
// certificate when it is a CA, and says why not otherwise.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { getTestPki, issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { servedCertificate } from '../helpers/tls-probe.js'

const pki = await getTestPki()
const dir = await mkdtemp(join(tmpdir(), 'dsmirror-tls-files-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

async function write (name: string, text: string, mode = 0o644): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, text, { mode })
  return file
}

function filesConfig (certFile: string, keyFile: string): Record<string, unknown> {
  return { tls: { mode: 'files', certFile, keyFile } }
}

const leafOf = (pem: string): X509Certificate => new X509Certificate(pem)

t.test('a key that does not belong to the certificate fails at start with DSM_CERT_KEY_MISMATCH', async (t) => {
  await t.rejects(startProxy({ https: true, config: filesConfig(pki.files.leafCert, pki.files.otherLeafKey) }), {
    code: 'DSM_CERT_KEY_MISMATCH',
    message: new RegExp(`tls\\.keyFile '${pki.files.otherLeafKey}' is not the private key of the certificate in tls\\.certFile '${pki.files.leafCert}'.*openssl`)
  })
  const reversed = await write('reversed-chain.pem', pki.intermediateCa.certPem + pki.chainLeafAlone.certPem)
  await t.rejects(startProxy({ https: true, config: filesConfig(reversed, pki.files.chainLeafKey) }), {
    code: 'DSM_CERT_KEY_MISMATCH',
    message: /certificate #2 in that file: put the server certificate first/
  }, 'a chain in the wrong order is named as such')
})

t.test('unusable files fail at start with DSM_CERT_TLS_FILE, saying what is wrong', async (t) => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['missing certFile', join(dir, 'nope.pem'), pki.files.leafKey, /tls\.certFile '.*nope\.pem' could not be used \(reading it failed: ENOENT/],
    ['missing keyFile', pki.files.leafCert, join(dir, 'nope-key.pem'), /tls\.keyFile '.*nope-key\.pem' could not be used \(reading it failed: ENOENT/],
    ['empty certFile', await write('empty.pem', ''), pki.files.leafKey, /no PEM certificate in it/],
    ['swapped files (key as certFile)', pki.files.leafKey, pki.files.leafCert, /no PEM certificate in it \(it holds a private key: are certFile and keyFile swapped\?\)/],
    ['a certificate as keyFile', pki.files.leafCert, pki.files.leafCert, /it holds a certificate, not a key/],
    ['an encrypted key', pki.files.leafCert,
      await write('encrypted-key.pem', createPrivateKey(pki.leaf.keyPem).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString(), 0o600),
      /the key is encrypted/],
    ['a damaged certificate', await write('damaged.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), pki.files.leafKey, /certificate #1 does not parse/]
  ]
  for (const [name, certFile, keyFile, message] of cases) {
    await t.rejects(startProxy({ https: true, config: filesConfig(certFile, keyFile) }), { code: 'DSM_CERT_TLS_FILE', message }, name)
  }
})

t.test('the operator chain is served; /_/ca.pem offers its last certificate when it is a CA', async (t) => {
  const proxy = await startProxy({ https: true, config: filesConfig(pki.files.chainLeafCert, pki.files.chainLeafKey) })
  t.teardown(() => proxy.close({ remove: true }))
  const httpsOrigin = proxy.httpsOrigin ?? ''
  const res = await request(`${httpsOrigin}/_/healthz`, { ca: pki.rootCa.certPem })
  t.equal(res.status, 200, 'a client trusting only the root verifies the chain (leaf + intermediate sent)')
  const served = await servedCertificate(httpsOrigin, pki.rootCa.certPem)
  t.equal(served.fingerprint256, leafOf(pki.chainLeafAlone.certPem).fingerprint256)
  for (const [origin, ca] of [[proxy.origin, undefined], [httpsOrigin, pki.rootCa.certPem]] as const) {
    const pem = await request(`${origin}/_/ca.pem`, ca === undefined ? {} : { ca })
    t.equal(pem.status, 200)
    t.equal(pem.headers['content-type'], 'application/x-pem-file')
    t.equal(leafOf(pem.body.toString()).fingerprint256, leafOf(pki.intermediateCa.certPem).fingerprint256, `${origin}: the intermediate, last in the chain`)
    t.notMatch(pem.body.toString(), /PRIVATE/)
  }
})

t.test('a chain without a CA: /_/ca.pem answers 404 DSM_CERT_NO_CA with the reason', async (t) => {
  const proxy = await startProxy({ https: true, config: filesConfig(pki.files.leafCert, pki.files.leafKey) })
  t.teardown(() => proxy.close({ remove: true }))
  const res = await request(`${proxy.origin}/_/ca.pem`)
  t.equal(res.status, 404)
  const body = JSON.parse(res.body.toString()) as { code: string, error: string }
  t.equal(body.code, 'DSM_CERT_NO_CA')
  t.match(body.error, /does not end with a CA certificate.*corporate root/)
})

t.test('replacing the files swaps the served certificate without a restart; a bad pair is refused', async (t) => {
  const certFile = await write('tls.crt', pki.leaf.certPem)
  const keyFile = await write('tls.key', pki.leaf.keyPem, 0o600)
  const proxy = await startProxy({ https: true, config: filesConfig(certFile, keyFile), httpsDeps: { reloadDebounceMs: 50 } })
  t.teardown(() => proxy.close({ remove: true }))
  const tls = proxy.https?.tls
  if (tls === undefined) throw new Error('no HTTPS listener')
  const httpsOrigin = proxy.httpsOrigin ?? ''
  const ca = pki.rootCa.certPem
  t.equal((await servedCertificate(httpsOrigin, ca)).fingerprint256, leafOf(pki.leaf.certPem).fingerprint256, 'the first pair is served')

  // 1. Atomic replace, the way cert-manager and most deploy tools do it: temp file + rename.
  const second = await issueTestLeaf({ names: ['127.0.0.1', 'localhost'] })
  let changed = once(tls, 'change')
  await writeFile(join(dir, 'tls.key.tmp'), second.keyPem, { mode: 0o600 })
  await writeFile(join(dir, 'tls.crt.tmp'), second.certPem)
  await rename(join(dir, 'tls.key.tmp'), keyFile)
  await rename(join(dir, 'tls.crt.tmp'), certFile)
  await changed
  t.equal((await servedCertificate(httpsOrigin, ca)).fingerprint256, leafOf(second.certPem).fingerprint256, 'the renamed-in pair is served')

  // 2. A certificate whose key has not arrived: refused, the previous pair keeps serving.
  const third = await issueTestLeaf({ names: ['127.0.0.1', 'localhost'] })
  const rejected = once(tls, 'rejected')
  await writeFile(certFile, third.certPem)
  const [err] = await rejected as [{ code: string, message: string }]
  t.equal(err.code, 'DSM_CERT_KEY_MISMATCH', 'the mismatched pair is refused with its code')
  t.equal((await servedCertificate(httpsOrigin, ca)).fingerprint256, leafOf(second.certPem).fingerprint256, 'the previous certificate keeps serving')
  const stillOk = await request(`${httpsOrigin}/_/healthz`, { ca })
  t.equal(stillOk.status, 200)

  // 3. The key arrives (written in place): the pair is complete and served.
  changed = once(tls, 'change')
  await writeFile(keyFile, third.keyPem)
  await changed
  t.equal((await servedCertificate(httpsOrigin, ca)).fingerprint256, leafOf(third.certPem).fingerprint256, 'the completed pair is served')
})
