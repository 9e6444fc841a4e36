// Certificate issuance for dsmirror's own TLS: a name-constrained local root CA, optional
// intermediates, and short-lived server leaves. ECDSA P-256 over WebCrypto, built with
// @peculiar/x509 so no openssl binary is needed at run time. Used by the HTTPS listener
// (tls.mode: auto) and by the test PKI (test/helpers/pki.ts).
//
// reflect-metadata must load before @peculiar/x509: its ASN.1 schema decorators read it at import.
import 'reflect-metadata'
import { randomBytes, webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'
import { AsnConvert } from '@peculiar/asn1-schema'
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints as ID_CE_NAME_CONSTRAINTS } from '@peculiar/asn1-x509'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

export interface KeyPairPem {
  /** The certificate, PEM. */
  certPem: string
  /** Its private key, PKCS#8 PEM, loadable by `crypto.createPrivateKey` and node:tls `key`. */
  keyPem: string
}

export interface CreateRootCaOptions {
  commonName: string
  lifetimeMs: number
  /**
   * Names the CA may ever sign for (RFC 5280 §4.2.1.10). A stolen local CA key then cannot mint
   * a certificate for anything but the mirror's own hostnames. DNS names and IP literals.
   */
  permittedNames?: string[]
  /**
   * Also exclude every IPv4 and IPv6 address (0.0.0.0/0, ::/0). A permittedSubtrees with DNS
   * names only leaves IP SANs unconstrained (RFC 5280 §4.2.1.10: a constraint applies to its own
   * name form only; OpenSSL accepts an IP-SAN leaf from such a CA), so the interception CA, which
   * must never vouch for an address, excludes them all. Excluded wins over permitted.
   */
  excludeAllIps?: boolean
  now?: Date
}

export interface CreateIntermediateCaOptions {
  issuer: KeyPairPem
  commonName: string
  lifetimeMs: number
  now?: Date
}

export interface IssueLeafOptions {
  issuer: KeyPairPem
  /** DNS names and IP literals, all put in the SubjectAltName. */
  names: string[]
  lifetimeMs: number
  /** Clock; tests pass a past or future date to make expired / not-yet-valid certificates. */
  now?: Date
  notBefore?: Date
}

/** Back-dating of notBefore, so a client whose clock is slightly behind still accepts a fresh leaf. */
export const CLOCK_SKEW_MS = 60_000

const EC_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' }
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' }

const subtle = webcrypto.subtle
// Every certificate is made with Node's WebCrypto; no other provider is ever registered.
x509.cryptoProvider.set(webcrypto)

/** Creates a self-signed root CA, optionally name-constrained to `permittedNames`. */
export async function createRootCa (opts: CreateRootCaOptions): Promise<KeyPairPem> {
  const keys = await generateKeys()
  const now = opts.now ?? new Date()
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
  ]
  if (opts.permittedNames !== undefined) {
    extensions.push(nameConstraintsExtension(opts.permittedNames, opts.excludeAllIps === true))
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [opts.commonName] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + opts.lifetimeMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions
  })
  return await toPem(cert, keys.privateKey)
}

/** Creates a CA signed by `issuer` (pathLen 0: it may sign leaves only). */
export async function createIntermediateCa (opts: CreateIntermediateCaOptions): Promise<KeyPairPem> {
  const issuer = await loadIssuer(opts.issuer)
  const keys = await generateKeys()
  const now = opts.now ?? new Date()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [opts.commonName] }],
    issuer: issuer.cert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + opts.lifetimeMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey)
    ]
  })
  return await toPem(cert, keys.privateKey)
}

/** Issues a TLS server certificate for `names`, signed by `issuer`. */
export async function issueLeaf (opts: IssueLeafOptions): Promise<KeyPairPem> {
  const [first] = opts.names
  if (first === undefined) throw new TypeError('issueLeaf needs at least one name')
  const issuer = await loadIssuer(opts.issuer)
  const keys = await generateKeys()
  const now = opts.now ?? new Date()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [leafCommonName(opts.names, first)] }],
    issuer: issuer.cert.subjectName,
    notBefore: opts.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + opts.lifetimeMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // Clients match the host against SAN only (RFC 6125 §6.4.4; CN is ignored when SAN exists).
      new x509.SubjectAlternativeNameExtension(opts.names.map(sanEntry)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey)
    ]
  })
  return await toPem(cert, keys.privateKey)
}

