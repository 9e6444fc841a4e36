// Malformed requests are refused on the listener, before routing or any upstream connection:
// path traversal in raw and encoded forms (400 DSM_BAD_PATH), CR/LF header injection (encoded:
// DSM_BAD_PATH; raw: Node's parser, 400 DSM_CLIENT_BAD_REQUEST), request smuggling with
// Content-Length + Transfer-Encoding and friends (RFC 9112 §6.3, §11.2: Node's parser refuses,
// 400 DSM_CLIENT_BAD_REQUEST, and the connection is closed so a smuggled second request is
// never read), and oversized URLs and headers (Node's 16 KiB maxHeaderSize, 431
// DSM_CLIENT_HEADERS_TOO_LARGE). Sent byte for byte over raw sockets to 127.0.0.1.
import t from 'tap'
import { MAX_URL_BYTES } from '../../server/app.js'
import { MAX_HEADER_BYTES } from '../../server/http/client-errors.js'
import { startCanary } from '../helpers/canary.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

interface Row {
  name: string
  lines: string[]
  body?: string
  status: number
  code: string
  /**
   * The head is valid and only the body's framing is broken, so the request is routed to the
   * pass-through before the parser fails: it may dial the (allowed) upstream, but no request
   * may reach it.
   */
  bodyOnly?: true
}

