// The DSM_* codes certs/ reports: CA bundle, local CA, TLS files, trust store (issue 10 item 5:
// certs/ owns its codes; imports point down, config <- certs <- server). server/errors.ts
// re-exports them and lists them in ERRORS for the README table check.
import createError, { type FastifyErrorConstructor } from '@fastify/error'

export const CaFileInvalidError = createError(
  'DSM_CERT_CA_FILE',
  "upstream.caFiles entry '%s' could not be used (%s). Point it at a PEM file or a directory of PEM files.",
  500
)
export const LocalCaError = createError(
  'DSM_CERT_LOCAL_CA',
  "The local CA in '%s' could not be used (%s). Restore its files, or move the directory away so dsmirror creates a new CA (clients then have to trust the new one: fetch /_/ca.pem again).",
  500
)
export const TlsFileError = createError(
  'DSM_CERT_TLS_FILE',
  '%s could not be used (%s). tls.certFile must be a readable PEM file with the server certificate first, then its intermediates; tls.keyFile its unencrypted PEM private key.',
  500
)
export const KeyMismatchError = createError(
  'DSM_CERT_KEY_MISMATCH',
  "tls.keyFile '%s' is not the private key of the certificate in tls.certFile '%s'%s. Point both at the same pair; compare 'openssl x509 -noout -pubkey -in <certFile>' with 'openssl pkey -pubout -in <keyFile>'.",
  500
)
export const NoCaCertificateError = createError(
  'DSM_CERT_NO_CA',
  '/_/ca.pem has no CA certificate to offer: %s',
  404
)
export const TrustUnsupportedError = createError(
  'DSM_TRUST_UNSUPPORTED',
  'dsmirror cannot add its CA to the trust store of %s by itself. %s. For the current shell only: eval "$(dsmirror trust env)".',
  500
)
export const TrustPermissionError = createError(
  'DSM_TRUST_PERMISSION',
  "Changing the system trust store needs root: '%s' (%s). Run: sudo dsmirror trust %s",
  500
)
export const TrustToolError = createError(
  'DSM_TRUST_TOOL',
  "The trust store tool '%s' %s. %s.",
  500
)

/** Every error constructor of certs/, for server/errors.ts ERRORS. */
export const CERT_ERRORS: readonly FastifyErrorConstructor[] = [
  CaFileInvalidError,
  LocalCaError,
  TlsFileError,
  KeyMismatchError,
  NoCaCertificateError,
  TrustUnsupportedError,
  TrustPermissionError,
  TrustToolError
]
