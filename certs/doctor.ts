// `dsmirror doctor`: connects to an upstream the way the proxy would (managed CA bundle, the same
// egress proxy rules) and explains the outcome in words a person can act on: the chain the
// server sent, the cause of a failure, and the exact config line or command that fixes it
// (docs/design.md "Trust").
//
// Trust is decided by exactly one connection: a node:tls handshake against the managed bundle
// with rejectUnauthorized left on, the same verification the upstream client does. Only when
// that connection fails on a certificate is a second connection opened, to READ the chain the
// server sends for display and for telling the causes apart; its result never turns a failure
// into a pass.
import { X509Certificate } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import net, { isIP, isIPv6 } from 'node:net'
import tls, { type PeerCertificate, type DetailedPeerCertificate } from 'node:tls'
import { envProxyFor, schemeProxy } from '../config/egress-proxy.js'
import type { DsmirrorConfig } from '../config/schema.js'

/** At most this many upstreams are checked in one run (the default presets list about 45). */
export const DOCTOR_MAX_TARGETS = 32
/** Upstreams checked at the same time. */
export const DOCTOR_CONCURRENCY = 8
/** Longest chain walked; real chains have 2-4 certificates. */
const MAX_CHAIN_LENGTH = 10
const DAY_MS = 24 * 60 * 60 * 1000

export interface DoctorTarget {
  /** The name checked against the certificate and sent as SNI. */
  host: string
  port: number
  /**
   * Connect to this address instead of resolving `host` (like curl's --connect-to): a test
   * points a public-looking name at a 127.0.0.1 server without ever resolving that name.
   */
  connectTo?: { host: string; port: number }
  /** Where the target came from, for the report: 'allowHosts', 'mirror pytorch', 'argument'. */
  origin?: string
}

export interface DoctorOptions {
  /** The managed bundle (certs/ca-bundle.ts): the whole trust store, as the upstream client uses it. */
  ca: readonly string[]
  /** upstream.proxy: 'env', 'none' or a proxy URL. */
  proxy: string
  /** Environment for proxy 'env' (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
  env?: Readonly<Record<string, string | undefined>>
  /** Limit for each phase (DNS, connect, proxy tunnel, TLS handshake). */
  timeoutMs: number
  /** The configured upstream.caFiles, so a fix can show the whole line to write. */
  caFiles?: readonly string[]
  /** Public roots for the interception hint; default Node's built-in roots. */
  publicRoots?: readonly string[]
  now?: () => Date
}

export type DoctorCause =
  | 'ok'
  | 'unknown-issuer'
  | 'self-signed'
  | 'missing-intermediate'
  | 'expired'
  | 'not-yet-valid'
  | 'hostname-mismatch'
  | 'invalid-chain'
  | 'tls-handshake'
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'proxy'
  | 'connect'

export interface ChainCertificate {
  subject: string
  issuer: string
  /** ISO 8601. */
  validFrom: string
  validTo: string
  fingerprint256: string
  /** Subject equals issuer (a root, or a self-signed server certificate). */
  selfIssued: boolean
  /** In the managed bundle. */
  trusted: boolean
  /** Among Node's public roots. */
  publicRoot: boolean
  /** 'DNS:a, IP Address:1.2.3.4', when present. */
  subjectAltName?: string
  /** Where the issuer's certificate can be downloaded (Authority Information Access), when present. */
  caIssuersUrl?: string
}

export interface DoctorResult {
  target: DoctorTarget
  ok: boolean
  cause: DoctorCause
  /** One line: what happened. */
  title: string
  /** Plain-words explanation, one sentence per entry. */
  explanation: string[]
  /** Config lines or commands that fix it; empty when ok. */
  fix: string[]
  /** The chain the server sent (leaf first); a trusted root from the bundle may end it. */
  chain: ChainCertificate[]
  /** Node's / OpenSSL's code and message, for reference. */
  detail?: string
  /** The chain ends in a root that is not public while the name is: a TLS-intercepting proxy is likely. */
  interception?: boolean
  /** The egress proxy the connection went through. */
  via?: string
}

export interface DoctorReport {
  results: DoctorResult[]
  /** Targets not checked because of DOCTOR_MAX_TARGETS. */
  skipped: DoctorTarget[]
  /** allowHosts patterns (*.suffix) that name no single host to check. */
  patterns: string[]
  ok: boolean
}

