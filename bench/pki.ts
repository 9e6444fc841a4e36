// @peculiar/x509 2 needs reflect-metadata loaded before it.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { webcrypto } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

// A CA made per run, and one leaf for both the upstream and nginx's HTTPS listener.
// The leaf names 127.0.0.1 as an IP SAN (what Node and curl check for https://127.0.0.1)
// and UPSTREAM_TLS_NAME as a DNS SAN, because nginx's proxy_ssl_verify matches names
// with X509_check_host, which never looks at IP SANs.

export const UPSTREAM_TLS_NAME = 'upstream.bench.test'
const CERT_LIFETIME_MS = 2 * 24 * 3600 * 1000
const CLOCK_SKEW_MS = 3600 * 1000
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }

x509.cryptoProvider.set(webcrypto)

export interface BenchPki {
  caFile: string
  certFile: string
  keyFile: string
  cert: string
  key: string
  ca: string
}

async function exportKeyPem (key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

export async function createBenchPki (dir: string): Promise<BenchPki> {
  await mkdir(dir, { recursive: true })
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS)
  const notAfter = new Date(Date.now() + CERT_LIFETIME_MS)

  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=dsmirror bench CA',
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)
    ]
  })

  const leafKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const leafCert = await x509.X509CertificateGenerator.create({
    subject: `CN=${UPSTREAM_TLS_NAME}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: UPSTREAM_TLS_NAME },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' }
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false)
    ]
  })

  const pki: BenchPki = {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'leaf.pem'),
    keyFile: join(dir, 'leaf-key.pem'),
    ca: caCert.toString('pem'),
    cert: leafCert.toString('pem'),
    key: await exportKeyPem(leafKeys.privateKey)
  }
  await writeFile(pki.caFile, pki.ca + '\n')
  await writeFile(pki.certFile, pki.cert + '\n')
  await writeFile(pki.keyFile, pki.key + '\n', { mode: 0o600 })
  return pki
}
