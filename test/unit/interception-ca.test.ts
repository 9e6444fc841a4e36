// certs/interception-ca.ts and certs/leaf-contexts.ts (issue 12 item 5): the interception CA is
// its own root in <dataDir>/interception-ca (dir 0700, key 0600), name-constrained to exactly the
// allowed hosts (`*.suffix` as `.suffix`, ports dropped) with every IP range excluded, reused
// while the allowed hosts are the same, and re-issued (old directory kept) when they change in
// either direction. Leaves: ECDSA P-256, SAN = the host only, lifetime as configured, cached per
// host (single-flight), re-minted after 2/3 of their life by the injected clock. The constraints
// are proved by real handshakes: a leaf the CA signs for another name or an IP fails to verify.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { excludedIpRangesOf, interceptionCaPaths, interceptionNamesFor, isInterceptable, loadOrCreateInterceptionCa, NO_NAME_PERMITTED } from '../../certs/interception-ca.js'
import { LeafContexts } from '../../certs/leaf-contexts.js'
import { issueLeaf, type KeyPairPem } from '../../certs/local-ca.js'
import { handshake } from '../helpers/tls-probe.js'

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS
const ALLOW = ['download.pytorch.org', '*.hf.example:443', 'mirror.corp:8443', '10.0.0.5', '[::1]:8443', 'Data.Example.']

async function freshDataDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-interception-ca-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('permitted names: hosts without ports, *.suffix as .suffix, no IPs, sorted', async (t) => {
  t.same(interceptionNamesFor(ALLOW), ['.hf.example', 'data.example', 'download.pytorch.org', 'mirror.corp'])
  t.same(interceptionNamesFor(['10.0.0.5', '[::1]']), [NO_NAME_PERMITTED], 'no host name allowed: a name that never resolves, not an empty (= unconstrained) list')
  const permitted = interceptionNamesFor(ALLOW)
  t.ok(isInterceptable('download.pytorch.org', permitted))
  t.ok(isInterceptable('cdn.hf.example', permitted))
  t.notOk(isInterceptable('hf.example', permitted), 'the bare suffix of *.suffix is not allowed')
  t.notOk(isInterceptable('evil.example', permitted))
  t.notOk(isInterceptable('10.0.0.5', permitted), 'never an IP')
})

t.test('made once with safe modes, constrained to exactly the allowed hosts, IPs excluded, reused', async (t) => {
  const dataDir = await freshDataDir(t)
  const first = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ALLOW, minValidityMs: DAY_MS })
  t.equal(first.created, true)
  const paths = interceptionCaPaths(dataDir)
  t.equal((await stat(paths.dir)).mode & 0o777, 0o700, 'directory 0700')
  t.equal((await stat(paths.keyFile)).mode & 0o777, 0o600, 'key 0600')
  t.equal((await stat(paths.certFile)).mode & 0o777, 0o644, 'certificate 0644')
  t.same(first.ca.permittedNames, interceptionNamesFor(ALLOW))
  t.same(excludedIpRangesOf(first.ca.certPem), ['0.0.0.0/0', '::/0'])
  t.match(first.ca.cert.subject, /^CN=dsmirror interception CA \d{4}-\d\d-\d\d/)
  t.ok(first.ca.cert.ca, 'a CA certificate')
  t.equal(first.ca.cert.checkIssued(first.ca.cert), true, 'a self-signed root, not under the serving CA')
  t.same(await readdir(dataDir), ['interception-ca'])

  const again = await loadOrCreateInterceptionCa({ dataDir, allowHosts: [...ALLOW].reverse(), minValidityMs: DAY_MS })
  t.equal(again.created, false, 'the same hosts in another order: the same CA')
  t.equal(again.ca.cert.fingerprint256, first.ca.cert.fingerprint256)
})

t.test('re-issued when the allowed hosts grow, shrink, or the CA would expire', async (t) => {
  const dataDir = await freshDataDir(t)
  let now = Date.now()
  const clock = (): number => now
  const first = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['a.example'], minValidityMs: DAY_MS, now: clock })
  const grown = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['a.example', 'b.example'], minValidityMs: DAY_MS, now: clock })
  t.equal(grown.created, true, 'grown: new CA')
  t.not(grown.ca.cert.fingerprint256, first.ca.cert.fingerprint256)
  t.same(grown.ca.permittedNames, ['a.example', 'b.example'])
  t.ok(grown.retiredDir !== undefined && (await stat(grown.retiredDir)).isDirectory(), 'the old CA directory is kept')

  now += 1000
  const shrunk = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['b.example'], minValidityMs: DAY_MS, now: clock })
  t.equal(shrunk.created, true, 'shrunk: a CA that could still sign for a.example would vouch for more than allowed')
  t.same(shrunk.ca.permittedNames, ['b.example'])

  const expiresAt = Date.parse(shrunk.ca.cert.validTo)
  now = expiresAt - HOUR_MS
  const ending = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['b.example'], minValidityMs: DAY_MS, now: clock })
  t.equal(ending.created, true, 'a CA ending before the next leaf is replaced')
  t.equal((await readdir(dataDir)).filter((name) => name.startsWith('interception-ca.retired-')).length, 3)
})

