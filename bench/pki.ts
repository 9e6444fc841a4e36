import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createRootCa, issueLeaf } from '../certs/local-ca.js'

// A CA made per run, and one leaf for both the upstream and nginx's HTTPS listener, issued with
// dsmirror's own certs/local-ca.ts. The leaf names 127.0.0.1 as an IP SAN (what Node and curl
// check for https://127.0.0.1) and UPSTREAM_TLS_NAME as a DNS SAN, because nginx's
// proxy_ssl_verify matches names with X509_check_host, which never looks at IP SANs.

export const UPSTREAM_TLS_NAME = 'upstream.bench.test'
const CERT_LIFETIME_MS = 2 * 24 * 3600 * 1000

export interface BenchPki {
  caFile: string
  certFile: string
  keyFile: string
  cert: string
  key: string
  ca: string
}

export async function createBenchPki (dir: string): Promise<BenchPki> {
  await mkdir(dir, { recursive: true })
  const ca = await createRootCa({ commonName: 'dsmirror bench CA', lifetimeMs: CERT_LIFETIME_MS })
  const leaf = await issueLeaf({ issuer: ca, names: [UPSTREAM_TLS_NAME, 'localhost', '127.0.0.1'], lifetimeMs: CERT_LIFETIME_MS })
  const pki: BenchPki = {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'leaf.pem'),
    keyFile: join(dir, 'leaf-key.pem'),
    ca: ca.certPem,
    cert: leaf.certPem,
    key: leaf.keyPem
  }
  await writeFile(pki.caFile, pki.ca)
  await writeFile(pki.certFile, pki.cert)
  await writeFile(pki.keyFile, pki.key, { mode: 0o600 })
  return pki
}
