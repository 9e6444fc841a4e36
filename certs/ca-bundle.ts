// The managed upstream CA bundle (docs/design.md "Trust"). Node's `ca` option REPLACES the built-in
// roots instead of adding to them, so a bundle that only held an operator's corporate CA would
// break every public upstream. The bundle is therefore Node's roots + the OS bundle (when
// `systemStore`) + every certificate in `upstream.caFiles`, each parsed, expired ones reported
// and left out, duplicates dropped. It is written to <dataDir>/upstream-ca.pem for inspection
// (and for `dsmirror doctor`), with a comment naming each certificate's source.
import { X509Certificate } from 'node:crypto'
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { rootCertificates } from 'node:tls'
import writeFileAtomic from 'write-file-atomic'
import { CaFileInvalidError } from './errors.js'

export interface CaBundleEntry {
  /** 'node' (Node's built-in roots), the OS bundle's path, or the caFiles file it came from. */
  source: string
  subject: string
  issuer: string
  /** ISO 8601. */
  notAfter: string
  fingerprint256: string
  status: 'added' | 'duplicate' | 'expired'
}

export interface CaBundle {
  /** Every added certificate, concatenated: usable as node:tls `ca` or written as a file. */
  pem: string
  /** The added certificates, one PEM each (also usable as `ca`). */
  certificates: string[]
  /** Every certificate seen, in order, with what happened to it. */
  entries: CaBundleEntry[]
}

export interface BuildCaBundleOptions {
  /** Files or directories (whose *.pem / *.crt / *.cer files are read) of extra CAs. */
  caFiles: string[]
  /** Include the first OS bundle found in `systemBundlePaths`. */
  systemStore: boolean
  systemBundlePaths?: readonly string[]
  /**
   * The public roots the bundle starts from; Node's own (`tls.rootCertificates`) unless a test
   * passes generated ones, since real roots expire on dates no test should depend on (issue 8).
   */
  builtinRoots?: readonly string[]
  now?: Date
}

/**
 * Where operating systems keep their PEM bundle, most common first; the first that exists wins.
 * The same list Go's crypto/x509 searches (root_linux.go, root_bsd.go).
 */
export const SYSTEM_BUNDLE_PATHS: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo, Arch, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7+
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/ssl/cert.pem', // Alpine, macOS, OpenBSD
  '/usr/local/etc/ssl/cert.pem', // FreeBSD
  '/usr/local/share/certs/ca-root-nss.crt', // DragonFly
  '/etc/openssl/certs/ca-certificates.crt' // NetBSD
]

export const CA_BUNDLE_FILE_NAME = 'upstream-ca.pem'

const CA_FILE_EXTENSIONS = new Set(['.pem', '.crt', '.cer'])
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

interface Parsed {
  source: string
  cert: X509Certificate
}

/** Builds the bundle; throws CaFileInvalidError (DSM_CERT_CA_FILE) for an unusable caFiles entry. */
export async function buildCaBundle (opts: BuildCaBundleOptions): Promise<CaBundle> {
  const parsed: Parsed[] = []
  for (const pem of opts.builtinRoots ?? rootCertificates) {
    parsed.push({ source: 'node', cert: new X509Certificate(pem) })
  }
  if (opts.systemStore) {
    parsed.push(...await readSystemBundle(opts.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS))
  }
  for (const entry of opts.caFiles) {
    parsed.push(...await readCaFilesEntry(entry))
  }

  const now = (opts.now ?? new Date()).getTime()
  const seen = new Set<string>()
  const certificates: string[] = []
  const entries: CaBundleEntry[] = []
  for (const { source, cert } of parsed) {
    const notAfter = new Date(cert.validTo)
    let status: CaBundleEntry['status']
    if (notAfter.getTime() < now) {
      status = 'expired'
    } else if (seen.has(cert.fingerprint256)) {
      status = 'duplicate'
    } else {
      status = 'added'
      seen.add(cert.fingerprint256)
      certificates.push(normalizePem(cert.toString()))
    }
    entries.push({
      source,
      subject: cert.subject,
      issuer: cert.issuer,
      notAfter: notAfter.toISOString(),
      fingerprint256: cert.fingerprint256,
      status
    })
  }
  return { pem: certificates.join(''), certificates, entries }
}

