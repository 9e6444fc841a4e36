// trust install / uninstall / env against a temporary filesystem root (certs/trust-store.ts takes
// every OS path under `root`): the family is read from os-release, the CA lands in that family's
// anchor directory under a fingerprint name, the family's update tool runs with its arguments,
// uninstall removes exactly that file, and the failures (unsupported system, missing or failing
// tool, not root) are DSM_TRUST_* errors that name the fix. The update tool inside a temp root
// is a small shell script that records how it was called: the real tools rewrite the machine's
// own store, which only test/e2e/trust-install.test.ts does.
import { execFile, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import {
  detectOsTrustStore, formatTrustEnv, installCa, parseOsRelease, trustFileName, uninstallCa, writeTrustBundle
} from '../../certs/trust-store.js'
import { getTestPki } from '../helpers/pki.js'
import { childEnv } from '../helpers/child-env.js'

const execFileAsync = promisify(execFile)
const CA_FILE = '/data/ca/ca.pem'

/** A temp root with an os-release and, optionally, an update tool that logs its arguments. */
async function fakeRoot (t: Test, opts: { osRelease?: string, tool?: { dir: string, name: string, exit?: number, stderr?: string } }): Promise<{ root: string, calls: () => Promise<string[]> }> {
  const root = await mkdtemp(join(tmpdir(), 'dsmirror-trust-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const log = join(root, 'tool-calls.log')
  if (opts.osRelease !== undefined) {
    await mkdir(join(root, 'etc'), { recursive: true })
    await writeFile(join(root, 'etc/os-release'), opts.osRelease)
  }
  if (opts.tool !== undefined) {
    await mkdir(join(root, opts.tool.dir), { recursive: true })
    const script = `#!/bin/sh\necho "${opts.tool.name} $*" >> '${log}'\n${opts.tool.stderr === undefined ? '' : `echo '${opts.tool.stderr}' >&2\n`}exit ${opts.tool.exit ?? 0}\n`
    await writeFile(join(root, opts.tool.dir, opts.tool.name), script, { mode: 0o755 })
  }
  return {
    root,
    calls: async () => {
      try {
        return (await readFile(log, 'utf8')).trim().split('\n').map((l) => l.trimEnd())
      } catch {
        return []
      }
    }
  }
}

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n'
const ALPINE = 'NAME="Alpine Linux"\nID=alpine\nPRETTY_NAME="Alpine Linux v3.20"\n'
const ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'

t.test('Debian: install writes dsmirror-<fp8>.crt and runs update-ca-certificates; uninstall removes exactly it', async (t) => {
  const pki = await getTestPki()
  const { root, calls } = await fakeRoot(t, { osRelease: DEBIAN, tool: { dir: 'usr/sbin', name: 'update-ca-certificates' } })
  const anchors = join(root, 'usr/local/share/ca-certificates')
  await mkdir(anchors, { recursive: true })
  // Things install must never touch: an operator's own CA and another data directory's dsmirror CA.
  await writeFile(join(anchors, 'corp-root.crt'), pki.otherCa.certPem)
  await writeFile(join(anchors, 'dsmirror-deadbeef.crt'), pki.otherCa.certPem)

  const name = trustFileName(pki.rootCa.certPem)
  const fingerprint = new X509Certificate(pki.rootCa.certPem).fingerprint256.replace(/:/g, '').toLowerCase()
  t.equal(name, `dsmirror-${fingerprint.slice(0, 8)}.crt`)

  const installed = await installCa(pki.rootCa.certPem, CA_FILE, { root })
  t.equal(installed.store.family, 'debian')
  t.equal(installed.store.distro, 'Debian GNU/Linux 12 (bookworm)')
  t.equal(installed.file, join(anchors, name))
  t.equal(installed.alreadyInstalled, false)
  t.equal(new X509Certificate(await readFile(installed.file)).fingerprint256, new X509Certificate(pki.rootCa.certPem).fingerprint256)
  t.same(await calls(), ['update-ca-certificates'], 'the tool ran once, without arguments')

  const again = await installCa(pki.rootCa.certPem, CA_FILE, { root })
  t.equal(again.alreadyInstalled, true, 'a second install finds the same file')

  const removed = await uninstallCa(pki.rootCa.certPem, CA_FILE, { root })
  t.same(removed.removed, [join(anchors, name)])
  t.same(removed.others, [join(anchors, 'dsmirror-deadbeef.crt')], 'another dsmirror CA is reported, not removed')
  t.same((await readdir(anchors)).sort(), ['corp-root.crt', 'dsmirror-deadbeef.crt'])
  t.same(await calls(), ['update-ca-certificates', 'update-ca-certificates', 'update-ca-certificates --fresh'], '--fresh drops the dangling link')

  const nothing = await uninstallCa(pki.rootCa.certPem, CA_FILE, { root })
  t.same(nothing.removed, [], 'uninstall of a CA that is not installed removes nothing')
  t.equal((await calls()).length, 3, 'and does not run the tool')
})

t.test('RHEL family: anchors under /etc/pki/ca-trust and update-ca-trust extract', async (t) => {
  const pki = await getTestPki()
  for (const osRelease of [FEDORA, ROCKY]) {
    const { root, calls } = await fakeRoot(t, { osRelease, tool: { dir: 'usr/bin', name: 'update-ca-trust' } })
    const installed = await installCa(pki.rootCa.certPem, CA_FILE, { root })
    t.equal(installed.store.family, 'rhel')
    t.equal(installed.file, join(root, 'etc/pki/ca-trust/source/anchors', trustFileName(pki.rootCa.certPem)))
    await uninstallCa(pki.rootCa.certPem, CA_FILE, { root })
    t.same(await calls(), ['update-ca-trust extract', 'update-ca-trust extract'])
  }
})

t.test('Alpine uses the Debian layout; without os-release the tool that exists decides', async (t) => {
  const pki = await getTestPki()
  const alpine = await fakeRoot(t, { osRelease: ALPINE, tool: { dir: 'usr/sbin', name: 'update-ca-certificates' } })
  t.equal((await detectOsTrustStore(CA_FILE, { root: alpine.root })).anchorDir, join(alpine.root, 'usr/local/share/ca-certificates'))

  const bare = await fakeRoot(t, { tool: { dir: 'usr/bin', name: 'update-ca-trust' } })
  const installed = await installCa(pki.rootCa.certPem, CA_FILE, { root: bare.root })
  t.equal(installed.store.family, 'rhel')
})

t.test('unsupported systems get DSM_TRUST_UNSUPPORTED with the manual steps', async (t) => {
  const pki = await getTestPki()
  const { root } = await fakeRoot(t, { osRelease: 'ID=plan9\nPRETTY_NAME="Plan 9"\n' })
  await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root }), {
    code: 'DSM_TRUST_UNSUPPORTED',
    message: /trust store of Plan 9 by itself\. Copy '\/data\/ca\/ca\.pem' into your system's CA anchor directory.*eval "\$\(dsmirror trust env\)"/
  })
  await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root, platform: 'darwin' }), {
    code: 'DSM_TRUST_UNSUPPORTED',
    message: /macOS .*sudo security add-trusted-cert -d -r trustRoot -k \/Library\/Keychains\/System\.keychain '\/data\/ca\/ca\.pem'/
  })
  await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root, platform: 'win32' }), {
    code: 'DSM_TRUST_UNSUPPORTED',
    message: /Windows .*certutil -addstore -f Root/
  })
})

