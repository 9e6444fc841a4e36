// certs/serving-tls.ts, tls.mode auto: a server that runs past its local CA's end neither crashes
// nor serves a leaf that outlives its issuer. A month ahead it warns; when less than one leaf
// lifetime remains, the renewal replaces the CA (the old one kept as ca.retired-<time>) and the
// next leaf verifies against the new CA. The clock is injected, so this holds whatever today is
// (issue 8: the +4000-day run is past the 10-year CA's life).
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { LOCAL_CA_LIFETIME_MS, loadOrCreateLocalCa } from '../../certs/local-ca-store.js'
import { CA_EXPIRY_WARNING_MS, createServingTls, type ServedPair } from '../../certs/serving-tls.js'

const DAY_MS = 24 * 60 * 60 * 1000
const WARN = 40
const LEAF_LIFETIME_MS = 2_000

interface LogLine { level: number, msg: string, caExpires?: string }
function recordingLog (): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
  return Object.assign(log, { lines })
}

async function setUp (t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ dataDir: string, config: ReturnType<typeof parseConfig> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-ending-ca-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const config = parseConfig({ dataDir, tls: { mode: 'auto', leafLifetime: `${LEAF_LIFETIME_MS}ms` } }, { env: {}, cwd: dataDir })
  return { dataDir, config }
}

/** The chain's two certificates: the leaf, then the CA that issued it. */
function chainOf (pair: ServedPair): [X509Certificate, X509Certificate] {
  const pems = pair.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  const [leaf = '', ca = ''] = pems
  return [new X509Certificate(leaf), new X509Certificate(ca)]
}

t.test('a renewal that would outlive the CA replaces the CA first', async (t) => {
  const { dataDir, config } = await setUp(t)
  const createdAt = Date.UTC(2030, 0, 1)
  const old = await loadOrCreateLocalCa({ dataDir, hostnames: config.tls.hostnames, now: () => createdAt })
  // The server starts with 1.5 leaf lifetimes left on its CA: the first leaf fits, the renewal
  // (at 2/3 of the leaf's life) would not.
  const clock = Date.parse(old.ca.cert.validTo) - 1.5 * LEAF_LIFETIME_MS
  const started = Date.now()
  const now = (): number => clock + (Date.now() - started)
  const log = recordingLog()
  const tls = await createServingTls(config, { log, now, minLeafLifetimeMs: 0 })
  t.teardown(() => tls?.close())
  if (tls === null) throw new Error('tls.mode auto serves TLS')

  const [firstLeaf, firstCa] = chainOf(tls.current())
  t.equal(firstCa.fingerprint256, old.ca.cert.fingerprint256, 'the first leaf comes from the existing CA')
  t.ok(firstLeaf.verify(firstCa.publicKey))
  t.ok(log.lines.some((line) => line.level === WARN && /the local CA expires soon/.test(line.msg)), 'the approaching end is announced')

  // The renewal timer is unref'd (it never keeps a server alive), so this bounded wait is what
  // keeps the test's event loop running until it fires.
  const next = await new Promise<ServedPair>((resolve, reject) => {
    const bound = setTimeout(() => { reject(new Error('no renewal within 10 s')) }, 10_000)
    tls.once('change', (pair) => { clearTimeout(bound); resolve(pair) })
  })
  const [leaf, ca] = chainOf(next)
  t.not(ca.fingerprint256, old.ca.cert.fingerprint256, 'a new CA issued the renewed leaf')
  t.ok(leaf.verify(ca.publicKey), 'the renewed leaf verifies against the new CA')
  t.ok(Date.parse(leaf.validTo) <= Date.parse(ca.validTo), 'the leaf ends before its CA')
  t.ok(Date.parse(ca.validTo) - now() > LOCAL_CA_LIFETIME_MS - DAY_MS, 'the new CA has a full life ahead')
  const kept = (await readdir(dataDir)).filter((name) => name.startsWith('ca.retired-'))
  t.equal(kept.length, 1, 'the old CA is kept, never deleted')
  t.ok(log.lines.some((line) => line.level === WARN && /made a new local CA/.test(line.msg)), 'the replacement is logged as a warning')
})

t.test('a CA that has already ended at start is replaced, not a crash', async (t) => {
  const { dataDir, config } = await setUp(t)
  const old = await loadOrCreateLocalCa({ dataDir, hostnames: config.tls.hostnames, now: () => Date.UTC(2030, 0, 1) })
  const afterEnd = Date.parse(old.ca.cert.validTo) + DAY_MS
  const tls = await createServingTls(config, { log: recordingLog(), now: () => afterEnd, minLeafLifetimeMs: 0 })
  t.teardown(() => tls?.close())
  if (tls === null) throw new Error('tls.mode auto serves TLS')
  const [leaf, ca] = chainOf(tls.current())
  t.not(ca.fingerprint256, old.ca.cert.fingerprint256)
  t.ok(leaf.verify(ca.publicKey))
  t.ok(Date.parse(ca.validFrom) <= afterEnd && afterEnd < Date.parse(ca.validTo), 'valid at the injected clock')
})

t.test('a CA far from its end is reused without a warning', async (t) => {
  const { dataDir, config } = await setUp(t)
  const createdAt = Date.UTC(2030, 0, 1)
  const old = await loadOrCreateLocalCa({ dataDir, hostnames: config.tls.hostnames, now: () => createdAt })
  const log = recordingLog()
  const at = Date.parse(old.ca.cert.validTo) - CA_EXPIRY_WARNING_MS - DAY_MS
  const tls = await createServingTls(config, { log, now: () => at, minLeafLifetimeMs: 0 })
  t.teardown(() => tls?.close())
  if (tls === null) throw new Error('tls.mode auto serves TLS')
  t.equal(chainOf(tls.current())[1].fingerprint256, old.ca.cert.fingerprint256)
  t.notOk(log.lines.some((line) => line.level === WARN), 'no warning')
})
