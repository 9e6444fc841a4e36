// The cold path's response parser (server/upstream/h1-parser.ts, issue 14): framing by RFC 9112
// §6.3, whatever the read boundaries, and every framing it does not allow refused with an HPE_
// code (which mapUpstreamError reports as DSM_UPSTREAM_BAD_RESPONSE), never guessed.
import t, { type Test } from 'tap'
import { ResponseParser, type ResponseHead } from '../../server/upstream/h1-parser.js'
import { mapUpstreamError } from '../../server/upstream/upstream.js'

interface Parsed { heads: ResponseHead[], body: Buffer, ended: number, trailing: boolean }

/** Feeds `wire` in pieces of `step` bytes (one buffer reused for every piece, as the client does). */
function parse (wire: string | Buffer, step = Number.MAX_SAFE_INTEGER, maxHead = 16 * 1024, eof = false): Parsed {
  const bytes = typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire
  const out: Parsed = { heads: [], body: Buffer.alloc(0), ended: 0, trailing: false }
  const pieces: Buffer[] = []
  const parser = new ResponseParser({
    onHead: (h) => { out.heads.push(h) },
    onBody: (view) => { pieces.push(Buffer.from(view)) },
    onEnd: () => { out.ended++ }
  }, maxHead)
  const reused = Buffer.alloc(Math.min(step, bytes.length) || 1)
  for (let at = 0; at < bytes.length; at += step) {
    const n = bytes.copy(reused, 0, at, Math.min(at + step, bytes.length))
    parser.execute(reused.subarray(0, n))
    // The same memory is overwritten by the next read: a view kept past onBody would change.
    reused.fill(0x23)
  }
  if (eof) parser.finish()
  out.body = Buffer.concat(pieces)
  out.trailing = parser.trailingBytes
  return out
}

function refused (t: Test, wire: string, code: RegExp, what: string): void {
  let thrown: unknown = null
  try {
    parse(wire)
  } catch (err: unknown) {
    thrown = err
  }
  t.match(thrown, { code }, `${what}: refused with ${String(code)}`)
  t.equal(mapUpstreamError(thrown, new URL('https://up.example/x')).code, 'DSM_UPSTREAM_BAD_RESPONSE', `${what}: a bad response, not a connection failure`)
}

const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(33 + (i % 90))).join(''), 'latin1')
const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n' +
  `400;name=value\r\n${body.subarray(0, 1024).toString('latin1')}\r\n` +
  `7B8\r\n${body.subarray(1024).toString('latin1')}\r\n0\r\nX-Trailer: dropped\r\n\r\n`

t.test('every framing gives the same body, whatever the read boundaries', async (t) => {
  const lengthWire = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body.toString('latin1')}`
  for (const step of [1, 2, 7, 1024, 100_000]) {
    const a = parse(lengthWire, step)
    t.same([a.heads.length, a.ended, a.body.equals(body)], [1, 1, true], `Content-Length, reads of ${step}`)
    const c = parse(chunked, step)
    t.same([c.heads.length, c.ended, c.body.equals(body)], [1, 1, true], `chunked with extensions and trailers, reads of ${step}`)
    t.same(c.heads[0]?.headers['x-a'], ['1', '2'], 'a repeated field is an array, names lower-cased')
  }
  const close = parse(`HTTP/1.1 200 OK\r\n\r\n${body.toString('latin1')}`, 500, 16384, true)
  t.same([close.ended, close.body.equals(body), close.heads[0]?.keepAlive], [1, true, false], 'no length: the body ends at the close, and the connection is not reused')
  t.equal(parse(`HTTP/1.1 200 OK\r\n\r\n${body.toString('latin1')}`).ended, 0, 'a close-delimited body has not ended before the close')
})

t.test('what ends a response, and whether the connection may be reused', async (t) => {
  t.same(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n').ended, 1, '304 has no body, whatever Content-Length says')
  t.same(parse('HTTP/1.1 204 No Content\r\n\r\n').ended, 1, '204 has no body')
  const hints = parse('HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  t.same([hints.heads.length, hints.heads[0]?.status, hints.body.toString()], [1, 200, 'ok'], '1xx is skipped: the final response follows')
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n').heads[0]?.keepAlive, false, 'Connection: close')
  t.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').heads[0]?.keepAlive, false, 'HTTP/1.0')
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').heads[0]?.keepAlive, true, 'HTTP/1.1, framed')
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA').trailing, true, 'bytes after the body are noticed')
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello').body.toString(), 'hello', 'the same Content-Length twice is that length')
})

t.test('framing it does not allow is refused, never guessed', async (t) => {
  refused(t, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', /^HPE_UNEXPECTED_CONTENT_LENGTH$/, 'Content-Length with Transfer-Encoding')
  refused(t, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /^HPE_UNEXPECTED_CONTENT_LENGTH$/, 'two different Content-Lengths')
  refused(t, 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n', /^HPE_UNEXPECTED_CONTENT_LENGTH$/, 'a Content-Length list')
  refused(t, 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n', /^HPE_UNEXPECTED_CONTENT_LENGTH$/, 'a signed Content-Length')
  refused(t, 'HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n', /^HPE_UNEXPECTED_CONTENT_LENGTH$/, 'a hex Content-Length')
  refused(t, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /^HPE_INVALID_TRANSFER_ENCODING$/, 'a coding besides chunked')
  refused(t, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\na\r\n', /^HPE_INVALID_CHUNK_SIZE$/, 'a chunk size parseInt would take')
  refused(t, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', /^HPE_INVALID_CHUNK_SIZE$/, 'a negative chunk size')
  refused(t, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', /^HPE_STRICT$/, 'a chunk longer than its size')
  refused(t, 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n', /^HPE_INVALID_HEADER_TOKEN$/, 'obs-fold')
  refused(t, 'HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n', /^HPE_INVALID_HEADER_TOKEN$/, 'a space in a field name')
  refused(t, 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n', /^HPE_LF_EXPECTED$/, 'a bare CR')
  refused(t, 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n', /^HPE_INVALID_HEADER_TOKEN$/, 'a NUL in a value')
  refused(t, 'HTTP/2 200\r\n\r\n', /^HPE_INVALID_CONSTANT$/, 'not HTTP/1.x')
  refused(t, 'HTTP/1.1 20 OK\r\n\r\n', /^HPE_INVALID_CONSTANT$/, 'a two-digit status')
  refused(t, 'HTTP/1.1 101 Switching Protocols\r\n\r\n', /^HPE_INVALID_CONSTANT$/, 'an upgrade never asked for')
  refused(t, `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HPE_HEADER_OVERFLOW$/, 'a head over the limit')
  refused(t, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'X-T: aaaaaaaa\r\n'.repeat(2000)}\r\n`, /^HPE_HEADER_OVERFLOW$/, 'trailers over the limit')
})
