// mapUpstreamError (docs/design.md "Errors"): every failure of talking to an upstream becomes exactly
// one of DSM_UPSTREAM_TLS (502), DSM_UPSTREAM_TIMEOUT (504) or DSM_UPSTREAM_CONNECT (502), keeps
// the original error as `cause`, and names the host and the fix. Where a failure is cheap to
// provoke for real on 127.0.0.1 it is; the rest are errors built with the code Node or undici
// would set (that is not mocking the network: nothing here pretends to be a socket).
import { once } from 'node:events'
import https from 'node:https'
import { createServer, type Server, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { createRootCa, issueLeaf } from '../../certs/local-ca.js'
import { isDsmError, type DsmError } from '../../server/errors.js'
import { mapUpstreamError, Upstream, type UpstreamOptions } from '../../server/upstream/upstream.js'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'

const FIX = {
  DSM_UPSTREAM_TLS: /upstream\.caFiles/,
  DSM_UPSTREAM_TIMEOUT: /upstream\.timeouts/,
  DSM_UPSTREAM_CONNECT: /upstream\.proxy/
} as const
const STATUS = { DSM_UPSTREAM_TLS: 502, DSM_UPSTREAM_TIMEOUT: 504, DSM_UPSTREAM_CONNECT: 502 } as const
type Code = keyof typeof FIX

function withCode (code: string | undefined, message: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code })
}

function assertMapped (t: Test, mapped: DsmError, code: Code, cause: unknown, url: URL, name: string): void {
  t.equal(mapped.code, code, `${name}: ${code}`)
  t.equal(mapped.statusCode, STATUS[code], `${name}: status ${STATUS[code]}`)
  t.equal(mapped.cause, cause, `${name}: cause kept`)
  t.ok(mapped.message.includes(`'${url.host}'`), `${name}: names the host`)
  t.match(mapped.message, FIX[code], `${name}: names the fix`)
}

