// `dsmirror doctor` names the cause of each certificate failure in words and gives the fix
// (docs/design.md "Trust"): unknown issuer (with the TLS-interception hint for a public name),
// expired, not yet valid, hostname mismatch, missing intermediate, self-signed; a healthy
// upstream passes. Every server is a real node:https server on 127.0.0.1 with a certificate from
// the per-run test PKI; a "public" name is checked through connectTo, so it is never resolved.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { buildCaBundle } from '../../certs/ca-bundle.js'
import { checkUpstream, formatDoctorReport, runDoctor, type DoctorOptions } from '../../certs/doctor.js'
import { getTestPki, issueTestLeaf, type KeyPairPem } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'

const TIMEOUT_MS = 2000
const execFileAsync = promisify(execFile)

async function managedOptions (caFiles: string[]): Promise<DoctorOptions> {
  // The same bundle the proxy builds: Node's public roots + caFiles (no OS store, for a stable test).
  const bundle = await buildCaBundle({ caFiles, systemStore: false })
  return { ca: bundle.certificates, proxy: 'none', timeoutMs: TIMEOUT_MS, caFiles }
}

async function serve (t: Test, tls: KeyPairPem): Promise<number> {
  const upstream = await startUpstream({ tls })
  t.teardown(() => upstream.close())
  return upstream.port
}

t.test('a healthy upstream passes and shows its chain', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.chainLeaf)
  const opts = await managedOptions([pki.files.rootCa])
  const report = await runDoctor([{ host: '127.0.0.1', port }], opts)
  t.equal(report.ok, true)
  const [result] = report.results
  t.equal(result?.cause, 'ok')
  t.match(result?.chain.map((c) => c.subject), [/127\.0\.0\.1|localhost/, /dsmirror test intermediate/, /dsmirror test root/])
  const text = formatDoctorReport(report)
  t.match(text, /^PASS 127\.0\.0\.1:\d+: TLS verified/m)
  t.match(text, /All 1 upstream\(s\) passed/)
})

t.test('unknown issuer for a public name: the TLS-interception hint and the caFiles line', async (t) => {
  const pki = await getTestPki()
  // What an intercepting proxy does: a leaf for the public name, signed by its own root, sent with that root.
  const forged = await issueTestLeaf({ names: ['download.pytorch.org'], issuer: pki.otherCa })
  const port = await serve(t, { certPem: forged.certPem + pki.otherCa.certPem, keyPem: forged.keyPem })
  const opts = await managedOptions([pki.files.rootCa])
  const result = await checkUpstream({ host: 'download.pytorch.org', port: 443, connectTo: { host: '127.0.0.1', port } }, opts)
  t.equal(result.ok, false)
  t.equal(result.cause, 'unknown-issuer')
  t.equal(result.interception, true)
  t.match(result.title, /unknown issuer 'dsmirror test corporate root': a TLS-intercepting proxy is probably in the path/)
  t.match(result.explanation.join(' '), /is a public name, but 'dsmirror test corporate root' is not one of the public roots/)
  t.match(result.fix.join('\n'), `upstream:\n  caFiles: [${pki.files.rootCa}, /path/to/corporate-root.pem]`)
  t.equal(result.chain.length, 2, 'the chain the server sent: leaf and its root')
  t.match(result.chain[0]?.subject, /download\.pytorch\.org/)
  t.match(result.chain[1], { selfIssued: true, trusted: false, publicRoot: false })
  t.match(result.detail, /SELF_SIGNED_CERT_IN_CHAIN/)

  const text = formatDoctorReport({ results: [result], skipped: [], patterns: [], ok: false })
  t.match(text, /^FAIL download\.pytorch\.org:443: unknown issuer/m)
  t.match(text, /\[1\] CN=dsmirror test corporate root {2}\(self-signed root, not trusted by dsmirror\)/)
  t.match(text, /sha256: {2}[0-9A-F:]{95}/, 'the fingerprint to compare with IT')
})

t.test('unknown issuer for a private name: no interception claim', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, { certPem: pki.otherLeaf.certPem + pki.otherCa.certPem, keyPem: pki.otherLeaf.keyPem })
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.cause, 'unknown-issuer')
  t.equal(result.interception, false)
  t.match(result.title, /unknown issuer: the chain ends in 'dsmirror test corporate root', which is not trusted/)
  t.match(result.fix.join('\n'), /caFiles: \[.*\/path\/to\/dsmirror-test-corporate-root\.pem\]/)
})