/** Checks every target (at most DOCTOR_MAX_TARGETS, DOCTOR_CONCURRENCY at a time). */
export async function runDoctor (targets: readonly DoctorTarget[], opts: DoctorOptions, extra: { patterns?: string[] } = {}): Promise<DoctorReport> {
  const checked = targets.slice(0, DOCTOR_MAX_TARGETS)
  const results: DoctorResult[] = new Array<DoctorResult>(checked.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < checked.length) {
      const index = next++
      const target = checked[index]
      if (target !== undefined) results[index] = await checkUpstream(target, opts)
    }
  }
  await Promise.all(Array.from({ length: Math.min(DOCTOR_CONCURRENCY, checked.length) }, worker))
  return { results, skipped: targets.slice(DOCTOR_MAX_TARGETS), patterns: extra.patterns ?? [], ok: results.every((r) => r.ok) }
}

/** Connects to one upstream with the managed bundle and explains the result. */
export async function checkUpstream (target: DoctorTarget, opts: DoctorOptions): Promise<DoctorResult> {
  const proxy = proxyFor(target, opts)
  const via = proxy === undefined ? {} : { via: redactProxy(proxy) }
  let socket: net.Socket
  try {
    socket = await openTransport(target, proxy, opts)
  } catch (err: unknown) {
    return { ...explainTransportFailure(target, proxy, err, opts), ...via }
  }

  const verified = await handshake(socket, target, opts, { verify: true })
  if (verified.error === undefined) {
    const chain = verified.chain === undefined ? [] : describeChain(verified.chain, opts)
    return {
      target,
      ok: true,
      cause: 'ok',
      title: `TLS verified: the certificate for '${target.host}' chains to ${chain.at(-1)?.subject.split('\n').join(', ') ?? 'a trusted root'}`,
      explanation: [],
      fix: [],
      chain,
      ...via
    }
  }

  const code = errorCode(verified.error)
  if (!CERTIFICATE_CODES.has(code)) {
    return { ...explainHandshakeFailure(target, verified.error, code), ...via }
  }
  // The certificate was rejected. Read what the server sends, for display only (see the header).
  let shown: DetailedPeerCertificate | undefined
  try {
    const displaySocket = await openTransport(target, proxy, opts)
    shown = (await handshake(displaySocket, target, opts, { verify: false })).chain
  } catch {
    // The chain stays unknown; the cause below still comes from the verifying connection.
  }
  const chain = shown === undefined ? [] : describeChain(shown, opts)
  return { ...explainCertificateFailure(target, code, verified.error, chain, opts), ...via }
}

/**
 * What `dsmirror doctor` checks without an argument: every exact name in allowHosts (with its
 * port) and every mirror's host. `*.suffix` patterns name no single host; they are returned
 * apart so the report can say they were not checked.
 */
export function targetsFromConfig (config: Pick<DsmirrorConfig, 'allowHosts' | 'mirrors'>): { targets: DoctorTarget[]; patterns: string[] } {
  const targets: DoctorTarget[] = []
  const seen = new Set<string>()
  const add = (target: DoctorTarget): void => {
    const key = hostPort(target)
    if (seen.has(key)) return
    seen.add(key)
    targets.push(target)
  }
  for (const [name, mirror] of Object.entries(config.mirrors)) {
    const url = new URL(mirror.url)
    if (url.protocol === 'https:') add({ ...hostAndPort(url), origin: `mirror ${name}` })
  }
  const patterns: string[] = []
  for (const entry of config.allowHosts) {
    if (entry.startsWith('*.')) {
      patterns.push(entry)
      continue
    }
    const url = new URL(`https://${entry}`)
    add({ ...hostAndPort(url), origin: 'allowHosts' })
  }
  return { targets, patterns }
}

/**
 * The one target named on the command line: a URL (https://host[:port]/...), host[:port], or the
 * name of a configured mirror.
 */
export function parseDoctorTarget (arg: string, config: Pick<DsmirrorConfig, 'mirrors'>): DoctorTarget | undefined {
  const text = arg.trim()
  const mirror = config.mirrors[text]
  if (mirror !== undefined) return { ...hostAndPort(new URL(mirror.url)), origin: `mirror ${text}` }
  const candidate = text.includes('://') ? text : `https://${text}`
  if (!URL.canParse(candidate)) return undefined
  const url = new URL(candidate)
  if (url.protocol !== 'https:' || url.hostname === '') return undefined
  return { ...hostAndPort(url), origin: 'argument' }
}

function hostAndPort (url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port !== '' ? url.port : 443) }
}

// ---------------------------------------------------------------------------------------------
// Transport: DNS, TCP, CONNECT tunnel.

class PhaseError extends Error {
  readonly phase: 'dns' | 'connect' | 'proxy' | 'tunnel'
  readonly code: string
  constructor (phase: PhaseError['phase'], code: string, message: string) {
    super(message)
    this.phase = phase
    this.code = code
  }
}

