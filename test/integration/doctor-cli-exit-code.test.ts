// The real CLI (`node bin/dsmirror.js doctor`, built by `npm test`): exit 0 only when every
// upstream passes, 1 when any fails, with the cause and fix printed; without an argument it
// checks every exact allowHosts entry and mirror; a target it cannot parse is DSM_DOCTOR_TARGET.
// Also `certs bundle`, which prints what the bundle trusts and why.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'
import { runDsmirror } from '../helpers/cli.js'

async function configFile (t: Test, extra: Record<string, unknown>): Promise<string> {
  const pki = await getTestPki()
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-doctor-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify({
    dataDir: join(dir, 'data'),
    upstream: { caFiles: [pki.files.rootCa], systemStore: false, proxy: 'none', timeouts: { connect: '2s' } },
    allowHosts: [],
    mirrors: {},
    ...extra
  }))
  return file
}

async function closedPort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  await new Promise((resolve) => server.close(resolve))
  return address.port
}

t.test('a healthy upstream: exit 0', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const run = await runDsmirror(['doctor', `https://${upstream.host}/some/file.tar`, '--config', await configFile(t, {})])
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, new RegExp(`^PASS ${upstream.host.replace(/\./g, '\\.')} \\(argument\\): TLS verified`, 'm'))
  t.match(run.stdout, /All 1 upstream\(s\) passed\./)
})

t.test('an expired certificate: exit 1 with the cause and the fix', async (t) => {
  const pki = await getTestPki()
  const upstream = await startUpstream({ tls: pki.expiredLeaf })
  t.teardown(() => upstream.close())
  const run = await runDsmirror(['doctor', upstream.host, '--config', await configFile(t, {})])
  t.equal(run.code, 1)
  t.match(run.stdout, /^FAIL 127\.0\.0\.1:\d+ \(argument\): the certificate '.*' expired on /m)
  t.match(run.stdout, /Ask the operator of '127\.0\.0\.1' to renew the certificate/)
  t.match(run.stdout, /1 of 1 upstream\(s\) failed\./)
})

t.test('without an argument: every allowHosts name and mirror; one refused port fails the run', async (t) => {
  const pki = await getTestPki()
  const good = await startUpstream()
  const corporate = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(async () => { await good.close(); await corporate.close() })
  const closed = await closedPort()
  const config = await configFile(t, {
    allowHosts: [good.host, `127.0.0.1:${closed}`, '*.example.org'],
    mirrors: { corp: { url: `https://${corporate.host}/files/` } }
  })
  const run = await runDsmirror(['doctor', '--config', config])
  t.equal(run.code, 1)
  t.match(run.stdout, new RegExp(`^FAIL ${corporate.host.replace(/\./g, '\\.')} \\(mirror corp\\): missing intermediate`, 'm'))
  t.match(run.stdout, new RegExp(`^PASS ${good.host.replace(/\./g, '\\.')} \\(allowHosts\\)`, 'm'))
  t.match(run.stdout, new RegExp(`^FAIL 127\\.0\\.0\\.1:${closed} \\(allowHosts\\): connection refused by 127\\.0\\.0\\.1:${closed}`, 'm'))
  t.match(run.stdout, /Patterns in allowHosts name no single host and were not checked \(\*\.example\.org\)/)
  t.match(run.stdout, /2 of 3 upstream\(s\) failed\./)

  // Adding the corporate root to caFiles fixes the mirror, as the fix line says.
  const fixed = await runDsmirror(['doctor', 'corp', '--config', await configFile(t, {
    upstream: { caFiles: [pki.files.rootCa, pki.files.otherCa], systemStore: false, proxy: 'none' },
    mirrors: { corp: { url: `https://${corporate.host}/files/` } }
  })])
  t.equal(fixed.code, 0, fixed.stdout)
})

t.test('a target doctor cannot check: DSM_DOCTOR_TARGET', async (t) => {
  const run = await runDsmirror(['doctor', 'ftp://files.example/x', '--config', await configFile(t, {})])
  t.equal(run.code, 1)
  t.match(run.stderr, /DSM_DOCTOR_TARGET: 'ftp:\/\/files\.example\/x' is not something dsmirror doctor can check/)
})

t.test('certs bundle: counts by source, each caFiles certificate, expired and duplicates', async (t) => {
  const pki = await getTestPki()
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-bundle-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await copyFile(pki.files.otherCa, join(dir, 'a-corporate.pem'))
  await copyFile(pki.files.otherCa, join(dir, 'b-same-again.pem'))
  await copyFile(pki.files.expiredCert, join(dir, 'c-expired.pem'))
  const run = await runDsmirror(['certs', 'bundle', '--config', await configFile(t, { upstream: { caFiles: [dir], systemStore: false } })])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^Node's built-in public roots: \d{2,} trusted/m)
  t.match(run.stdout, /^OS bundle: not used \(upstream\.systemStore: false\)/m)
  t.match(run.stdout, new RegExp(`^  ${join(dir, 'a-corporate.pem').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 1 trusted$`, 'm'))
  t.match(run.stdout, /b-same-again\.pem: 0 trusted, 1 duplicate\(s\) dropped/)
  t.match(run.stdout, /CN=dsmirror test corporate root\n {6}expires \d{4}-.*; trusted; SHA-256/)
  t.match(run.stdout, /c-expired\.pem: 0 trusted, 1 expired left out/)
  t.match(run.stdout, /EXPIRED, left out/)
  t.match(run.stdout, /1 certificate\(s\) in upstream\.caFiles have expired/)
  t.match(run.stdout, /dsmirror serve writes this bundle to .*upstream-ca\.pem/)
})