t.test('malformed requests are refused and reach nothing', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/ok.bin', { body: Buffer.from('fine') })
  upstream.set('/secret', { body: Buffer.from('must never be served') })
  const P = upstream.port
  const canary = await startCanary(t, { port: P })
  const h = upstream.host
  const proxy = await startProxy({ allowHosts: [h], config: { mirrors: { local: { url: `${upstream.origin}/files/` } } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)

  const get = (target: string, ...headers: string[]): string[] => [`GET ${target} HTTP/1.1`, 'host: 127.0.0.1', ...headers]
  const BAD_PATH = 'DSM_BAD_PATH'
  const BAD_REQUEST = 'DSM_CLIENT_BAD_REQUEST'
  const TOO_LARGE = 'DSM_CLIENT_HEADERS_TOO_LARGE'
  const smuggled = `GET /${h}/secret HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`

  const rows: Row[] = [
    // Path traversal, raw and encoded (the decoded segment is what an upstream would resolve).
    { name: 'dot-dot', lines: get(`/${h}/a/../secret`), status: 400, code: BAD_PATH },
    { name: 'trailing dot-dot', lines: get(`/${h}/a/..`), status: 400, code: BAD_PATH },
    { name: 'encoded dot-dot', lines: get(`/${h}/a/%2e%2e/secret`), status: 400, code: BAD_PATH },
    { name: 'upper-case encoded dot-dot', lines: get(`/${h}/a/%2E%2E/secret`), status: 400, code: BAD_PATH },
    { name: 'half-encoded dot-dot (.%2e)', lines: get(`/${h}/a/.%2e/secret`), status: 400, code: BAD_PATH },
    { name: 'half-encoded dot-dot (%2e.)', lines: get(`/${h}/a/%2e./secret`), status: 400, code: BAD_PATH },
    { name: 'dot segment', lines: get(`/${h}/./secret`), status: 400, code: BAD_PATH },
    { name: 'encoded slash', lines: get(`/${h}/a%2f..%2fsecret`), status: 400, code: BAD_PATH },
    { name: 'encoded slash, upper-case', lines: get(`/${h}/a%2F..%2Fsecret`), status: 400, code: BAD_PATH },
    { name: 'raw backslash traversal', lines: get(`/${h}/a\\..\\secret`), status: 400, code: BAD_PATH },
    { name: 'encoded backslash traversal', lines: get(`/${h}/a%5c..%5csecret`), status: 400, code: BAD_PATH },
    { name: 'overlong UTF-8 dot-dot (%c0%ae, CVE-2000-0884 class)', lines: get(`/${h}/a/%c0%ae%c0%ae/secret`), status: 400, code: BAD_PATH },
    { name: 'overlong UTF-8 slash (%c0%af)', lines: get(`/${h}/a%c0%af..%c0%afsecret`), status: 400, code: BAD_PATH },
    { name: 'malformed percent-encoding', lines: get(`/${h}/%zz`), status: 400, code: BAD_PATH },
    { name: 'truncated percent-encoding', lines: get(`/${h}/a%2`), status: 400, code: BAD_PATH },
    { name: 'encoded NUL (extension truncation)', lines: get(`/${h}/secret%00.bin`), status: 400, code: BAD_PATH },
    { name: 'empty segment (//)', lines: get(`/${h}//secret`), status: 400, code: BAD_PATH },
    { name: 'mirror escape by dot-dot', lines: get('/local/../secret'), status: 400, code: BAD_PATH },
    { name: 'mirror escape by encoded dot-dot', lines: get('/local/%2e%2e/secret'), status: 400, code: BAD_PATH },
    { name: 'mirror escape by empty segment', lines: get('/local//127.0.0.2/x'), status: 400, code: BAD_PATH },
    { name: 'mirror escape by encoded slash', lines: get('/local/..%2f..%2fsecret'), status: 400, code: BAD_PATH },
    { name: 'dot-dot in the query is fine, in the path before it is not', lines: get(`/${h}/a/../secret?x=../y`), status: 400, code: BAD_PATH },

    // CR/LF injection: encoded it would reach the upstream request line; raw, the parser refuses.
    { name: 'encoded CRLF in the path (response/request splitting)', lines: get(`/${h}/ok.bin%0d%0ax-injected:%201`), status: 400, code: BAD_PATH },
    { name: 'encoded LF in the path', lines: get(`/${h}/ok.bin%0ax-injected:%201`), status: 400, code: BAD_PATH },
    { name: 'encoded CRLF in a mirror path', lines: get('/local/x%0d%0ahost:%20127.0.0.2'), status: 400, code: BAD_PATH },
    { name: 'bare CR inside a header value', lines: get(`/${h}/ok.bin`, 'x-a: 1\rx-injected: 1'), status: 400, code: BAD_REQUEST },
    { name: 'bare CR in the request line', lines: [`GET /${h}/ok.bin\rx HTTP/1.1`, 'host: 127.0.0.1'], status: 400, code: BAD_REQUEST },
    { name: 'space inside the request target', lines: [`GET /${h}/ok.bin x HTTP/1.1`, 'host: 127.0.0.1'], status: 400, code: BAD_REQUEST },
    { name: 'NUL in a header value', lines: get(`/${h}/ok.bin`, 'x-a: 1\u0000x'), status: 400, code: BAD_REQUEST },
    { name: 'obs-fold continuation line (RFC 9112 §5.2)', lines: get(`/${h}/ok.bin`, 'x-a: 1', ' x-injected: 1'), status: 400, code: BAD_REQUEST },
    { name: 'space before the colon (RFC 9112 §5.1)', lines: get(`/${h}/ok.bin`, 'x-a : 1'), status: 400, code: BAD_REQUEST },
    { name: 'header name with a control character', lines: get(`/${h}/ok.bin`, 'x\u0001a: 1'), status: 400, code: BAD_REQUEST },

    // Request smuggling: each would let a front proxy and dsmirror disagree on where the next
    // request starts. Each carries a smuggled GET of /secret that must never be read.
    { name: 'CL.TE: Content-Length and Transfer-Encoding', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', `content-length: ${5 + smuggled.length}`, 'transfer-encoding: chunked'], body: `0\r\n\r\n${smuggled}`, status: 400, code: BAD_REQUEST },
    { name: 'TE.CL: Transfer-Encoding first', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding: chunked', 'content-length: 4'], body: `5c\r\n${smuggled}\r\n0\r\n\r\n`, status: 400, code: BAD_REQUEST },
    { name: 'two different Content-Lengths', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'content-length: 0', `content-length: ${smuggled.length}`], body: smuggled, status: 400, code: BAD_REQUEST },
    { name: 'Content-Length list with different values', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', `content-length: 0, ${smuggled.length}`], body: smuggled, status: 400, code: BAD_REQUEST },
    { name: 'signed Content-Length', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', `content-length: +${smuggled.length}`], body: smuggled, status: 400, code: BAD_REQUEST },
    { name: 'Transfer-Encoding not ending in chunked', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding: chunked, identity'], body: `0\r\n\r\n${smuggled}`, status: 400, code: BAD_REQUEST },
    { name: 'obfuscated Transfer-Encoding (xchunked)', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding: xchunked'], body: `0\r\n\r\n${smuggled}`, status: 400, code: BAD_REQUEST, bodyOnly: true },
    { name: 'Transfer-Encoding with a vertical tab', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding:\u000bchunked'], body: `0\r\n\r\n${smuggled}`, status: 400, code: BAD_REQUEST },
    { name: 'bad chunk size', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding: chunked'], body: `zz\r\n${smuggled}\r\n0\r\n\r\n`, status: 400, code: BAD_REQUEST, bodyOnly: true },
    { name: 'chunk extension with a bare LF', lines: [`POST /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1', 'transfer-encoding: chunked'], body: `0;x\n\r\n${smuggled}`, status: 400, code: BAD_REQUEST, bodyOnly: true },

    // Oversized: Node's parser stops at MAX_HEADER_BYTES for the request line and headers together.
    { name: `URL longer than MAX_URL_BYTES (${MAX_URL_BYTES})`, lines: get(`/${h}/${'a'.repeat(MAX_URL_BYTES)}`), status: 431, code: TOO_LARGE },
    { name: 'one header over the limit', lines: get(`/${h}/ok.bin`, `x-big: ${'b'.repeat(MAX_HEADER_BYTES)}`), status: 431, code: TOO_LARGE },
    { name: 'many headers over the limit together', lines: get(`/${h}/ok.bin`, ...Array.from({ length: 300 }, (_, i) => `x-h${i}: ${'c'.repeat(60)}`)), status: 431, code: TOO_LARGE },
    { name: 'cookie over the limit', lines: get(`/${h}/ok.bin`, `cookie: a=${'d'.repeat(MAX_HEADER_BYTES)}`), status: 431, code: TOO_LARGE }
  ]

  // Body-only rows last, so a pass-through still dialling cannot be counted against another row.
  rows.sort((a, b) => Number(a.bodyOnly === true) - Number(b.bodyOnly === true))
  for (const row of rows) {
    const c0 = upstream.connections
    const res = await rawRequest(port, row.lines, { ...(row.body === undefined ? {} : { body: row.body }) })
    t.equal(res.status, row.status, `${row.name}: ${row.status}`)
    t.match(res.body, `"code":"${row.code}"`, `${row.name}: ${row.code}`)
    t.match(res.headers['cache-status'] ?? '', `detail=${row.code}`, `${row.name}: Cache-Status names the code`)
    // Node answers and closes: rawRequest read to the end, so one response only, no second
    // (smuggled) one after it.
    t.equal(res.raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `${row.name}: exactly one response, then close`)
    if (row.bodyOnly !== true) t.equal(upstream.connections, c0, `${row.name}: refused before any upstream connection`)
  }
  t.equal(upstream.requests.length, 0, 'no malformed request reached the upstream')
  t.equal(upstream.count('/secret'), 0, 'no smuggled request was read')
  t.equal(canary.connections, 0)
  t.comment(`${rows.length} malformed requests refused`)

  // Just under the limit is served: the limit is Node's header size, not a smaller one of ours.
  const path = `/${h}/ok.bin?pad=${'p'.repeat(MAX_HEADER_BYTES - 200)}`
  upstream.set(path.slice(h.length + 1), { body: Buffer.from('long but fine') })
  const long = await rawRequest(port, get(path))
  t.equal(long.status, 200, 'a URL just under the header limit is served')
  t.equal(long.body, 'long but fine')
})