async function openTransport (target: DoctorTarget, proxy: URL | undefined, opts: DoctorOptions): Promise<net.Socket> {
  if (proxy !== undefined) return await openTunnel(proxy, target, opts)
  const destination = target.connectTo ?? { host: target.host, port: target.port }
  let address = destination.host
  if (isIP(address) === 0) {
    try {
      address = (await withTimeout(lookup(address), opts.timeoutMs, 'ETIMEOUT')).address
    } catch (err: unknown) {
      throw new PhaseError('dns', errorCode(err), err instanceof Error ? err.message : String(err))
    }
  }
  try {
    return await connectTcp(address, destination.port, opts.timeoutMs)
  } catch (err: unknown) {
    throw new PhaseError('connect', errorCode(err), `${address}:${destination.port}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

async function connectTcp (host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return await new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

/** Opens an HTTP CONNECT tunnel to the target through `proxy` (http:// or https://). */
async function openTunnel (proxy: URL, target: DoctorTarget, opts: DoctorOptions): Promise<net.Socket> {
  const proxyPort = Number(proxy.port !== '' ? proxy.port : proxy.protocol === 'https:' ? 443 : 80)
  let socket: net.Socket
  try {
    const tcp = await connectTcp(proxy.hostname.replace(/^\[(.*)\]$/, '$1'), proxyPort, opts.timeoutMs)
    socket = proxy.protocol === 'https:' ? await tlsToProxy(tcp, proxy, opts) : tcp
  } catch (err: unknown) {
    throw new PhaseError('proxy', errorCode(err), err instanceof Error ? err.message : String(err))
  }
  // The tunnel goes to the name, not to connectTo: the proxy resolves it, as it does for the upstream client.
  const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`]
  if (proxy.username !== '') {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}`)
  }
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  const head = await new Promise<string>((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(() => { done(new PhaseError('tunnel', 'ETIMEDOUT', `the proxy did not answer CONNECT within ${opts.timeoutMs} ms`)) }, opts.timeoutMs)
    const done = (err?: Error, text?: string): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      if (err !== undefined) {
        socket.destroy()
        reject(err)
      } else {
        resolve(text ?? '')
      }
    }
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) return
      // Nothing follows the CONNECT answer before our ClientHello; anything that did is kept.
      const rest = buffered.subarray(end + 4)
      if (rest.length > 0) socket.unshift(rest)
      done(undefined, buffered.subarray(0, end).toString('latin1'))
    }
    const onError = (err: Error): void => { done(new PhaseError('tunnel', errorCode(err), err.message)) }
    const onClose = (): void => { done(new PhaseError('tunnel', 'ECONNRESET', 'the proxy closed the connection without answering CONNECT')) }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
  const status = /^HTTP\/1\.[01] (\d{3})(.*)$/.exec(head.split('\r\n')[0] ?? '')
  if (status === null || !(status[1] ?? '').startsWith('2')) {
    socket.destroy()
    throw new PhaseError('tunnel', status?.[1] ?? 'BAD_ANSWER', `the proxy answered CONNECT ${authority} with '${(head.split('\r\n')[0] ?? '').trim()}'`)
  }
  return socket
}

async function tlsToProxy (tcp: net.Socket, proxy: URL, opts: DoctorOptions): Promise<net.Socket> {
  return await new Promise<net.Socket>((resolve, reject) => {
    const host = proxy.hostname.replace(/^\[(.*)\]$/, '$1')
    const socket = tls.connect({ socket: tcp, host, ...(isIP(host) === 0 ? { servername: host } : {}), ca: [...opts.ca] })
    socket.once('secureConnect', () => {
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

// ---------------------------------------------------------------------------------------------
// TLS handshake.

interface HandshakeResult {
  chain?: DetailedPeerCertificate
  error?: Error
}

async function handshake (raw: net.Socket, target: DoctorTarget, opts: DoctorOptions, { verify }: { verify: boolean }): Promise<HandshakeResult> {
  return await new Promise<HandshakeResult>((resolve) => {
    const socket = tls.connect({
      socket: raw,
      // checkServerIdentity compares against `host`; SNI is sent only for names (RFC 6066 §3).
      host: target.host,
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
      ca: [...opts.ca],
      // The verifying connection keeps Node's default. The display connection (verify false)
      // only reads the certificates the server sends; its outcome is never reported as trust.
      rejectUnauthorized: verify
    })
    const timer = setTimeout(() => {
      finish({ error: Object.assign(new Error(`the TLS handshake did not finish within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }) })
    }, opts.timeoutMs)
    let settled = false
    const finish = (result: HandshakeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      raw.destroy()
      resolve(result)
    }
    socket.once('secureConnect', () => {
      const chain = socket.getPeerCertificate(true)
      finish(verify ? { chain } : { chain, ...(socket.authorized ? {} : { error: new Error(String(socket.authorizationError)) }) })
    })
    socket.on('error', (err) => { finish({ error: err }) })
  })
}