async function generateKeys (): Promise<CryptoKeyPair> {
  // Extractable, because the key is written out as PKCS#8 for node:tls.
  return await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])
}

async function loadIssuer (issuer: KeyPairPem): Promise<{ cert: x509.X509Certificate, key: CryptoKey }> {
  const cert = new x509.X509Certificate(issuer.certPem)
  const der = x509.PemConverter.decodeFirst(issuer.keyPem)
  const key = await subtle.importKey('pkcs8', der, EC_KEY_ALGORITHM, false, ['sign'])
  return { cert, key }
}

async function toPem (cert: x509.X509Certificate, privateKey: CryptoKey): Promise<KeyPairPem> {
  const pkcs8 = await subtle.exportKey('pkcs8', privateKey)
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n'
  }
}

/** 16 random bytes with the top bit clear: a positive serial of full length (RFC 5280 §4.1.2.2). */
function randomSerial (): string {
  const bytes = randomBytes(16)
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01
  return bytes.toString('hex')
}

/**
 * The first DNS name. OpenSSL checks a leaf's CN against DNS name constraints when the leaf has
 * no DNS SAN (crypto/x509/v3_ncons.c, NAME_CONSTRAINTS_check_CN), and a CN of '127.0.0.1' looks
 * like a hostname to it, so an IP-only leaf from a constrained root would fail with "permitted
 * subtree violation". Such a leaf gets a CN with a space, which is never taken for a hostname.
 */
function leafCommonName (names: string[], first: string): string {
  return names.find((n) => isIP(n) === 0) ?? `dsmirror ${first}`
}

function sanEntry (name: string): x509.JsonGeneralName {
  return isIP(name) === 0 ? { type: 'dns', value: name } : { type: 'ip', value: expandIp(name) }
}

/**
 * A critical NameConstraints extension permitting exactly `names`. @peculiar/x509 has no class
 * for it, so it is encoded with @peculiar/asn1-x509. IP entries carry a full-length mask
 * (RFC 5280 §4.2.1.10: address followed by mask), i.e. exactly that one address. A DNS entry with
 * a leading dot (`.hf.co`) permits the names below it only: not RFC 5280 for dNSName, but what
 * OpenSSL (v3_ncons.c nc_dns), Go (golang/go#37535), BoringSSL and GnuTLS ≥ 3.7 all implement.
 */
function nameConstraintsExtension (names: string[], excludeAllIps: boolean): x509.Extension {
  const subtrees = names.map((name) => {
    const family = isIP(name)
    const base = family === 0
      ? new GeneralName({ dNSName: name })
      : new GeneralName({ iPAddress: `${expandIp(name)}/${family === 4 ? 32 : 128}` })
    return new GeneralSubtree({ base })
  })
  const excluded = excludeAllIps
    ? new GeneralSubtrees([
      new GeneralSubtree({ base: new GeneralName({ iPAddress: '0.0.0.0/0' }) }),
      new GeneralSubtree({ base: new GeneralName({ iPAddress: `${expandIp('::')}/0` }) })
    ])
    : undefined
  const value = AsnConvert.serialize(new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(subtrees),
    ...(excluded === undefined ? {} : { excludedSubtrees: excluded })
  }))
  return new x509.Extension(ID_CE_NAME_CONSTRAINTS, true, value)
}

/**
 * IPv6 in the eight-group form the @peculiar IP encoder parses (it does not know an embedded IPv4
 * tail such as ::ffff:127.0.0.1). IPv4 is returned unchanged.
 */
function expandIp (ip: string): string {
  if (isIP(ip) !== 6) return ip
  let text = ip
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16)
  }
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].join(':')
}
