// tls.mode: files — the operator's certificate chain and key (e.g. from the corporate PKI, which
// managed machines already trust). Loaded and checked at start (the key must belong to the first
// certificate), and watched: a replaced pair is loaded without a restart, a bad one is refused
// while the previous pair keeps serving.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { KeyMismatchError, TlsFileError } from './errors.js'

export interface TlsFilesOptions {
  certFile: string
  keyFile: string
}

export interface TlsFiles {
  /** The chain re-encoded from the certificates in certFile only (anything else there is dropped). */
  certPem: string
  keyPem: string
  /** certFile's certificates in order; the first is the server's own. */
  chain: X509Certificate[]
}

const PEM_CERTIFICATE_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Reads and checks a certificate/key pair; throws DSM_CERT_TLS_FILE or DSM_CERT_KEY_MISMATCH. */
export async function loadTlsFiles (opts: TlsFilesOptions): Promise<TlsFiles> {
  const [certText, keyPem] = await Promise.all([
    readText(opts.certFile, 'tls.certFile'),
    readText(opts.keyFile, 'tls.keyFile')
  ])
  const chain = parseCertificates(certText, opts.certFile)
  const [leaf] = chain
  if (leaf === undefined) {
    const hint = /PRIVATE KEY-----/.test(certText) ? ' (it holds a private key: are certFile and keyFile swapped?)' : ''
    throw new TlsFileError(`tls.certFile '${opts.certFile}'`, `no PEM certificate in it${hint}`)
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (err: unknown) {
    // Node's messages name the problem, never the key bytes.
    // PKCS#8 `ENCRYPTED PRIVATE KEY` or traditional `Proc-Type: 4,ENCRYPTED`: OpenSSL itself
    // only says the passphrase prompt was "interrupted or cancelled".
    const reason = /BEGIN ENCRYPTED PRIVATE KEY|Proc-Type:\s*4,ENCRYPTED/.test(keyPem)
      ? 'the key is encrypted; write it unencrypted with openssl pkey -in <keyFile> -out <new keyFile>'
      : /CERTIFICATE-----/.test(keyPem) && !/PRIVATE KEY-----/.test(keyPem)
        ? 'it holds a certificate, not a key: are certFile and keyFile swapped?'
        : `no usable private key: ${describe(err)}`
    throw new TlsFileError(`tls.keyFile '${opts.keyFile}'`, reason, { cause: err })
  }
  if (!leaf.checkPrivateKey(key)) {
    const other = chain.findIndex((cert) => cert.checkPrivateKey(key))
    const detail = other > 0 ? ` (it is the key of certificate #${other + 1} in that file: put the server certificate first)` : ''
    throw new KeyMismatchError(opts.keyFile, opts.certFile, detail)
  }
  return { certPem: chain.map((cert) => cert.toString()).join(''), keyPem, chain }
}

/** The CERTIFICATE blocks of a PEM file, parsed; throws DSM_CERT_TLS_FILE for one that does not parse. */
export function parseCertificates (text: string, file: string): X509Certificate[] {
  return [...text.matchAll(PEM_CERTIFICATE_RE)].map((match, index) => {
    try {
      return new X509Certificate(match[0])
    } catch (err: unknown) {
      throw new TlsFileError(`tls.certFile '${file}'`, `certificate #${index + 1} does not parse: ${describe(err)}`, { cause: err })
    }
  })
}

/** Reads certFile's chain alone (no key), for `/_/ca.pem` and `certs show`. */
export async function readCertificateChain (certFile: string): Promise<X509Certificate[]> {
  return parseCertificates(await readText(certFile, 'tls.certFile'), certFile)
}

export interface WatchTlsFilesOptions extends TlsFilesOptions {
  /** Events are gathered for this long, so a cert and a key replaced one after the other load as one pair. */
  debounceMs: number
  onLoad: (files: TlsFiles) => void
  onError: (err: unknown) => void
}

export interface TlsFilesWatcher {
  close: () => void
}

/**
 * Watches the directories holding certFile and keyFile, not the files: an atomic replace (write
 * a temp file, rename it over) and Kubernetes secret volumes (a `..data` symlink swapped) give
 * the file a new inode, which a watch on the old file never reports. Any event in the directory
 * leads to a reload; a pair identical to the last one loaded is ignored.
 */
export function watchTlsFiles (opts: WatchTlsFilesOptions, current: TlsFiles): TlsFilesWatcher {
  let last = current
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let loading = false
  let again = false
  const reload = async (): Promise<void> => {
    if (loading) {
      again = true
      return
    }
    loading = true
    try {
      const next = await loadTlsFiles(opts)
      if (!closed && (next.certPem !== last.certPem || next.keyPem !== last.keyPem)) {
        last = next
        opts.onLoad(next)
      }
    } catch (err: unknown) {
      if (!closed) opts.onError(err)
    } finally {
      loading = false
      if (again && !closed) {
        again = false
        schedule()
      }
    }
  }
  const schedule = (): void => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => { void reload() }, opts.debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = [...new Set([dirname(opts.certFile), dirname(opts.keyFile)])].map((dir) => {
    // persistent: false, so a watcher never keeps the process alive on its own.
    const watcher = watch(dir, { persistent: false }, schedule)
    watcher.on('error', (err: unknown) => { opts.onError(new TlsFileError(`the directory '${dir}' of ${basename(opts.certFile)} and ${basename(opts.keyFile)}`, `watching it failed, so changes need a restart: ${describe(err)}`, { cause: err })) })
    return watcher
  })
  return {
    close: () => {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
    }
  }
}

async function readText (file: string, key: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err: unknown) {
    throw new TlsFileError(`${key} '${file}'`, `reading it failed: ${describe(err)}`, { cause: err })
  }
}

function describe (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as NodeJS.ErrnoException).code
  return code === undefined ? err.message : `${code}: ${err.message}`
}