/** Codes that mean "the certificate was rejected", as opposed to a broken handshake. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
  'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNSPECIFIED',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY'
])
const ISSUER_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_UNTRUSTED'
])

// ---------------------------------------------------------------------------------------------
// The chain.

function describeChain (leaf: DetailedPeerCertificate | PeerCertificate, opts: DoctorOptions): ChainCertificate[] {
  const trusted = fingerprints(opts.ca)
  const publicRoots = fingerprints(opts.publicRoots ?? tls.rootCertificates)
  const out: ChainCertificate[] = []
  let current: DetailedPeerCertificate | PeerCertificate | undefined = leaf
  while (current?.raw !== undefined && out.length < MAX_CHAIN_LENGTH) {
    const cert = new X509Certificate(current.raw)
    if (out.some((c) => c.fingerprint256 === cert.fingerprint256)) break
    const caIssuersUrl = /CA Issuers - URI:(\S+)/.exec(cert.infoAccess ?? '')?.[1]
    out.push({
      subject: cert.subject,
      issuer: cert.issuer,
      validFrom: new Date(cert.validFrom).toISOString(),
      validTo: new Date(cert.validTo).toISOString(),
      fingerprint256: cert.fingerprint256,
      selfIssued: cert.subject === cert.issuer,
      trusted: trusted.has(cert.fingerprint256),
      publicRoot: publicRoots.has(cert.fingerprint256),
      ...(cert.subjectAltName === undefined ? {} : { subjectAltName: cert.subjectAltName }),
      ...(caIssuersUrl === undefined ? {} : { caIssuersUrl })
    })
    current = 'issuerCertificate' in current ? current.issuerCertificate : undefined
  }
  return out
}

const fingerprintCache = new WeakMap<readonly string[], Set<string>>()

function fingerprints (pems: readonly string[]): Set<string> {
  let set = fingerprintCache.get(pems)
  if (set === undefined) {
    set = new Set<string>()
    for (const pem of pems) {
      try {
        set.add(new X509Certificate(pem).fingerprint256)
      } catch {
        // A certificate Node cannot parse cannot be matched either.
      }
    }
    fingerprintCache.set(pems, set)
  }
  return set
}

function subjectsOf (pems: readonly string[]): Set<string> {
  const set = new Set<string>()
  for (const pem of pems) {
    try {
      set.add(new X509Certificate(pem).subject)
    } catch {}
  }
  return set
}

// ---------------------------------------------------------------------------------------------
// Explanations.

/** Products whose TLS inspection roots are common on corporate machines, as their names appear in issuers. */
const INTERCEPTION_PRODUCTS = [
  'Zscaler', 'Netskope', 'Palo Alto', 'Fortinet', 'FortiGate', 'Blue Coat', 'Symantec Web', 'Cisco Umbrella',
  'Forcepoint', 'Sophos', 'Check Point', 'Barracuda', 'McAfee Web Gateway', 'Skyhigh', 'iboss', 'Menlo',
  'Kaspersky', 'Avast', 'AVG', 'ESET', 'Bitdefender', 'mitmproxy', 'Charles Proxy', 'DO_NOT_TRUST_FiddlerRoot',
  'Squid', 'Cloudflare Gateway', 'Microsoft Defender'
]

/** Names only private networks use (RFC 6761, RFC 8375, common internal suffixes). */
const PRIVATE_SUFFIXES = ['localhost', 'local', 'internal', 'intranet', 'corp', 'home', 'lan', 'test', 'example', 'invalid', 'home.arpa', 'localdomain']

/** A name the public web PKI issues for: a dotted DNS name outside private-use suffixes. */
export function isPublicName (host: string): boolean {
  if (isIP(host) !== 0 || !host.includes('.')) return false
  const name = host.toLowerCase().replace(/\.$/, '')
  return !PRIVATE_SUFFIXES.some((suffix) => name === suffix || name.endsWith('.' + suffix))
}

function oneLine (dn: string): string {
  return dn.split('\n').join(', ')
}

function cn (dn: string): string {
  const match = /(?:^|\n)CN=([^\n]*)/.exec(dn)
  return match?.[1] ?? oneLine(dn)
}

function hostPort (target: DoctorTarget): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
}