t.test('a known family without its tool, and a tool that fails, are DSM_TRUST_TOOL', async (t) => {
  const pki = await getTestPki()
  const missing = await fakeRoot(t, { osRelease: DEBIAN })
  await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root: missing.root }), {
    code: 'DSM_TRUST_TOOL',
    message: /'update-ca-certificates' is not installed on Debian GNU\/Linux 12 \(bookworm\)\. Install it \(apt-get install ca-certificates/
  })
  const failing = await fakeRoot(t, { osRelease: DEBIAN, tool: { dir: 'usr/sbin', name: 'update-ca-certificates', exit: 3, stderr: 'E: cannot rehash' } })
  await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root: failing.root }), {
    code: 'DSM_TRUST_TOOL',
    message: /update-ca-certificates' failed \(exit code 3: E: cannot rehash\)/
  })
})

t.test('without root, install fails with DSM_TRUST_PERMISSION naming sudo', async (t) => {
  const pki = await getTestPki()
  const { root } = await fakeRoot(t, { osRelease: DEBIAN, tool: { dir: 'usr/sbin', name: 'update-ca-certificates' } })
  const anchors = join(root, 'usr/local/share/ca-certificates')
  await mkdir(anchors, { recursive: true })
  await chmod(root, 0o755)
  await chmod(anchors, 0o755)
  if (process.getuid?.() !== 0) {
    await chmod(anchors, 0o555)
    t.teardown(() => chmod(anchors, 0o755))
    await t.rejects(installCa(pki.rootCa.certPem, CA_FILE, { root }), { code: 'DSM_TRUST_PERMISSION', message: /Run: sudo dsmirror trust install/ })
    return
  }
  // Root may write anywhere, so the non-root case runs in a child as 'nobody' (uid 65534).
  const here = dirname(fileURLToPath(import.meta.url))
  const script = [
    `import { installCa } from ${JSON.stringify(join(here, '../../certs/trust-store.ts'))}`,
    `installCa(${JSON.stringify(pki.rootCa.certPem)}, '/data/ca/ca.pem', { root: ${JSON.stringify(root)} })`,
    '  .then(() => console.log("installed"), (err) => console.log(err.code + " " + err.message))'
  ].join('\n')
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      cwd: join(here, '../..'),
      env: childEnv({ HOME: '/tmp' }),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let text = ''
    child.stdout.on('data', (c: Buffer) => { text += c.toString() })
    child.stderr.on('data', (c: Buffer) => { text += c.toString() })
    child.on('error', reject)
    child.on('close', () => { resolve(text) })
  })
  t.match(out, /^DSM_TRUST_PERMISSION Changing the system trust store needs root: '.*dsmirror-[0-9a-f]{8}\.crt' \(EACCES\)\. Run: sudo dsmirror trust install/m)
  t.same(await readdir(anchors), [], 'nothing was written')
})

