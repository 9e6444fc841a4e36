// Every error dsmirror reports (the fastify `lib/errors.js` pattern): config/errors.ts and
// certs/errors.ts own their codes (imports point down: config <- certs <- server), this file owns
// the server's, re-exports theirs and lists all of them in ERRORS.
// Codes are `DSM_<AREA>_<WHAT>`, stable, and never reused once retired. Each message says what
// happened, to which input, and the fix. The README's error table is kept in step with ERRORS
// by test/unit/error-table.test.ts.
import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { CERT_ERRORS } from '../certs/errors.js'
import { CONFIG_ERRORS } from '../config/errors.js'

export { ConfigInvalidError } from '../config/errors.js'
export {
  CaFileInvalidError,
  KeyMismatchError,
  LocalCaError,
  NoCaCertificateError,
  TlsFileError,
  TrustPermissionError,
  TrustToolError,
  TrustUnsupportedError
} from '../certs/errors.js'

export const BadPathError = createError(
  'DSM_BAD_PATH',
  "Request path '%s' was refused: %s. Mirror URLs look like /<upstream-host>/<path> or /<mirror-name>/<path>.",
  400
)
export const HostNotAllowedError = createError(
  'DSM_HOST_NOT_ALLOWED',
  "Upstream host '%s' is not in allowHosts. Add it to allowHosts in the config (e.g. DSMIRROR_ALLOWHOSTS) if it should be mirrored.",
  403
)
export const MirrorUnknownError = createError(
  'DSM_MIRROR_UNKNOWN',
  "No mirror is named '%s'. Define it under mirrors: in the config, or use /<upstream-host>/<path> with a host in allowHosts.",
  404
)
export const NotFoundError = createError('DSM_NOT_FOUND', "'%s' is not a dsmirror page. Its pages live under /_/ (status /_/, health /_/healthz).", 404)