function caFilesFix (opts: DoctorOptions, file: string): string {
  const files = [...(opts.caFiles ?? []), file]
  return `upstream:\n  caFiles: [${files.join(', ')}]`
}

// A running `dsmirror serve` watches caFiles (certs/bundle-reload.ts), so no restart is needed.
const RELOAD_HINT = 'A running dsmirror serve picks up the changed caFiles by itself. Check again with: dsmirror doctor <host>'

function explainCertificateFailure (target: DoctorTarget, code: string, error: Error, chain: ChainCertificate[], opts: DoctorOptions): Omit<DoctorResult, 'via'> {
  const base = { target, ok: false, chain, detail: `${code}: ${error.message}` }
  const now = (opts.now ?? (() => new Date()))()
  const leaf = chain[0]
  const name = target.host

  if (code === 'CERT_HAS_EXPIRED') {
    const expired = chain.find((c) => Date.parse(c.validTo) < now.getTime()) ?? leaf
    const when = expired === undefined ? 'in the past' : `on ${expired.validTo} (${Math.max(1, Math.round((now.getTime() - Date.parse(expired.validTo)) / DAY_MS))} day(s) ago)`
    return {
      ...base,
      cause: 'expired',
      title: `the certificate ${expired === undefined ? '' : `'${cn(expired.subject)}' `}expired ${when}`,
      explanation: [
        `'${name}' presents a certificate that is no longer valid: it expired ${when}.`,
        `This machine's clock says ${now.toISOString()}; if that is wrong, fix the clock instead (timedatectl set-ntp true).`
      ],
      fix: [`Ask the operator of '${name}' to renew the certificate. dsmirror never skips the check.`]
    }
  }
  if (code === 'CERT_NOT_YET_VALID') {
    const early = chain.find((c) => Date.parse(c.validFrom) > now.getTime()) ?? leaf
    const from = early?.validFrom ?? 'a later date'
    return {
      ...base,
      cause: 'not-yet-valid',
      title: `the certificate ${early === undefined ? '' : `'${cn(early.subject)}' `}is not valid yet (valid from ${from})`,
      explanation: [
        `'${name}' presents a certificate that is only valid from ${from}, and this machine's clock says ${now.toISOString()}.`,
        'Either this machine\'s clock is behind, or the server installed a certificate dated in the future.'
      ],
      fix: [
        'Check this machine\'s clock: timedatectl (enable time sync with: timedatectl set-ntp true).',
        `If the clock is right, ask the operator of '${name}' to install a currently valid certificate.`
      ]
    }
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = leaf?.subjectAltName ?? 'no names at all'
    return {
      ...base,
      cause: 'hostname-mismatch',
      title: `hostname mismatch: the certificate is for ${names}, not '${name}'`,
      explanation: [
        `The certificate verified, but it was issued for ${names}, and '${name}' is not one of them.`,
        'A certificate for another name proves nothing about this one, so the connection is refused.'
      ],
      fix: [
        'If you reach this server under one of the names above, use that name in allowHosts or the mirror URL.',
        `Otherwise ask the operator of '${name}' for a certificate that includes '${name}'.`
      ]
    }
  }
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return {
      ...base,
      cause: 'self-signed',
      title: `the server's certificate is self-signed ('${leaf === undefined ? name : cn(leaf.subject)}')`,
      explanation: [
        `'${name}' presents a certificate that it signed itself, so no CA vouches for it.`,
        ...(leaf === undefined ? [] : [`Its SHA-256 fingerprint is ${leaf.fingerprint256}; compare it with the one the server's operator gives you.`])
      ],
      fix: [
        `If you trust this server, save its certificate (openssl s_client -connect ${hostPort(target)} -servername ${name} </dev/null | openssl x509 > /path/to/${name}.pem) and add it:`,
        caFilesFix(opts, `/path/to/${name}.pem`),
        RELOAD_HINT
      ]
    }
  }
  if (ISSUER_CODES.has(code) && leaf !== undefined) {
    return explainIssuer(target, code, base, chain, opts)
  }
  return {
    ...base,
    cause: 'invalid-chain',
    title: `the certificate chain was rejected (${code})`,
    explanation: [
      `'${name}' sent a chain that does not verify against dsmirror's bundle: ${error.message}.`,
      code === 'UNSPECIFIED'
        ? 'This is often a name-constraint violation: the CA is not allowed to issue for this name.'
        : code === 'INVALID_PURPOSE'
          ? 'A certificate in it is used for something it is not allowed to do: a CA certificate served as the server certificate, or a leaf without the serverAuth purpose.'
          : 'The chain is malformed or uses a CA in a way it is not allowed to.'
    ],
    fix: [`Ask the operator of '${name}' to check the certificate chain (e.g. with: openssl s_client -connect ${hostPort(target)} -servername ${name} -showcerts).`]
  }
}