/**
 * Writes <dataDir>/upstream-ca.pem atomically (write-file-atomic: temp file, fsync, rename), mode 0644: it holds
 * only public certificates and other tools may read it. Each certificate is preceded by a
 * comment line with its subject and source; PEM readers (OpenSSL, Node, Python) skip text
 * outside the BEGIN/END lines.
 */
export async function writeCaBundle (bundle: CaBundle, dataDir: string): Promise<string> {
  await mkdir(dataDir, { recursive: true })
  const target = join(dataDir, CA_BUNDLE_FILE_NAME)
  const added = bundle.entries.filter((e) => e.status === 'added')
  const text = bundle.certificates
    .map((pem, i) => {
      const entry = added[i]
      return entry === undefined ? pem : `# ${oneLine(entry.subject)} (from ${entry.source})\n${pem}`
    })
    .join('')
  // write-file-atomic chmods explicitly, so the umask cannot make the bundle unreadable to other tools.
  await writeFileAtomic(target, text, { mode: 0o644, fsync: true })
  return target
}

async function readSystemBundle (paths: readonly string[]): Promise<Parsed[]> {
  for (const path of paths) {
    let data: Buffer
    try {
      data = await readFile(path)
    } catch {
      // Absent on this OS (or not readable): try the next location.
      continue
    }
    // The OS bundle is not the operator's file: a certificate Node cannot parse is skipped rather
    // than stopping the proxy.
    return parseCertificates(data, path, { strict: false })
  }
  return []
}

async function readCaFilesEntry (entry: string): Promise<Parsed[]> {
  let isDirectory: boolean
  try {
    isDirectory = (await stat(entry)).isDirectory()
  } catch (err: unknown) {
    throw new CaFileInvalidError(entry, describeFsError(err))
  }
  if (!isDirectory) return await readCaFile(entry)

  let names: string[]
  try {
    names = await readdir(entry)
  } catch (err: unknown) {
    throw new CaFileInvalidError(entry, describeFsError(err))
  }
  const files = names.filter((n) => CA_FILE_EXTENSIONS.has(extname(n).toLowerCase())).sort()
  if (files.length === 0) {
    throw new CaFileInvalidError(entry, `the directory has no ${[...CA_FILE_EXTENSIONS].join(' / ')} files`)
  }
  const out: Parsed[] = []
  for (const name of files) out.push(...await readCaFile(join(entry, name)))
  return out
}

async function readCaFile (path: string): Promise<Parsed[]> {
  let data: Buffer
  try {
    data = await readFile(path)
  } catch (err: unknown) {
    throw new CaFileInvalidError(path, describeFsError(err))
  }
  const parsed = parseCertificates(data, path, { strict: true })
  if (parsed.length === 0) throw new CaFileInvalidError(path, 'it contains no certificate')
  return parsed
}

/**
 * Every certificate in a PEM file; a file without PEM blocks is tried as one DER certificate,
 * the other common form of a .crt/.cer handed out by corporate IT.
 */
function parseCertificates (data: Buffer, source: string, { strict }: { strict: boolean }): Parsed[] {
  const blocks = data.toString('latin1').match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    try {
      return [{ source, cert: new X509Certificate(data) }]
    } catch {
      return []
    }
  }
  const out: Parsed[] = []
  blocks.forEach((block, i) => {
    try {
      out.push({ source, cert: new X509Certificate(block) })
    } catch (err: unknown) {
      if (strict) throw new CaFileInvalidError(source, `certificate #${i + 1} cannot be parsed: ${err instanceof Error ? err.message : String(err)}`)
    }
  })
  return out
}

function describeFsError (err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return 'it does not exist'
    if (code === 'EACCES' || code === 'EPERM') return 'it is not readable by this user'
    return code === undefined ? err.message : `${code}: ${err.message}`
  }
  return String(err)
}

function normalizePem (pem: string): string {
  return pem.endsWith('\n') ? pem : pem + '\n'
}

function oneLine (text: string): string {
  return text.split('\n').join(', ')
}
