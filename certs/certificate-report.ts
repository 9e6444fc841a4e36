// What `dsmirror certs show` prints: the certificates the HTTPS listener serves, read from disk
// without starting anything. auto: the local CA (fingerprint, validity, permitted names) and the
// leaf the running server last issued; files: each certificate of tls.certFile, and whether
// tls.keyFile belongs to it. Never a key.
import type { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import ms from 'ms'
import type { DsmirrorConfig, TlsMode } from '../config/schema.js'
import { localCaPaths, readLocalCaCertificate } from './local-ca-store.js'
import { loadTlsFiles, parseCertificates, readCertificateChain } from './tls-files.js'

export interface CertificateFacts {
  subject: string
  issuer: string
  /** SHA-256 fingerprint, colon-separated hex (as browsers and `openssl x509 -fingerprint -sha256` show it). */
  sha256: string
  serial: string
  notBefore: string
  notAfter: string
  /** SubjectAltName DNS names and IPs. */
  names: string[]
  ca: boolean
}

export interface CertificateReport {
  mode: TlsMode
  /** The HTTPS address, or false when listen.https is off. */
  https: string | false
  /** auto: the local CA, null when none has been made yet. */
  ca?: (CertificateFacts & { file: string, keyFile: string, permittedNames: string[] | null }) | null
  /** auto: the leaf last served, null when none yet. */
  leaf?: (CertificateFacts & { file: string }) | null
  /** files: certFile's certificates, server certificate first. */
  chain?: CertificateFacts[]
  certFile?: string | null
  keyFile?: string | null
  /** What is wrong (a DSM_CERT_* code and its message); empty when all is usable. */
  problems: string[]
}

export async function reportServingCertificates (config: DsmirrorConfig): Promise<CertificateReport> {
  const https = config.listen.https === false ? false : `${config.listen.https.host}:${config.listen.https.port}`
  const report: CertificateReport = { mode: config.tls.mode, https, problems: [] }
  try {
    if (config.tls.mode === 'auto') await reportAuto(config, report)
    if (config.tls.mode === 'files') await reportFiles(config, report)
  } catch (err: unknown) {
    report.problems.push(describe(err))
  }
  return report
}

async function reportAuto (config: DsmirrorConfig, report: CertificateReport): Promise<void> {
  const paths = localCaPaths(config.dataDir)
  report.ca = null
  report.leaf = null
  const ca = await readLocalCaCertificate(config.dataDir)
  if (ca === null) return
  report.ca = { ...facts(ca.cert), file: paths.certFile, keyFile: paths.keyFile, permittedNames: ca.permittedNames }
  let leafText: string
  try {
    leafText = await readFile(paths.leafFile, 'utf8')
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  const [leaf] = parseCertificates(leafText, paths.leafFile)
  if (leaf !== undefined) report.leaf = { ...facts(leaf), file: paths.leafFile }
}

async function reportFiles (config: DsmirrorConfig, report: CertificateReport): Promise<void> {
  const { certFile, keyFile } = config.tls
  report.certFile = certFile
  report.keyFile = keyFile
  if (certFile === null || keyFile === null) return
  try {
    await loadTlsFiles({ certFile, keyFile })
  } catch (err: unknown) {
    report.problems.push(describe(err))
  }
  report.chain = (await readCertificateChain(certFile)).map(facts)
}

export function facts (cert: X509Certificate): CertificateFacts {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    sha256: cert.fingerprint256,
    serial: cert.serialNumber,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    names: altNames(cert.subjectAltName),
    ca: cert.ca
  }
}

/** The report as lines a person reads. */
export function formatCertificateReport (report: CertificateReport, now = Date.now()): string {
  const lines = [`tls.mode: ${report.mode}`, `HTTPS listener: ${report.https === false ? 'off (listen.https is false)' : report.https}`]
  if (report.mode === 'off') lines.push('dsmirror serves no HTTPS (tls.mode is off).')
  if (report.ca === null) lines.push('local CA: none yet; dsmirror serve makes it when the HTTPS listener starts.')
  if (report.ca !== undefined && report.ca !== null) {
    lines.push(`local CA: ${report.ca.file} (key: ${report.ca.keyFile}, never served)`,
      ...block(report.ca, now),
      `  permitted:  ${report.ca.permittedNames === null ? 'any name (no name constraints)' : report.ca.permittedNames.join(', ')}`)
  }
  if (report.ca !== null && report.ca !== undefined && report.leaf === null) lines.push('current leaf: none yet (no server has run with this CA).')
  if (report.leaf !== undefined && report.leaf !== null) lines.push(`current leaf: ${report.leaf.file}`, ...block(report.leaf, now))
  if (report.mode === 'files') {
    lines.push(`certFile: ${report.certFile ?? '(not set)'}`, `keyFile:  ${report.keyFile ?? '(not set)'}`)
    report.chain?.forEach((cert, index) => {
      lines.push(`certificate #${index + 1}${index === 0 ? ' (served)' : ''}${cert.ca ? ' (CA)' : ''}`, ...block(cert, now), `  issuer:     ${cert.issuer}`)
    })
  }
  for (const problem of report.problems) lines.push(`problem: ${problem}`)
  return lines.join('\n') + '\n'
}

function block (cert: CertificateFacts, now: number): string[] {
  const left = Date.parse(cert.notAfter) - now
  return [
    `  subject:    ${cert.subject}`,
    `  SHA-256:    ${cert.sha256}`,
    `  valid:      ${cert.notBefore} to ${cert.notAfter} (${left > 0 ? `expires in ${ms(left)}` : `EXPIRED ${ms(-left)} ago`})`,
    ...(cert.names.length > 0 ? [`  names:      ${cert.names.join(', ')}`] : [])
  ]
}

/** 'DNS:localhost, IP Address:0:0:0:0:0:0:0:1' -> ['localhost', '::1']. */
function altNames (san: string | undefined): string[] {
  if (san === undefined) return []
  return san.split(', ').flatMap((entry) => {
    const [type, ...rest] = entry.split(':')
    const value = rest.join(':')
    if (type === 'DNS') return [value]
    if (type === 'IP Address') return [isIP(value) === 6 ? new URL(`http://[${value}]/`).hostname.slice(1, -1) : value]
    return []
  })
}

function describe (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message
}
