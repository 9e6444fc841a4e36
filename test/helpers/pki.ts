// The per-run test PKI: certificates every TLS test shares, made once per process (keys are cheap
// with ECDSA P-256, but a dozen per test file adds up) and written as PEM files so a config can
// point `upstream.caFiles` at them. Nothing here is trusted by the OS: a test that wants a
// certificate to verify passes `ca: pki.rootCa.certPem` (or the file) explicitly.
//
//   rootCa            "dsmirror test root", no name constraints (so wrongNameLeaf fails on the
//                     hostname check, not on a constraint violation)
//   leaf              127.0.0.1, localhost, ::1 from rootCa: the default upstream certificate
//   wrongNameLeaf     wrong.example from rootCa: hostname mismatch (ERR_TLS_CERT_ALTNAME_INVALID)
//   expiredLeaf       127.0.0.1, localhost from rootCa, expired a day ago (CERT_HAS_EXPIRED)
//   notYetValidLeaf   127.0.0.1, localhost from rootCa, valid from tomorrow (CERT_NOT_YET_VALID)
//   intermediateCa    signed by rootCa
//   chainLeaf         127.0.0.1, localhost from intermediateCa; certPem is leaf + intermediate,
//                     as a correctly configured server sends it
//   chainLeafAlone    the same leaf and key without the intermediate (a misconfigured server:
//                     UNABLE_TO_VERIFY_LEAF_SIGNATURE for a client that trusts only rootCa)
//   otherCa           "dsmirror test corporate root": an untrusted CA, like a TLS-intercepting proxy
//   otherLeaf         127.0.0.1, localhost from otherCa
//
// The files live in os.tmpdir()/dsmirror-test-pki-<pid> and are removed when the process exits.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIntermediateCa, createRootCa, issueLeaf, type KeyPairPem } from '../../certs/local-ca.js'

export type { KeyPairPem }

const DAY_MS = 24 * 60 * 60 * 1000
const CA_LIFETIME_MS = 30 * DAY_MS
const LEAF_LIFETIME_MS = 7 * DAY_MS
/** Names the default test leaf answers to. */
export const TEST_LEAF_NAMES: readonly string[] = ['127.0.0.1', 'localhost', '::1']

export interface TestPkiFiles {
  /** The directory holding every file below. */
  dir: string
  rootCa: string
  otherCa: string
  intermediateCa: string
  leafCert: string
  leafKey: string
  otherLeafCert: string
  otherLeafKey: string
  wrongNameCert: string
  wrongNameKey: string
  expiredCert: string
  expiredKey: string
  notYetValidCert: string
  notYetValidKey: string
  chainLeafCert: string
  chainLeafKey: string
}

export interface TestPki {
  rootCa: KeyPairPem
  leaf: KeyPairPem
  wrongNameLeaf: KeyPairPem
  expiredLeaf: KeyPairPem
  notYetValidLeaf: KeyPairPem
  intermediateCa: KeyPairPem
  chainLeaf: KeyPairPem
  chainLeafAlone: KeyPairPem
  otherCa: KeyPairPem
  otherLeaf: KeyPairPem
  files: TestPkiFiles
}

let pending: Promise<TestPki> | undefined

/** The process-wide test PKI, created on first call. */
export async function getTestPki (): Promise<TestPki> {
  pending ??= createTestPki()
  return await pending
}

/**
 * Issues an extra leaf from the test root (or another issuer), for tests that need a name or a
 * validity window the shared set does not have.
 */
export async function issueTestLeaf (opts: { names: string[], issuer?: KeyPairPem, lifetimeMs?: number, now?: Date, notBefore?: Date }): Promise<KeyPairPem> {
  const pki = await getTestPki()
  return await issueLeaf({
    issuer: opts.issuer ?? pki.rootCa,
    names: opts.names,
    lifetimeMs: opts.lifetimeMs ?? LEAF_LIFETIME_MS,
    now: opts.now,
    notBefore: opts.notBefore
  })
}

async function createTestPki (): Promise<TestPki> {
  const now = Date.now()
  const hostNames = ['127.0.0.1', 'localhost']
  const rootCa = await createRootCa({ commonName: 'dsmirror test root', lifetimeMs: CA_LIFETIME_MS })
  const otherCa = await createRootCa({ commonName: 'dsmirror test corporate root', lifetimeMs: CA_LIFETIME_MS })
  const intermediateCa = await createIntermediateCa({ issuer: rootCa, commonName: 'dsmirror test intermediate', lifetimeMs: CA_LIFETIME_MS })
  const [leaf, wrongNameLeaf, expiredLeaf, notYetValidLeaf, chainLeafAlone, otherLeaf] = await Promise.all([
    issueLeaf({ issuer: rootCa, names: [...TEST_LEAF_NAMES], lifetimeMs: LEAF_LIFETIME_MS }),
    issueLeaf({ issuer: rootCa, names: ['wrong.example'], lifetimeMs: LEAF_LIFETIME_MS }),
    // Valid for one hour, ten days ago.
    issueLeaf({ issuer: rootCa, names: hostNames, lifetimeMs: 60 * 60 * 1000, now: new Date(now - 10 * DAY_MS) }),
    issueLeaf({ issuer: rootCa, names: hostNames, lifetimeMs: 2 * DAY_MS, notBefore: new Date(now + DAY_MS) }),
    issueLeaf({ issuer: intermediateCa, names: hostNames, lifetimeMs: LEAF_LIFETIME_MS }),
    issueLeaf({ issuer: otherCa, names: hostNames, lifetimeMs: LEAF_LIFETIME_MS })
  ])
  const chainLeaf = { certPem: chainLeafAlone.certPem + intermediateCa.certPem, keyPem: chainLeafAlone.keyPem }

  const dir = join(tmpdir(), `dsmirror-test-pki-${process.pid}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Synchronous on purpose: 'exit' handlers cannot wait for promises.
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })

  const write = (name: string, text: string, mode = 0o644): string => {
    const file = join(dir, name)
    writeFileSync(file, text, { mode })
    return file
  }
  const files: TestPkiFiles = {
    dir,
    rootCa: write('root-ca.pem', rootCa.certPem),
    otherCa: write('other-ca.pem', otherCa.certPem),
    intermediateCa: write('intermediate-ca.pem', intermediateCa.certPem),
    leafCert: write('leaf.pem', leaf.certPem),
    leafKey: write('leaf-key.pem', leaf.keyPem, 0o600),
    otherLeafCert: write('other-leaf.pem', otherLeaf.certPem),
    otherLeafKey: write('other-leaf-key.pem', otherLeaf.keyPem, 0o600),
    wrongNameCert: write('wrong-name.pem', wrongNameLeaf.certPem),
    wrongNameKey: write('wrong-name-key.pem', wrongNameLeaf.keyPem, 0o600),
    expiredCert: write('expired.pem', expiredLeaf.certPem),
    expiredKey: write('expired-key.pem', expiredLeaf.keyPem, 0o600),
    notYetValidCert: write('not-yet-valid.pem', notYetValidLeaf.certPem),
    notYetValidKey: write('not-yet-valid-key.pem', notYetValidLeaf.keyPem, 0o600),
    chainLeafCert: write('chain-leaf.pem', chainLeaf.certPem),
    chainLeafKey: write('chain-leaf-key.pem', chainLeaf.keyPem, 0o600)
  }
  return { rootCa, leaf, wrongNameLeaf, expiredLeaf, notYetValidLeaf, intermediateCa, chainLeaf, chainLeafAlone, otherCa, otherLeaf, files }
}
