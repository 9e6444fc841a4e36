// TLS handshakes to a listener, for tests that look at what it serves: which certificate a new
// connection gets, and whether a handshake with given settings succeeds at all. Every probe
// verifies the server against the CAs it is given (never rejectUnauthorized: false).
import { spawn, spawnSync } from 'node:child_process'
import type { X509Certificate } from 'node:crypto'
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls'

/** Connects, resolves once the handshake is done (the socket is left open), rejects with Node's error. */
export async function handshake (opts: ConnectionOptions): Promise<TLSSocket> {
  return await new Promise<TLSSocket>((resolve, reject) => {
    const socket = tls.connect(opts, () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** The certificate a new connection to `url` is served, verified against `ca`. */
export async function servedCertificate (url: string, ca: string, servername?: string): Promise<X509Certificate> {
  const target = new URL(url)
  const socket = await handshake({
    host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(target.port),
    ca,
    servername: servername ?? (target.hostname.startsWith('[') ? undefined : target.hostname)
  })
  const cert = socket.getPeerX509Certificate()
  socket.destroy()
  if (cert === undefined) throw new Error(`no certificate from ${url}`)
  return cert
}

// openssl is an independent verifier. Missing it is a skip on a laptop, a failure in CI.
export const opensslMissing = spawnSync('openssl', ['version']).error !== undefined
export const opensslSkip: string | false = opensslMissing && process.env.CI !== 'true' ? 'openssl is not installed' : false

/**
 * Runs openssl with the OS trust settings removed, so only the files given are trusted.
 * Asynchronous, because `s_client` talks to a listener in this very process.
 */
export async function openssl (args: string[], input = ''): Promise<{ status: number | null, out: string }> {
  const env = { ...process.env }
  for (const name of ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'OPENSSL_CONF']) Reflect.deleteProperty(env, name)
  const child = spawn('openssl', args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stdin.end(input)
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => { resolve(code) })
  })
  return { status, out }
}