function explainIssuer (target: DoctorTarget, code: string, base: Pick<DoctorResult, 'target' | 'ok' | 'chain' | 'detail'>, chain: ChainCertificate[], opts: DoctorOptions): Omit<DoctorResult, 'via'> {
  const name = target.host
  const [leaf] = chain as [ChainCertificate, ...ChainCertificate[]]
  const trustedSubjects = subjectsOf(opts.ca)
  const leafIssuerSent = chain.slice(1).some((c) => c.subject === leaf.issuer)
  if (!leaf.selfIssued && !leafIssuerSent && !trustedSubjects.has(leaf.issuer)) {
    // The leaf's issuer is neither in what the server sent nor in the bundle: the classic
    // misconfigured server that sends only its leaf. Browsers hide it by fetching or caching
    // the intermediate; Node, Python and curl do not.
    const issuer = cn(leaf.issuer)
    return {
      ...base,
      cause: 'missing-intermediate',
      title: `missing intermediate: the server did not send '${issuer}', the CA that issued its certificate`,
      explanation: [
        `'${name}' sent its certificate without the intermediate CA certificate that issued it ('${oneLine(leaf.issuer)}'), and that CA is not in dsmirror's bundle.`,
        'Browsers often work anyway because they fetch or remember intermediates; Python, curl and Node do not.',
        ...(leaf.caIssuersUrl === undefined ? [] : [`The certificate says the missing intermediate can be downloaded from ${leaf.caIssuersUrl}.`]),
        `If '${issuer}' is your organisation's own CA or TLS-inspection proxy rather than an intermediate, add its root to upstream.caFiles instead.`
      ],
      fix: [
        `Ask the operator of '${name}' to send the intermediate certificate with the leaf (configure the full chain, e.g. fullchain.pem).`,
        `Until then, add that intermediate${leaf.caIssuersUrl === undefined ? '' : ` (from ${leaf.caIssuersUrl}; convert DER with: openssl x509 -inform der -in file.crt -out /path/to/intermediate.pem)`} to the bundle:`,
        caFilesFix(opts, '/path/to/intermediate.pem'),
        RELOAD_HINT
      ]
    }
  }
  const top = chain[chain.length - 1] ?? leaf
  const rootName = top.selfIssued ? top.subject : top.issuer
  const publicSubjects = subjectsOf(opts.publicRoots ?? tls.rootCertificates)
  const product = INTERCEPTION_PRODUCTS.find((p) => chain.some((c) => c.issuer.toLowerCase().includes(p.toLowerCase())))
  const interception = isPublicName(name) && !publicSubjects.has(rootName) && !top.publicRoot
  const root = cn(rootName)
  const explanation = [
    top.selfIssued
      ? `The chain ends in the root '${oneLine(rootName)}', which the server sent itself, and which dsmirror does not trust.`
      : `The chain ends in a certificate issued by '${oneLine(rootName)}', a CA that is not in dsmirror's bundle.`
  ]
  if (interception) {
    explanation.push(
      `'${name}' is a public name, but '${root}' is not one of the public roots its certificate would come from: ` +
      `a TLS-intercepting proxy (corporate firewall, antivirus${product === undefined ? '' : `; this one looks like ${product}`}) is most likely in the path, re-signing traffic with its own root.`,
      'That is normal on managed networks; trust that root explicitly rather than turning verification off.'
    )
  }
  if (top.selfIssued) explanation.push(`Its SHA-256 fingerprint is ${top.fingerprint256}; compare it with the one your IT department publishes before trusting it.`)
  return {
    ...base,
    cause: 'unknown-issuer',
    interception,
    title: interception
      ? `unknown issuer '${root}': a TLS-intercepting proxy is probably in the path`
      : `unknown issuer: the chain ends in '${root}', which is not trusted`,
    explanation,
    fix: [
      `Get the root certificate '${root}' as a PEM file (from your IT department, or: openssl s_client -connect ${hostPort(target)} -servername ${name} -showcerts </dev/null, last certificate) and add it:`,
      caFilesFix(opts, interception ? '/path/to/corporate-root.pem' : `/path/to/${safeFileName(root)}.pem`),
      RELOAD_HINT
    ]
  }
}

function safeFileName (text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'root-ca'
}