/** A TLS server presenting `leaf`; a client trusting only `ca` connects to it as `servername`. */
async function verifies (t: Test, leaf: KeyPairPem, ca: string, servername: string | undefined): Promise<string> {
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => { resolve() })))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  try {
    const socket = await handshake({
      host: '127.0.0.1',
      port: address.port,
      ca,
      ...(servername === undefined ? {} : { servername }),
      // The name under test, not the address dialled (the CONNECT host is what a client checks).
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername ?? '127.0.0.1', cert)
    })
    socket.destroy()
    return 'ok'
  } catch (err: unknown) {
    // Node has no code of its own for name-constraint failures (UNSPECIFIED): the message names them.
    return `${(err as NodeJS.ErrnoException).code ?? ''}: ${(err as Error).message}`
  }
}

t.test('leaves: P-256, SAN = the host, configured lifetime; verified under the constraints, refused outside them', async (t) => {
  const dataDir = await freshDataDir(t)
  const { ca } = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['data.example', '*.hf.example'], minValidityMs: DAY_MS })
  const start = Date.now()
  const minted: string[] = []
  const leaves = new LeafContexts({ issuer: ca, lifetimeMs: 24 * HOUR_MS, now: () => start, onMint: (host) => minted.push(host) })
  const leaf = await leaves.get('cdn.hf.example')
  const cert = new X509Certificate(leaf.certPem)
  t.equal(cert.subjectAltName, 'DNS:cdn.hf.example', 'SAN = the CONNECT host only')
  t.equal(cert.publicKey.asymmetricKeyType, 'ec')
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'ECDSA P-256')
  t.equal(Date.parse(cert.validTo), Math.floor((start + 24 * HOUR_MS) / 1000) * 1000, 'lifetime = forwardProxy.leafLifetime')
  t.equal(Date.parse(cert.validFrom), Math.floor((start - 60_000) / 1000) * 1000, 'notBefore back-dated a minute')
  t.ok(cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey), 'signed by the interception CA')
  t.not(leaf.keyPem, ca.keyPem)

  t.equal(await verifies(t, leaf, ca.certPem, 'cdn.hf.example'), 'ok', 'a minted leaf verifies against the interception CA')
  t.equal(await verifies(t, (await leaves.get('data.example')), ca.certPem, 'data.example'), 'ok')
  // Negative TLS paths: the CA's key signing for what it must not vouch for (made by the test).
  const evil = await issueLeaf({ issuer: ca, names: ['evil.example'], lifetimeMs: DAY_MS })
  t.match(await verifies(t, evil, ca.certPem, 'evil.example'), /permitted subtree violation/, 'a leaf for another name is refused')
  const bare = await issueLeaf({ issuer: ca, names: ['hf.example'], lifetimeMs: DAY_MS })
  t.match(await verifies(t, bare, ca.certPem, 'hf.example'), /permitted subtree violation/, 'the bare suffix of *.hf.example is refused')
  const ip = await issueLeaf({ issuer: ca, names: ['127.0.0.1'], lifetimeMs: DAY_MS })
  t.match(await verifies(t, ip, ca.certPem, undefined), /excluded subtree violation/, 'a leaf for an IP address is refused')
  const other = await loadOrCreateInterceptionCa({ dataDir: await freshDataDir(t), allowHosts: ['data.example'], minValidityMs: DAY_MS })
  t.match(await verifies(t, leaf, other.ca.certPem, 'cdn.hf.example'), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER/, 'another interception CA does not vouch for it')
  t.same(minted, ['cdn.hf.example', 'data.example'])
})

t.test('leaf cache: one mint per host at a time, re-minted after 2/3 of the lifetime, LRU-bounded', async (t) => {
  const dataDir = await freshDataDir(t)
  const { ca } = await loadOrCreateInterceptionCa({ dataDir, allowHosts: ['*.example.test'], minValidityMs: DAY_MS })
  let now = Date.now()
  const leaves = new LeafContexts({ issuer: ca, lifetimeMs: 3 * HOUR_MS, maxEntries: 2, now: () => now })
  const concurrent = await Promise.all(Array.from({ length: 20 }, async () => await leaves.get('a.example.test')))
  t.equal(leaves.minted, 1, '20 concurrent first CONNECTs mint once')
  t.ok(concurrent.every((leaf) => leaf === concurrent[0]), 'and share the context')
  now += 2 * HOUR_MS - 1
  t.equal(await leaves.get('a.example.test'), concurrent[0], 'reused until 2/3 of its lifetime')
  now += 1
  const renewed = await leaves.get('a.example.test')
  t.not(renewed, concurrent[0], 're-minted after')
  t.equal(leaves.minted, 2)
  await leaves.get('b.example.test')
  await leaves.get('c.example.test')
  t.equal(leaves.minted, 4)
  await leaves.get('a.example.test')
  t.equal(leaves.minted, 5, 'the least recently used host was dropped (maxEntries 2)')
})