// The forward-proxy mode (issue 12; docs/forward-proxy.md).
export const ProxyMisdirectedError = createError(
  'DSM_PROXY_MISDIRECTED',
  "A request inside the tunnel to '%s' named Host '%s'. A tunnel serves the host it was opened for only (RFC 9110 §15.5.20): open another CONNECT for the other host.",
  421
)
export const ProxyAuthRequiredError = createError(
  'DSM_PROXY_AUTH_REQUIRED',
  'The forward proxy needs credentials (%s). Put them in the proxy URL: https_proxy=http://<user>:<password>@<dsmirror host>:<port> (forwardProxy.auth in the server config).',
  407
)
export const ProxyTunnelFailedError = createError(
  'DSM_PROXY_TUNNEL_FAILED',
  "Could not open a tunnel to '%s' (%s). Check that the host is up, or remove it from forwardProxy.tunnelHosts.",
  502
)
// Not an HTTP answer (the TLS handshake failed, nothing can be sent): recorded for /_/ and metrics.
export const ProxyClientUntrustedError = createError(
  'DSM_PROXY_CLIENT_UNTRUSTED',
  "A client of the forward proxy refused the certificate for '%s' (unknown CA): it does not trust dsmirror's interception CA. On that machine run 'sudo dsmirror trust install', or eval \"$(dsmirror trust env --proxy)\" in its shell (wget and aria2c: --ca-certificate=<dataDir>/trust-bundle.pem).",
  502
)
export const UpstreamTlsError = createError(
  'DSM_UPSTREAM_TLS',
  "TLS verification of upstream '%s' failed (%s). Add the issuing CA to upstream.caFiles, or run 'dsmirror doctor %s'.",
  502
)
export const UpstreamConnectError = createError(
  'DSM_UPSTREAM_CONNECT',
  "Could not reach upstream '%s' (%s). Check the name and network, or set upstream.proxy if egress needs a proxy.",
  502
)
export const UpstreamTimeoutError = createError(
  'DSM_UPSTREAM_TIMEOUT',
  "Upstream '%s' did not answer in time (%s). Raise upstream.timeouts if the host is slow.",
  504
)
export const UpstreamRedirectError = createError(
  'DSM_UPSTREAM_REDIRECT',
  "Upstream '%s' redirected badly: %s. %s",
  502
)
// 502, not 403: the client asked for an allowed host and can do nothing about where its name
// points; the refusal is about what the upstream's DNS answered (RFC 9110 §15.6.3: an invalid
// response from an inbound server). A 403 would also read as "no access" to clients such as
// huggingface_hub, which turns a 403 into a gated-repository error.
export const UpstreamForbiddenAddressError = createError(
  'DSM_UPSTREAM_FORBIDDEN_ADDRESS',
  "Upstream '%s' resolves to %s, which dsmirror does not connect to (SSRF protection: only public addresses by default). If it is your own server, e.g. a team server or chained cache on a private network, add its range to upstream.allowAddresses (e.g. %s).",
  502
)
export const ClientBadRequestError = createError(
  'DSM_CLIENT_BAD_REQUEST',
  'The request could not be parsed as HTTP/1.1 (%s): a bare CR or LF, a folded header, both Content-Length and Transfer-Encoding, or another framing error. Send one well-formed request per message.',
  400
)
export const ClientHeadersTooLargeError = createError(
  'DSM_CLIENT_HEADERS_TOO_LARGE',
  'The request line and headers are larger than %s bytes. Send a shorter URL or fewer cookies and headers.',
  431
)
export const ClientTimeoutError = createError(
  'DSM_CLIENT_TIMEOUT',
  'The request headers did not arrive within %s ms (listen.headersTimeout). Send the whole request head at once, or raise listen.headersTimeout for very slow links.',
  408
)
export const UpstreamIncompleteError = createError(
  'DSM_UPSTREAM_INCOMPLETE',
  "The download of '%s' could not be completed (%s). Nothing was cached; retry later, or raise upstream.retries.",
  502
)
export const UpstreamTooSlowError = createError(
  'DSM_UPSTREAM_TOO_SLOW',
  "Upstream '%s' is too slow: %s (upstream.timeouts.minRate over upstream.timeouts.minRateWindow). The transfer was dropped and is resumed; if the host is really this slow, lower upstream.timeouts.minRate (0 turns the check off).",
  504
)
export const DownloadCancelledError = createError(
  'DSM_DOWNLOAD_CANCELLED',
  "The download of '%s' was cancelled: %s. Nothing was cached; request it again to start a new download.",
  503
)
export const UpstreamChangedError = createError(
  'DSM_UPSTREAM_CHANGED',
  "'%s' changed upstream while it was being downloaded (%s). Nothing was cached; request it again.",
  502
)
export const UpstreamBadResponseError = createError(
  'DSM_UPSTREAM_BAD_RESPONSE',
  "Upstream answered '%s' with a response dsmirror cannot use (%s). Nothing was cached.",
  502
)
export const ChecksumMismatchError = createError(
  'DSM_CHECKSUM_MISMATCH',
  "'%s' does not match its expected digest (%s). The body was quarantined, not cached; check checksums: in the config and the upstream.",
  502
)
export const RangeNotSatisfiableError = createError(
  'DSM_RANGE_NOT_SATISFIABLE',
  "Range '%s' does not overlap the %s bytes of '%s'. Ask for bytes inside the object.",
  416
)
export const OnlyIfCachedError = createError(
  'DSM_CACHE_ONLY_IF_CACHED',
  "'%s' has no stored response usable without asking the upstream, and the request said Cache-Control: only-if-cached (RFC 9111 §5.2.1.7). Fetch it once without only-if-cached, or add max-stale to accept a stale copy.",
  504
)
const CacheIoBase = createError(
  'DSM_CACHE_IO',
  'Cache storage failed (%s). Check free space and permissions of cache.dir; the server log names the file.',
  500
)
/**
 * Its message reaches clients and the status page, so it names no server path (issue 12 item
 * 12): the file is kept in `path`, which the log shows (pino's err serializer keeps it), and the
 * reason loses the quoted paths Node's fs errors end with ("ENOSPC: ..., open '/var/...'").
 */
export class CacheIoError extends CacheIoBase {
  readonly path: string
  constructor (path: string, reason: string) {
    super(reason.split(path).join('<file>').replace(/ '\/[^']*'(?: -> '\/[^']*')?/g, ''))
    this.path = path
  }
}
export const InternalError = createError(
  'DSM_INTERNAL_ERROR',
  "dsmirror failed unexpectedly while handling '%s' (%s). This is a bug: please report it with the log line of this request.",
  500
)

// The S3 store (issue 19; docs/s3.md).
export const StoreUnreachableError = createError(
  'DSM_STORE_UNREACHABLE',
  "The S3 bucket '%s' at %s cannot be used (%s). Check store.s3.endpoint, store.s3.region and store.s3.bucket (the bucket must exist: dsmirror does not create it) and the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws or the pod's role; never the YAML).",
  503
)
export const StoreConditionalWritesError = createError(
  'DSM_STORE_CONDITIONAL_WRITES_IGNORED',
  "The S3 store '%s' at %s does not honour conditional writes: %s. Replicas could not agree on one download per file nor commit without losing updates. Use an engine that honours If-None-Match and If-Match on PutObject (AWS S3, MinIO since 2023, Ceph RGW) and make sure no proxy in front of it drops those headers; or set cluster.singleFlight: false to run every replica without coordination (each downloads on its own).",
  503
)