function explainHandshakeFailure (target: DoctorTarget, error: Error, code: string): Omit<DoctorResult, 'via'> {
  const base = { target, ok: false, chain: [], detail: `${code === '' ? '' : `${code}: `}${error.message}` }
  if (code === 'ETIMEDOUT') {
    return {
      ...base,
      cause: 'timeout',
      title: 'the TLS handshake did not finish in time',
      explanation: [`'${target.host}' accepted the connection but did not complete a TLS handshake: ${error.message}.`],
      fix: ['Check that the port speaks HTTPS; raise upstream.timeouts.connect if the host is just slow.']
    }
  }
  return {
    ...base,
    cause: 'tls-handshake',
    title: `the TLS handshake failed before any certificate was checked (${code === '' ? error.message : code})`,
    explanation: [
      `The connection to ${hostPort(target)} was opened, but no TLS session could be set up: ${error.message}.`,
      'The port may not speak TLS (a plain HTTP server?), the server may support no protocol or cipher in common, or a firewall cut the connection.'
    ],
    fix: [
      `Check that https://${hostPort(target)}/ is the right URL (port included) in allowHosts or the mirror URL.`,
      'If a firewall resets direct TLS connections, send egress through the proxy it expects:',
      'upstream:\n  proxy: http://egress.example:3128'
    ]
  }
}

function explainTransportFailure (target: DoctorTarget, proxy: URL | undefined, err: unknown, opts: DoctorOptions): Omit<DoctorResult, 'via'> {
  const phase = err instanceof PhaseError ? err.phase : 'connect'
  const code = errorCode(err)
  const message = err instanceof Error ? err.message : String(err)
  const base = { target, ok: false, chain: [], detail: `${code === '' ? '' : `${code}: `}${message}` }
  const proxyLine = 'upstream:\n  proxy: http://egress.example:3128'
  if (phase === 'proxy' || phase === 'tunnel') {
    const shown = proxy === undefined ? 'the egress proxy' : `the egress proxy ${redactProxy(proxy)}`
    const auth = code === '407'
    const fromEnv = opts.proxy === 'env'
    return {
      ...base,
      cause: 'proxy',
      title: phase === 'proxy' ? `could not reach ${shown} (${code})` : `${shown} refused the tunnel to ${hostPort(target)} (${code})`,
      explanation: phase === 'proxy'
        ? [`dsmirror sends egress for '${target.host}' through ${shown} (upstream.proxy: ${opts.proxy}${fromEnv ? ', read from HTTPS_PROXY / HTTP_PROXY' : ''}), and that proxy could not be reached: ${message}.`]
        : [
            `${shown} was reached, but ${message}.`,
            auth ? 'The proxy wants credentials.' : code === '502' || code === '504' ? 'The proxy itself could not reach the host (its DNS or its own egress failed).' : 'The proxy policy may not allow this host or port.'
          ],
      fix: phase === 'proxy'
        ? [
            fromEnv ? 'Fix HTTPS_PROXY / HTTP_PROXY (or NO_PROXY) in the environment of dsmirror, or name the proxy in the config:' : 'Fix the proxy address in the config:',
            proxyLine,
            'or, if this machine reaches the internet directly: upstream:\n  proxy: none'
          ]
        : auth
          ? ['Put the proxy credentials in the URL:', 'upstream:\n  proxy: http://user:password@egress.example:3128']
          : [`Ask the proxy's administrator to allow CONNECT to ${hostPort(target)}, and check the host name.`]
    }
  }
  if (phase === 'dns') {
    return {
      ...base,
      cause: 'dns',
      title: `DNS failure: '${target.host}' does not resolve (${code})`,
      explanation: [
        `The name '${target.host}' could not be turned into an address: ${message}.`,
        'Either the name is misspelt, or this machine has no DNS for outside names and must reach the internet through a proxy.'
      ],
      fix: [
        `Check the spelling of '${target.host}' in allowHosts / mirrors.`,
        'If egress goes through a proxy (names are then resolved by the proxy):',
        proxyLine
      ]
    }
  }
  const destination = target.connectTo ?? { host: target.host, port: target.port }
  const where = `${destination.host}:${destination.port}`
  if (code === 'ECONNREFUSED') {
    return {
      ...base,
      cause: 'refused',
      title: `connection refused by ${where}`,
      explanation: [`Nothing accepts connections at ${where} (ECONNREFUSED): the server is down, or the port is wrong.`],
      fix: [
        `Check the port of '${target.host}' in allowHosts or the mirror URL (HTTPS is 443 unless given).`,
        'If direct connections are blocked and egress needs a proxy:',
        proxyLine
      ]
    }
  }
  if (code === 'ETIMEDOUT' || code === 'ETIMEOUT') {
    return {
      ...base,
      cause: 'timeout',
      title: `timeout: no answer from ${where} within ${opts.timeoutMs} ms`,
      explanation: [`The connection to ${where} was not answered in time: a firewall probably drops direct traffic, or the host is down.`],
      fix: ['If egress must go through a proxy:', proxyLine, 'If the host is only slow, raise upstream.timeouts.connect.']
    }
  }
  return {
    ...base,
    cause: 'connect',
    title: `could not connect to ${where} (${code === '' ? message : code})`,
    explanation: [`The connection to ${where} failed: ${message}. There is no route to it from this machine.`],
    fix: ['Check the network; if egress must go through a proxy:', proxyLine]
  }
}