t.test('trust env: the bundle is the OS roots plus the local CA', async (t) => {
  const pki = await getTestPki()
  const { root } = await fakeRoot(t, {})
  const dataDir = join(root, 'data')
  await mkdir(join(root, 'etc/ssl/certs'), { recursive: true })
  const osRoots = rootCertificates.slice(0, 3).join('\n') + '\n'
  await writeFile(join(root, 'etc/ssl/certs/ca-certificates.crt'), osRoots)

  const written = await writeTrustBundle(pki.rootCa.certPem, dataDir, { root })
  t.equal(written.path, join(dataDir, 'trust-bundle.pem'))
  t.equal(written.rootsFrom, join(root, 'etc/ssl/certs/ca-certificates.crt'))
  const text = await readFile(written.path, 'utf8')
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  t.equal(certs.length, 4, 'three OS roots and the local CA')
  t.equal(new X509Certificate(certs[3] ?? '').fingerprint256, new X509Certificate(pki.rootCa.certPem).fingerprint256)
  t.match(text, /# dsmirror local CA: CN=dsmirror test root \(SHA-256 [0-9A-F:]+\)/)

  // No OS bundle at all: Node's public roots stand in, so other sites keep working.
  const bare = await writeTrustBundle(pki.rootCa.certPem, join(root, 'data2'), { root, systemBundlePaths: ['/nowhere/bundle.crt'] })
  t.equal(bare.rootsFrom, 'node')
  t.equal(((await readFile(bare.path, 'utf8')).match(/BEGIN CERTIFICATE/g) ?? []).length, rootCertificates.length + 1)
})

t.test('trust env: the lines for sh, fish and PowerShell', async (t) => {
  t.equal(formatTrustEnv('/d/trust-bundle.pem', 'sh'), [
    "export SSL_CERT_FILE='/d/trust-bundle.pem'",
    "export REQUESTS_CA_BUNDLE='/d/trust-bundle.pem'",
    "export CURL_CA_BUNDLE='/d/trust-bundle.pem'",
    "export NODE_EXTRA_CA_CERTS='/d/trust-bundle.pem'"
  ].join('\n') + '\n')
  t.match(formatTrustEnv('/d/trust-bundle.pem', 'fish'), /^set -gx SSL_CERT_FILE '\/d\/trust-bundle\.pem'$/m)
  t.match(formatTrustEnv("/it's/b.pem", 'powershell'), /^\$env:CURL_CA_BUNDLE = '\/it''s\/b\.pem'$/m)
  // A path with a quote and a dollar survives a real sh unchanged.
  const tricky = "/tmp/it's $HOME/b.pem"
  const { stdout } = await execFileAsync('sh', ['-c', `${formatTrustEnv(tricky, 'sh')}printf %s "$NODE_EXTRA_CA_CERTS"`])
  t.equal(stdout, tricky)
})

t.test('os-release parsing', async (t) => {
  t.same(parseOsRelease('ID="rocky"\nID_LIKE=\'rhel centos\'\n# comment\nPRETTY_NAME="A \\"B\\""\n'), { ID: 'rocky', ID_LIKE: 'rhel centos', PRETTY_NAME: 'A "B"' })
})