t.test('the same upstream passes once its root is in caFiles', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.otherLeaf)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa, pki.files.otherCa]))
  t.equal(result.ok, true)
  t.equal(result.cause, 'ok')
})

t.test('expired certificate: the date and the clock', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.expiredLeaf)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.ok, false)
  t.equal(result.cause, 'expired')
  t.match(result.title, /^the certificate '.*' expired on \d{4}-\d\d-\d\dT.* \(10 day\(s\) ago\)$/)
  t.match(result.fix.join(' '), /Ask the operator of '127\.0\.0\.1' to renew the certificate/)
  t.match(result.explanation.join(' '), /fix the clock/)
  t.match(result.detail, /CERT_HAS_EXPIRED/)
})

t.test('not yet valid certificate: valid-from date against this clock', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.notYetValidLeaf)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.cause, 'not-yet-valid')
  t.match(result.title, /is not valid yet \(valid from \d{4}-/)
  t.match(result.fix.join(' '), /timedatectl/)
  t.match(result.detail, /CERT_NOT_YET_VALID/)
})

t.test('hostname mismatch: the names the certificate has', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.wrongNameLeaf)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.cause, 'hostname-mismatch')
  t.match(result.title, /hostname mismatch: the certificate is for DNS:wrong\.example, not '127\.0\.0\.1'/)
  t.match(result.fix.join(' '), /ask the operator of '127\.0\.0\.1' for a certificate that includes '127\.0\.0\.1'/)
  t.match(result.detail, /ERR_TLS_CERT_ALTNAME_INVALID/)
})

t.test('missing intermediate: the issuer the server did not send', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.chainLeafAlone)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.cause, 'missing-intermediate')
  t.match(result.title, /missing intermediate: the server did not send 'dsmirror test intermediate'/)
  t.match(result.fix.join('\n'), /Ask the operator of '127\.0\.0\.1' to send the intermediate certificate/)
  t.match(result.fix.join('\n'), /upstream:\n {2}caFiles: \[.*\/path\/to\/intermediate\.pem\]/)
  t.equal(result.chain.length, 1, 'the server sent the leaf alone')
  t.match(result.detail, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
})

t.test('self-signed server certificate: its fingerprint and the caFiles line', async (t) => {
  const pki = await getTestPki()
  // A self-signed server certificate, made the way an operator would: with openssl.
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-doctor-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await execFileAsync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=selfsigned.test', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')])
  const selfSigned = { certPem: await readFile(join(dir, 'cert.pem'), 'utf8'), keyPem: await readFile(join(dir, 'key.pem'), 'utf8') }
  const port = await serve(t, selfSigned)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa]))
  t.equal(result.ok, false)
  t.equal(result.cause, 'self-signed')
  t.match(result.title, /the server's certificate is self-signed \('selfsigned\.test'\)/)
  t.match(result.explanation.join(' '), /SHA-256 fingerprint is [0-9A-F:]{95}/)
  t.match(result.fix.join('\n'), /upstream:\n {2}caFiles: \[.*\/path\/to\/127\.0\.0\.1\.pem\]/)
  t.match(result.detail, /DEPTH_ZERO_SELF_SIGNED_CERT/)
})

t.test('a CA certificate served as the server certificate is rejected as misused', async (t) => {
  const pki = await getTestPki()
  const port = await serve(t, pki.otherCa)
  const result = await checkUpstream({ host: '127.0.0.1', port }, await managedOptions([pki.files.rootCa, pki.files.otherCa]))
  t.equal(result.ok, false, 'trusting the CA does not make it a server certificate')
  t.equal(result.cause, 'invalid-chain')
  t.match(result.explanation.join(' '), /a CA certificate served as the server certificate/)
  t.match(result.detail, /INVALID_PURPOSE/)
})

t.test('a report with one failure is not ok, and says how many failed', async (t) => {
  const pki = await getTestPki()
  const good = await serve(t, pki.leaf)
  const bad = await serve(t, pki.expiredLeaf)
  const report = await runDoctor([{ host: '127.0.0.1', port: good }, { host: '127.0.0.1', port: bad }], await managedOptions([pki.files.rootCa]))
  t.equal(report.ok, false)
  t.same(report.results.map((r) => r.cause), ['ok', 'expired'])
  t.match(formatDoctorReport(report), /1 of 2 upstream\(s\) failed\./)
})