// ---------------------------------------------------------------------------------------------
// Proxy selection: the upstream client's rules (config/egress-proxy.ts).

function proxyFor (target: DoctorTarget, opts: DoctorOptions): URL | undefined {
  // connectTo names a fixed address; a proxy would resolve the name instead.
  if (target.connectTo !== undefined || opts.proxy === 'none') return undefined
  if (opts.proxy !== 'env') return new URL(opts.proxy)
  const origin = `https://${isIPv6(target.host) ? `[${target.host}]` : target.host}:${target.port}`
  const env = opts.env ?? {}
  // A name no URL can hold is no origin NO_PROXY could name: the proxy is asked, and says so.
  const value = URL.canParse(origin) ? envProxyFor(env, new URL(origin)) : schemeProxy(env, 'https:')
  if (value === '') return undefined
  return new URL(value.includes('://') ? value : `http://${value}`)
}

function redactProxy (proxy: URL): string {
  return `${proxy.protocol}//${proxy.username === '' ? '' : '***@'}${proxy.host}`
}

// ---------------------------------------------------------------------------------------------

function errorCode (err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return ''
}

async function withTimeout<T> (promise: Promise<T>, ms: number, code: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(Object.assign(new Error(`no answer within ${ms} ms`), { code })) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting.

/** The report as a person reads it: one block per upstream, chain, cause, fix. */
export function formatDoctorReport (report: DoctorReport): string {
  const lines: string[] = []
  for (const result of report.results) lines.push(...formatResult(result), '')
  const failed = report.results.filter((r) => !r.ok).length
  if (report.skipped.length > 0) {
    lines.push(`Checked the first ${report.results.length} upstreams; ${report.skipped.length} more were not checked (${report.skipped.map(hostPort).slice(0, 5).join(', ')}${report.skipped.length > 5 ? ', ...' : ''}). Check one with: dsmirror doctor <host>`)
  }
  if (report.patterns.length > 0) {
    lines.push(`Patterns in allowHosts name no single host and were not checked (${report.patterns.join(', ')}); check a host under them with: dsmirror doctor <host>`)
  }
  lines.push(failed === 0
    ? `All ${report.results.length} upstream(s) passed.`
    : `${failed} of ${report.results.length} upstream(s) failed.`)
  return lines.join('\n') + '\n'
}

function formatResult (result: DoctorResult): string[] {
  const origin = result.target.origin === undefined ? '' : ` (${result.target.origin})`
  const via = result.via === undefined ? '' : ` via ${result.via}`
  const lines = [`${result.ok ? 'PASS' : 'FAIL'} ${hostPort(result.target)}${origin}${via}: ${result.title}`]
  if (result.chain.length > 0) {
    lines.push('  Chain the server sent (leaf first):')
    result.chain.forEach((c, i) => {
      const notes = [
        c.selfIssued ? 'self-signed root' : undefined,
        c.trusted ? 'trusted by dsmirror' : 'not trusted by dsmirror',
        c.publicRoot ? 'public root' : undefined
      ].filter((n) => n !== undefined).join(', ')
      lines.push(`    [${i}] ${oneLine(c.subject)}  (${notes})`)
      lines.push(`        issuer:  ${oneLine(c.issuer)}`)
      lines.push(`        valid:   ${c.validFrom} to ${c.validTo}`)
      if (i === 0 && c.subjectAltName !== undefined) lines.push(`        names:   ${c.subjectAltName}`)
      if (c.selfIssued || !c.trusted) lines.push(`        sha256:  ${c.fingerprint256}`)
    })
  }
  if (result.explanation.length > 0) {
    lines.push('  Why:')
    for (const sentence of result.explanation) lines.push(`    ${sentence}`)
  }
  if (result.fix.length > 0) {
    lines.push('  Fix:')
    for (const step of result.fix) lines.push(...step.split('\n').map((l) => `    ${l}`))
  }
  if (!result.ok && result.detail !== undefined) lines.push(`  Detail: ${result.detail}`)
  return lines
}