export const DoctorTargetError = createError(
  'DSM_DOCTOR_TARGET',
  "'%s' is not something dsmirror doctor can check. Give a host (download.pytorch.org), host:port, an https:// URL, or the name of a mirror.",
  400
)

export const AdminUnauthorizedError = createError(
  'DSM_ADMIN_UNAUTHORIZED',
  "'%s' changes the cache and needs a bearer token. Send 'Authorization: Bearer <admin.token>' (the dsmirror CLI sends admin.token from its config or DSMIRROR_ADMIN_TOKEN).",
  401
)
export const AdminForbiddenError = createError(
  'DSM_ADMIN_FORBIDDEN',
  "'%s' was refused: %s",
  403
)
export const AdminNotFoundError = createError(
  'DSM_ADMIN_NOT_FOUND',
  "No cache entry has the key '%s'. List the entries with GET /_/api/entries or 'dsmirror cache ls'.",
  404
)
export const AdminNoDownloadError = createError(
  'DSM_ADMIN_NO_DOWNLOAD',
  "No download in flight has the key '%s' (it may have finished or failed already). List them with GET /_/api/downloads.",
  404
)
export const AdminBadRequestError = createError(
  'DSM_ADMIN_BAD_REQUEST',
  "The admin API request '%s' is malformed: %s.",
  400
)
// 403 for both: the client reached the server but named it, or came from a page, that the admin
// pages do not serve (issue 12 item 5, DNS rebinding and cross-site requests).
export const AdminHostNotAllowedError = createError(
  'DSM_ADMIN_HOST_NOT_ALLOWED',
  "Host '%s' does not name this server, so '%s %s' was refused (DNS rebinding protection). Open dsmirror at an IP address, localhost or a name in tls.hostnames; add the name to admin.allowedHosts; or send 'Authorization: Bearer <admin.token>'.",
  403
)
export const AdminOriginError = createError(
  'DSM_ADMIN_ORIGIN',
  "Origin '%s' is not this server's own, so '%s %s' was refused (cross-site request). Change the cache from this server's own pages, the dsmirror CLI or curl.",
  403
)
export const AdminServerUnreachableError = createError(
  'DSM_ADMIN_SERVER_UNREACHABLE',
  "No dsmirror server answered at '%s' (%s). Start one with 'dsmirror serve', or pass --server <url> (default: listen.http of the config).",
  502
)
export const AdminServerRunningError = createError(
  'DSM_ADMIN_SERVER_RUNNING',
  "A dsmirror server answers at '%s' and owns the cache directory '%s'. Stop it before 'dsmirror cache %s' (this command rewrites the directory, which the running server would not see).",
  409
)

// The Hugging Face mode (issue 11).
export const HfTokenOverHttpError = createError(
  'DSM_HF_TOKEN_OVER_HTTP',
  "A Hugging Face token was sent in clear over plain HTTP to the listener at '%s', which other machines can reach; it was not used. Point HF_ENDPOINT at the HTTPS listener (https://<host>:8443/hf, with SSL_CERT_FILE trusting dsmirror's CA) or at a loopback address, and rotate the token if it crossed a network.",
  403
)
export const HfBadHubAnswerError = createError(
  'DSM_HF_BAD_HUB_ANSWER',
  "The Hub answered '%s' with %s, which a mirror cannot serve. Check that huggingface.endpoint points at a Hugging Face Hub (or a compatible server).",
  502
)

export const ClusterPeerUnauthorizedError = createError(
  'DSM_CLUSTER_PEER_UNAUTHORIZED',
  "'%s' on the cluster peer listener needs 'Authorization: Bearer <cluster.token>'. Only dsmirror replicas call it; give every replica the same cluster.token (DSMIRROR_CLUSTER_TOKEN).",
  401
)
export const ClusterPeerForbiddenError = createError(
  'DSM_CLUSTER_PEER_FORBIDDEN',
  "'%s' on the cluster peer listener was refused: the bearer token is not this replica's cluster.token. Give every replica the same cluster.token (DSMIRROR_CLUSTER_TOKEN).",
  403
)
export const ClusterNotLeaderError = createError(
  'DSM_CLUSTER_NOT_LEADER',
  'This replica does not lead the download of key %s (its lease was released, taken over, or never held) and has no committed copy. Replicas re-read the lease and ask the current leader; nothing to fix unless it repeats.',
  409
)
export const ClusterLeaderUnreachableError = createError(
  'DSM_CLUSTER_LEADER_UNREACHABLE',
  "'%s' is being downloaded by another replica (%s), which did not serve it within %s ms, and its lease did not go stale. Check that cluster.advertiseUrl of every replica is reachable from the others and that they share cluster.token; retry the request.",
  502
)
export const ClusterLeaseIoError = createError(
  'DSM_CLUSTER_LEASE_IO',
  "The download lease for '%s' could not be read or written in the bucket (%s). Check store.s3 (endpoint, bucket, credentials) and that the store answers; set cluster.singleFlight: false to download without cross-replica coordination.",
  503
)

