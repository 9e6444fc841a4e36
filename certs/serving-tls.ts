// The certificate and key the HTTPS listener serves, kept current while it runs:
//   auto   a leaf for tls.hostnames from the local CA, renewed at RENEW_AT_FRACTION of its life
//   files  the operator's pair, reloaded when the files change
// Each new pair is announced with a 'change' event (the listener calls setSecureContext); a
// replacement that cannot be used is announced with 'rejected' and the old pair keeps serving.
import { EventEmitter } from 'node:events'
import { X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'
import type { DsmirrorConfig } from '../config/schema.js'
import { ConfigInvalidError } from '../config/errors.js'
import { NoCaCertificateError } from './errors.js'
import { issueLeaf } from './local-ca.js'
import { loadOrCreateLocalCa, readLocalCaCertificate, writeServedLeaf, type LocalCa } from './local-ca-store.js'
import { loadTlsFiles, readCertificateChain, watchTlsFiles, type TlsFiles, type TlsFilesWatcher } from './tls-files.js'

/** A leaf is renewed when this much of its lifetime has passed. */
export const RENEW_AT_FRACTION = 2 / 3
/**
 * Shortest tls.leafLifetime a served leaf may have. Renewal runs at 2/3 of the lifetime, and a
 * client whose clock runs a little ahead would see a leaf of seconds as expired. Tests inject less.
 */
export const MIN_LEAF_LIFETIME_MS = 60 * 60 * 1000
/** Files replaced one after the other within this window load as one pair. */
export const RELOAD_DEBOUNCE_MS = 500
/** After a failed renewal, try again this soon (or sooner, if the leaf expires sooner). */
export const RENEW_RETRY_MS = 60_000
/**
 * A local CA this close to its end is announced at start and at each renewal, so operators can
 * plan the moment clients must trust its successor (dsmirror replaces it by itself once fewer
 * than tls.leafLifetime remain).
 */
export const CA_EXPIRY_WARNING_MS = 30 * 24 * 60 * 60 * 1000
/** setTimeout fires at once beyond 2^31-1 ms (24.8 days), so longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** What node:tls needs: the chain (server certificate first) and its key, PEM. */
export interface ServedPair {
  cert: string
  key: string
}

export interface ServingTlsEvents {
  change: [pair: ServedPair]
  rejected: [err: unknown]
}

export interface ServingTlsOptions {
  log: Logger
  now?: () => number
  /** Default MIN_LEAF_LIFETIME_MS. */
  minLeafLifetimeMs?: number
  /** Default RELOAD_DEBOUNCE_MS. */
  reloadDebounceMs?: number
}

export interface ServingTls extends EventEmitter<ServingTlsEvents> {
  readonly mode: 'auto' | 'files'
  current: () => ServedPair
  /** The served certificate's facts, for the start log line. */
  describe: () => Record<string, unknown>
  close: () => void
}

/** Builds the serving TLS for tls.mode auto or files; null for off. Throws DSM_CERT_* for a bad pair. */
export async function createServingTls (config: DsmirrorConfig, opts: ServingTlsOptions): Promise<ServingTls | null> {
  if (config.tls.mode === 'off') return null
  if (config.tls.mode === 'files') {
    const { certFile, keyFile } = config.tls
    // The config schema refuses files mode without both; this keeps the types honest.
    if (certFile === null || keyFile === null) throw new ConfigInvalidError('  - tls: mode files needs certFile and keyFile.')
    return new FilesTls({ certFile, keyFile }, await loadTlsFiles({ certFile, keyFile }), opts)
  }
  const minLifetime = opts.minLeafLifetimeMs ?? MIN_LEAF_LIFETIME_MS
  if (config.tls.leafLifetime < minLifetime) {
    throw new ConfigInvalidError(`  - tls.leafLifetime: ${config.tls.leafLifetime}ms is too short for a served certificate. Use at least ${minLifetime / 60_000}m (7d is the default).`)
  }
  const now = opts.now ?? Date.now
  const { ca } = await loadOrCreateLocalCa({
    dataDir: config.dataDir,
    hostnames: config.tls.hostnames,
    minValidityMs: config.tls.leafLifetime,
    log: opts.log,
    now
  })
  const auto = new AutoLeafTls(ca, config, opts.log, now)
  await auto.renew()
  return auto
}

class AutoLeafTls extends EventEmitter<ServingTlsEvents> implements ServingTls {
  readonly mode = 'auto'
  private pair: ServedPair | undefined
  private leaf: X509Certificate | undefined
  private timer: NodeJS.Timeout | undefined
  private renewsAt: number | undefined
  private closed = false

  constructor (private ca: LocalCa, private readonly config: DsmirrorConfig, private readonly log: Logger, private readonly now: () => number) {
    super()
  }

  current (): ServedPair {
    if (this.pair === undefined) throw new Error('AutoLeafTls: no leaf issued yet')
    return this.pair
  }

  describe (): Record<string, unknown> {
    return {
      mode: this.mode,
      caFile: this.ca.paths.certFile,
      caFingerprint: this.ca.cert.fingerprint256,
      names: this.config.tls.hostnames,
      leafExpires: this.leaf === undefined ? undefined : new Date(this.leaf.validTo).toISOString(),
      renewsAt: this.renewsAt === undefined ? undefined : new Date(this.renewsAt).toISOString()
    }
  }

  /** Issues a leaf, serves it (complete chain: leaf + CA) and schedules the next renewal. */
  async renew (): Promise<void> {
    const issuedAt = this.now()
    const lifetime = this.config.tls.leafLifetime
    await this.replaceCaIfEnding(issuedAt, lifetime)
    const leaf = await issueLeaf({ issuer: this.ca, names: this.config.tls.hostnames, lifetimeMs: lifetime, now: new Date(issuedAt) })
    if (this.closed) return
    const pair = { cert: leaf.certPem + this.ca.certPem, key: leaf.keyPem }
    await writeServedLeaf(this.config.dataDir, pair.cert)
    const first = this.pair === undefined
    this.pair = pair
    this.leaf = new X509Certificate(leaf.certPem)
    this.log.info({ serial: this.leaf.serialNumber, names: this.config.tls.hostnames, expires: new Date(this.leaf.validTo).toISOString() }, first ? 'issued the TLS leaf' : 'renewed the TLS leaf')
    if (!first) this.emit('change', pair)
    // From the notAfter actually written: X.509 times have whole seconds, so a leaf of seconds
    // (tests) ends up to a second earlier than asked.
    this.scheduleAt(issuedAt + Math.round((Date.parse(this.leaf.validTo) - issuedAt) * RENEW_AT_FRACTION))
  }

  /**
   * A server that runs for years outlives its 10-year CA: a leaf issued by a CA that ends before
   * the leaf does is refused by clients, so the CA is replaced (the old one kept, as at start)
   * before such a leaf is issued, and its approach is announced a month ahead (issue 8).
   */
  private async replaceCaIfEnding (at: number, leafLifetimeMs: number): Promise<void> {
    const caEnds = Date.parse(this.ca.cert.validTo)
    if (caEnds < at + leafLifetimeMs) {
      const { ca } = await loadOrCreateLocalCa({
        dataDir: this.config.dataDir,
        hostnames: this.config.tls.hostnames,
        minValidityMs: leafLifetimeMs,
        log: this.log,
        now: () => at
      })
      this.ca = ca
    } else if (caEnds < at + CA_EXPIRY_WARNING_MS) {
      this.log.warn({ caFingerprint: this.ca.cert.fingerprint256, caExpires: new Date(caEnds).toISOString(), replacedFrom: new Date(caEnds - leafLifetimeMs).toISOString() },
        'the local CA expires soon; dsmirror makes a new one when less than tls.leafLifetime remains, and clients must then trust the new one (fetch /_/ca.pem, or dsmirror trust install)')
    }
  }

  close (): void {
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.renewsAt = undefined
    this.removeAllListeners()
  }

  private scheduleAt (when: number): void {
    if (this.closed) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.renewsAt = when
    this.timer = setTimeout(() => {
      this.timer = undefined
      // A chained wait for a long lifetime, or a clock that moved: not yet time.
      if (this.now() < when) {
        this.scheduleAt(when)
        return
      }
      this.renew().catch((err: unknown) => {
        const expires = this.leaf === undefined ? this.now() : Date.parse(this.leaf.validTo)
        const retryIn = Math.max(100, Math.min(RENEW_RETRY_MS, (expires - this.now()) / 4))
        this.log.error({ err, retryInMs: retryIn }, 'renewing the TLS leaf failed; the current one keeps serving')
        this.emit('rejected', err)
        this.scheduleAt(this.now() + retryIn)
      })
    }, Math.min(MAX_TIMER_MS, Math.max(0, when - this.now())))
    // A renewal timer never keeps the process alive on its own.
    this.timer.unref()
  }
}

class FilesTls extends EventEmitter<ServingTlsEvents> implements ServingTls {
  readonly mode = 'files'
  private files: TlsFiles
  private readonly watcher: TlsFilesWatcher

  constructor (private readonly paths: { certFile: string, keyFile: string }, files: TlsFiles, opts: ServingTlsOptions) {
    super()
    this.files = files
    warnIfExpired(files, opts.log)
    this.watcher = watchTlsFiles({
      ...paths,
      debounceMs: opts.reloadDebounceMs ?? RELOAD_DEBOUNCE_MS,
      onLoad: (next) => {
        this.files = next
        opts.log.info(this.describe(), 'reloaded tls.certFile and tls.keyFile')
        warnIfExpired(next, opts.log)
        this.emit('change', this.current())
      },
      onError: (err) => {
        // Often the first half of a replace (new cert, old key): the second event reloads again.
        opts.log.warn({ err: { code: (err as { code?: unknown }).code, message: err instanceof Error ? err.message : String(err) } }, 'changed TLS files not loaded; the previous certificate keeps serving')
        this.emit('rejected', err)
      }
    }, files)
  }

  current (): ServedPair {
    return { cert: this.files.certPem, key: this.files.keyPem }
  }

  describe (): Record<string, unknown> {
    const [leaf] = this.files.chain
    return {
      mode: this.mode,
      certFile: this.paths.certFile,
      subject: leaf?.subject,
      issuer: leaf?.issuer,
      fingerprint: leaf?.fingerprint256,
      expires: leaf === undefined ? undefined : new Date(leaf.validTo).toISOString()
    }
  }

  close (): void {
    this.watcher.close()
    this.removeAllListeners()
  }
}

function warnIfExpired (files: TlsFiles, log: Logger): void {
  const [leaf] = files.chain
  if (leaf !== undefined && Date.parse(leaf.validTo) < Date.now()) {
    log.warn({ subject: leaf.subject, expired: new Date(leaf.validTo).toISOString() }, 'the certificate in tls.certFile has expired: clients will refuse it until it is replaced')
  }
}

/**
 * The CA certificate `/_/ca.pem` offers, PEM, read fresh so a rotated CA or replaced files show:
 * auto, the local CA; files, the last certificate of certFile when it is a CA. Never a key.
 * Throws DSM_CERT_NO_CA (404) when there is none.
 */
export async function readServedCaPem (config: DsmirrorConfig): Promise<string> {
  if (config.tls.mode === 'off') throw new NoCaCertificateError('tls.mode is off, so dsmirror serves no HTTPS and has no CA. Set tls.mode to auto for a local CA.')
  if (config.tls.mode === 'auto') {
    const ca = await readLocalCaCertificate(config.dataDir)
    // No dataDir in the message: it is served to clients (issue 12 item 12).
    if (ca === null) throw new NoCaCertificateError('no local CA has been made yet. It is made when dsmirror serves HTTPS (listen.https on, tls.mode auto).')
    return ca.certPem
  }
  const chain = config.tls.certFile === null ? [] : await readCertificateChain(config.tls.certFile)
  const last = chain.at(-1)
  if (last === undefined || !last.ca) {
    throw new NoCaCertificateError('tls.mode is files and tls.certFile does not end with a CA certificate. Clients verify this server with the CA that issued its certificate (e.g. the corporate root); get it from that PKI.')
  }
  return last.toString()
}