t.test('codes map to TLS, timeout and connect', async (t) => {
  const url = new URL('https://data.example.org:8443/a.tar.gz')
  const table: Array<[string | undefined, string, Code]> = [
    ['UNSPECIFIED', 'permitted subtree violation', 'DSM_UPSTREAM_TLS'],
    ['UNSPECIFIED', 'excluded subtree violation', 'DSM_UPSTREAM_TLS'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames", 'DSM_UPSTREAM_TLS'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain', 'DSM_UPSTREAM_TLS'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate', 'DSM_UPSTREAM_TLS'],
    ['CERT_HAS_EXPIRED', 'certificate has expired', 'DSM_UPSTREAM_TLS'],
    ['CERT_NOT_YET_VALID', 'certificate is not yet valid', 'DSM_UPSTREAM_TLS'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', 'DSM_UPSTREAM_TLS'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate', 'DSM_UPSTREAM_TLS'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number', 'DSM_UPSTREAM_TLS'],
    ['EPROTO', 'write EPROTO ... ssl3_get_record:wrong version number', 'DSM_UPSTREAM_TLS'],
    [undefined, 'unable to get issuer certificate', 'DSM_UPSTREAM_TLS'],
    ['UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error', 'DSM_UPSTREAM_TIMEOUT'],
    ['UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error', 'DSM_UPSTREAM_TIMEOUT'],
    ['UND_ERR_BODY_TIMEOUT', 'Body Timeout Error', 'DSM_UPSTREAM_TIMEOUT'],
    ['ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.5:443', 'DSM_UPSTREAM_TIMEOUT'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8443', 'DSM_UPSTREAM_CONNECT'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND data.example.org', 'DSM_UPSTREAM_CONNECT'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN data.example.org', 'DSM_UPSTREAM_CONNECT'],
    ['ECONNRESET', 'read ECONNRESET', 'DSM_UPSTREAM_CONNECT'],
    ['UND_ERR_SOCKET', 'other side closed', 'DSM_UPSTREAM_CONNECT'],
    ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.5:443', 'DSM_UPSTREAM_CONNECT'],
    [undefined, 'something else went wrong', 'DSM_UPSTREAM_CONNECT']
  ]
  for (const [code, message, expected] of table) {
    const err = withCode(code, message)
    assertMapped(t, mapUpstreamError(err, url), expected, err, url, `${code ?? 'no code'} '${message}'`)
  }
})

t.test('a code deeper in the cause chain decides, the outer error is the cause', async (t) => {
  const url = new URL('https://data.example.org/x')
  const wrapped = new Error('fetch failed', { cause: withCode('CERT_HAS_EXPIRED', 'certificate has expired') })
  const mapped = mapUpstreamError(wrapped, url)
  assertMapped(t, mapped, 'DSM_UPSTREAM_TLS', wrapped, url, 'wrapped TLS')
  t.match(mapped.message, /CERT_HAS_EXPIRED/, 'the detail is the coded error, not the wrapper')
  const timeout = new Error('fetch failed', { cause: withCode('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error') })
  assertMapped(t, mapUpstreamError(timeout, url), 'DSM_UPSTREAM_TIMEOUT', timeout, url, 'wrapped timeout')
})

t.test('an upstream that answers in broken HTTP is DSM_UPSTREAM_BAD_RESPONSE, not unreachable (issue 12 item 13)', async (t) => {
  const url = new URL('https://data.example.org/a.tar.gz')
  const broken: Array<[string | undefined, string, string]> = [
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Response body length does not match content-length header', 'Error'],
    ['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'Response content exceeded max size', 'Error'],
    ['UND_ERR_HEADERS_OVERFLOW', 'Headers Overflow Error', 'HeadersOverflowError'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length', 'HTTPParserError'],
    ['HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size', 'HTTPParserError'],
    [undefined, 'Response does not match the HTTP/1.1 protocol (Invalid status code)', 'HTTPParserError']
  ]
  for (const [code, message, name] of broken) {
    const err = Object.assign(withCode(code, message), { name })
    const mapped = mapUpstreamError(err, url)
    t.equal(mapped.code, 'DSM_UPSTREAM_BAD_RESPONSE', `${code ?? name}: a bad response`)
    t.equal(mapped.statusCode, 502)
    t.equal(mapped.cause, err, 'cause kept')
    t.ok(mapped.message.includes(url.href), 'names the URL')
    t.ok(mapped.message.includes(message), 'says what was wrong')
  }
  const wrapped = new Error('fetch failed', { cause: withCode('UND_ERR_HEADERS_OVERFLOW', 'Headers Overflow Error') })
  t.equal(mapUpstreamError(wrapped, url).code, 'DSM_UPSTREAM_BAD_RESPONSE', 'also deeper in the cause chain')
})

t.test('words in a host name do not make a DNS or timeout failure a TLS one', async (t) => {
  for (const host of ['certificate.example.org', 'self-signed.example.org', 'issuer.example.org', 'subtree-violation.example.org']) {
    const url = new URL(`https://${host}/x`)
    const dns = withCode('ENOTFOUND', `getaddrinfo ENOTFOUND ${host}`)
    assertMapped(t, mapUpstreamError(dns, url), 'DSM_UPSTREAM_CONNECT', dns, url, `ENOTFOUND ${host}`)
    const slow = withCode('UND_ERR_CONNECT_TIMEOUT', `Connect Timeout Error (attempted address: ${host}:443, timeout: 10000ms)`)
    assertMapped(t, mapUpstreamError(slow, url), 'DSM_UPSTREAM_TIMEOUT', slow, url, `connect timeout ${host}`)
    const plain = new Error(`socket to ${host} closed`)
    assertMapped(t, mapUpstreamError(plain, url), 'DSM_UPSTREAM_CONNECT', plain, url, `uncoded error naming ${host}`)
  }
})

t.test('a DSM error passes through unchanged; a non-Error is still mapped', async (t) => {
  const url = new URL('https://data.example.org/x')
  const first = mapUpstreamError(withCode('ECONNREFUSED', 'refused'), url)
  t.equal(mapUpstreamError(first, url), first)
  const odd = mapUpstreamError('a string thrown', url)
  t.equal(odd.code, 'DSM_UPSTREAM_CONNECT')
  t.equal(odd.cause, 'a string thrown')
  t.ok(isDsmError(odd))
})

// --- real failures on 127.0.0.1 through the real client ---

async function upstreamClient (t: Test, over: Partial<UpstreamOptions> = {}): Promise<Upstream> {
  const pki = await getTestPki()
  const client = new Upstream({
    ca: [pki.rootCa.certPem],
    proxy: 'none',
    env: {},
    timeouts: { connect: 2000, headers: 2000, idle: 2000 },
    maxRedirects: 5,
    isAllowed: () => true,
    ...over
  })
  t.teardown(() => client.close())
  return client
}

async function rejection (promise: Promise<unknown>): Promise<DsmError> {
  try {
    await promise
  } catch (err: unknown) {
    if (isDsmError(err)) return err
    throw err
  }
  throw new Error('expected a rejection')
}

async function listen (server: Server | https.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A TCP server that does `onSocket` with each connection and is torn down with the test. */
async function tcpServer (t: Test, onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    onSocket(socket)
  })
  const port = await listen(server)
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return port
}

function causeCodes (err: unknown): string[] {
  const codes: string[] = []
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') codes.push(code)
  }
  return codes
}

t.test('ECONNREFUSED from a closed port is DSM_UPSTREAM_CONNECT', async (t) => {
  const probe = createServer()
  const port = await listen(probe)
  await new Promise((resolve) => probe.close(resolve))
  const client = await upstreamClient(t)
  const url = new URL(`https://127.0.0.1:${port}/x.bin`)
  const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
  assertMapped(t, err, 'DSM_UPSTREAM_CONNECT', err.cause, url, 'refused')
  t.ok(causeCodes(err).includes('ECONNREFUSED'), 'the cause is the real ECONNREFUSED')
})

t.test('a reset during the handshake is DSM_UPSTREAM_CONNECT', async (t) => {
  const port = await tcpServer(t, (socket) => { socket.resetAndDestroy() })
  const client = await upstreamClient(t)
  const url = new URL(`https://127.0.0.1:${port}/x.bin`)
  const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
  assertMapped(t, err, 'DSM_UPSTREAM_CONNECT', err.cause, url, 'reset')
  t.ok(causeCodes(err).includes('ECONNRESET'), `cause codes ${causeCodes(err).join(',')}`)
})

t.test('a server that closes after the handshake is DSM_UPSTREAM_CONNECT (UND_ERR_SOCKET)', async (t) => {
  const pki = await getTestPki()
  const server = https.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem }, (req) => { req.socket.destroy() })
  const port = await listen(server)
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  const client = await upstreamClient(t)
  const url = new URL(`https://127.0.0.1:${port}/x.bin`)
  const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
  assertMapped(t, err, 'DSM_UPSTREAM_CONNECT', err.cause, url, 'closed')
  t.ok(causeCodes(err).includes('UND_ERR_SOCKET'), `cause codes ${causeCodes(err).join(',')}`)
})

t.test('a silent TCP peer is a connect timeout (the TLS handshake is part of connecting)', async (t) => {
  const port = await tcpServer(t, () => {})
  const client = await upstreamClient(t, { timeouts: { connect: 100, headers: 2000, idle: 2000 } })
  const url = new URL(`https://127.0.0.1:${port}/x.bin`)
  const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
  assertMapped(t, err, 'DSM_UPSTREAM_TIMEOUT', err.cause, url, 'connect timeout')
  t.ok(causeCodes(err).includes('UND_ERR_CONNECT_TIMEOUT'), `cause codes ${causeCodes(err).join(',')}`)
})

t.test('no response headers in time is DSM_UPSTREAM_TIMEOUT (headers)', async (t) => {
  const pki = await getTestPki()
  const server = https.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem }, () => {})
  const port = await listen(server)
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  const client = await upstreamClient(t, { timeouts: { connect: 2000, headers: 100, idle: 2000 } })
  const url = new URL(`https://127.0.0.1:${port}/x.bin`)
  const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
  assertMapped(t, err, 'DSM_UPSTREAM_TIMEOUT', err.cause, url, 'headers timeout')
  t.ok(causeCodes(err).includes('UND_ERR_HEADERS_TIMEOUT'), `cause codes ${causeCodes(err).join(',')}`)
})