/** Every error constructor, config's and certs' included, for the README table check and for metrics by code. */
export const ERRORS: readonly FastifyErrorConstructor[] = [
  ...CONFIG_ERRORS,
  ...CERT_ERRORS,
  BadPathError,
  HostNotAllowedError,
  MirrorUnknownError,
  ProxyMisdirectedError,
  ProxyAuthRequiredError,
  ProxyTunnelFailedError,
  ProxyClientUntrustedError,
  NotFoundError,
  UpstreamTlsError,
  UpstreamConnectError,
  UpstreamTimeoutError,
  UpstreamRedirectError,
  UpstreamForbiddenAddressError,
  ClientBadRequestError,
  ClientHeadersTooLargeError,
  ClientTimeoutError,
  UpstreamIncompleteError,
  UpstreamChangedError,
  UpstreamTooSlowError,
  DownloadCancelledError,
  UpstreamBadResponseError,
  ChecksumMismatchError,
  RangeNotSatisfiableError,
  OnlyIfCachedError,
  // The constructor of DSM_CACHE_IO; CacheIoError (a subclass) is what code throws.
  CacheIoBase,
  InternalError,
  StoreUnreachableError,
  StoreConditionalWritesError,
  DoctorTargetError,
  AdminUnauthorizedError,
  AdminForbiddenError,
  AdminNotFoundError,
  AdminNoDownloadError,
  AdminBadRequestError,
  AdminHostNotAllowedError,
  AdminOriginError,
  AdminServerUnreachableError,
  AdminServerRunningError,
  HfTokenOverHttpError,
  HfBadHubAnswerError,
  ClusterPeerUnauthorizedError,
  ClusterPeerForbiddenError,
  ClusterNotLeaderError,
  ClusterLeaderUnreachableError,
  ClusterLeaseIoError
]

/**
 * The message a client (and the status page) is shown. A 500 is dsmirror's own failure: the
 * client can do nothing about it, and its message may name files of the server (a CA directory,
 * an fs error's path), so it gets the code and the request id, and the log has the rest.
 */
export function publicMessage (err: unknown, status: number, code: string, reqId: string): string {
  if (status === 500) return internalMessage(code, reqId)
  return err instanceof Error ? err.message : String(err)
}

/** The code of a failure that is not one of dsmirror's own errors. */
export const INTERNAL_ERROR_CODE = 'DSM_INTERNAL_ERROR'

function internalMessage (code: string, reqId: string): string {
  return `dsmirror could not complete this request (${code}). The server's log has the details under reqId ${reqId}.`
}

/** A `DSM_*` error code. */
export type DsmCode = `DSM_${string}`

/** What a client is told about an error: the status, a code from the README table, a message. */
export interface ClientError {
  status: number
  code: string
  message: string
}

/**
 * The answer to a request that failed with `err` (app.ts's error handler; metrics and the status
 * page record the same). Issue 10 item 6: an error that is not dsmirror's own (a TypeError, a
 * framework or fs error) and has a 5xx status is dsmirror's failure whatever the status: the
 * client gets DSM_INTERNAL_ERROR and the reqId, never the error's own code (FST_*, ENOENT: not in
 * the README table) or message (it may name server files); the log has them.
 */
export function clientError (err: unknown, reqId: string): ClientError {
  if (isDsmError(err)) return { status: err.statusCode, code: err.code, message: publicMessage(err, err.statusCode, err.code, reqId) }
  const { statusCode, code } = (typeof err === 'object' && err !== null ? err : {}) as { statusCode?: unknown, code?: unknown }
  const status = typeof statusCode === 'number' ? statusCode : 500
  if (status >= 500) return { status, code: INTERNAL_ERROR_CODE, message: internalMessage(INTERNAL_ERROR_CODE, reqId) }
  return { status, code: typeof code === 'string' ? code : INTERNAL_ERROR_CODE, message: err instanceof Error ? err.message : String(err) }
}

export interface DsmError extends Error {
  code: DsmCode
  statusCode: number
}

/** True for an error made by one of the constructors above (or any `DSM_*`-coded error). */
export function isDsmError (err: unknown): err is DsmError {
  if (!(err instanceof Error)) return false
  const { code, statusCode } = err as Partial<DsmError>
  return typeof code === 'string' && code.startsWith('DSM_') && typeof statusCode === 'number'
}