t.test('a stalled body is DSM_UPSTREAM_TIMEOUT (body)', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/stall.bin', { body: Buffer.alloc(4096, 1), stallAfter: 100 })
  const client = await upstreamClient(t, { timeouts: { connect: 2000, headers: 2000, idle: 100 } })
  const url = new URL(`${upstream.origin}/stall.bin`)
  const res = await client.request(url, { method: 'GET', headers: {} })
  t.equal(res.status, 200)
  let bodyError: unknown
  try {
    for await (const chunk of res.body) void chunk
  } catch (err: unknown) {
    bodyError = err
  }
  t.ok(causeCodes(bodyError).includes('UND_ERR_BODY_TIMEOUT'), 'the body stream fails with the real body timeout')
  assertMapped(t, mapUpstreamError(bodyError, url), 'DSM_UPSTREAM_TIMEOUT', bodyError, url, 'body timeout')
})

t.test('real TLS failures are DSM_UPSTREAM_TLS', async (t) => {
  const pki = await getTestPki()
  // A root constrained to another name, signing a leaf for 127.0.0.1/localhost: OpenSSL refuses
  // it with X509_V_ERR_PERMITTED_VIOLATION, which Node reports as code 'UNSPECIFIED'.
  const constrained = await createRootCa({ commonName: 'dsmirror test constrained root', lifetimeMs: 86_400_000, permittedNames: ['only.example'] })
  const outside = await issueLeaf({ issuer: constrained, names: ['localhost', '127.0.0.1'], lifetimeMs: 86_400_000 })
  const cases: Array<[string, { certPem: string, keyPem: string }, string[], RegExp]> = [
    ['untrusted CA', pki.otherLeaf, [pki.rootCa.certPem], /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/],
    ['wrong name', pki.wrongNameLeaf, [pki.rootCa.certPem], /ERR_TLS_CERT_ALTNAME_INVALID/],
    ['expired', pki.expiredLeaf, [pki.rootCa.certPem], /CERT_HAS_EXPIRED/],
    ['not yet valid', pki.notYetValidLeaf, [pki.rootCa.certPem], /CERT_NOT_YET_VALID/],
    ['missing intermediate', pki.chainLeafAlone, [pki.rootCa.certPem], /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/],
    ['untrusted root sent in the chain', { certPem: pki.otherLeaf.certPem + pki.otherCa.certPem, keyPem: pki.otherLeaf.keyPem }, [pki.rootCa.certPem], /SELF_SIGNED_CERT_IN_CHAIN/],
    ['a CA certificate as server certificate', pki.otherCa, [pki.otherCa.certPem], /INVALID_PURPOSE|ALTNAME/],
    ['name constraints', outside, [constrained.certPem], /subtree violation/]
  ]
  for (const [name, tls, ca, detail] of cases) {
    const upstream = await startUpstream({ tls })
    upstream.set('/x.bin', { body: Buffer.from('x') })
    const client = await upstreamClient(t, { ca })
    const url = new URL(`${upstream.origin}/x.bin`)
    const err = await rejection(client.request(url, { method: 'GET', headers: {} }))
    await upstream.close()
    assertMapped(t, err, 'DSM_UPSTREAM_TLS', err.cause, url, name)
    t.match(err.message, detail, `${name}: the detail says which check failed`)
    t.equal(upstream.count(), 0, `${name}: no request was sent`)
  }
})
