// Issue #13 item 6: updating stored responses from a 304 (RFC 9111 §4.3.4, §3.2).
import type { Row, Section, Step } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const FIRST: Array<[string, string]> = [CC('max-age=0'), ['ETag', '"v1"'], ['Content-Type', 'text/plain'], ['X-Version', 'one']]

/** Store (stale at once), revalidate with a 304 carrying `notModified`, then ask a third time. */
function afterNotModified (id: string, rfc: string, title: string, notModified: Array<[string, string]>, second: Step['expect'], third: Step['expect'], thirdCount = 3): Row {
  return {
    id,
    rfc,
    title,
    origin: [{ headers: FIRST }, { status: 304, headers: [['ETag', '"v1"'], ...notModified] }],
    steps: [
      { expect: { status: 200, body: 'r0' }, originCount: 1 },
      { expect: { status: 200, body: 'r0', ...second }, originCount: 2, originSaw: { 'if-none-match': '"v1"' } },
      { expect: { status: 200, body: 'r0', ...third }, originCount: thirdCount }
    ]
  }
}

export const notModified: Section = {
  name: 'not-modified',
  title: 'item 6: 304 handling',
  rows: [
    afterNotModified('freshens', 'RFC 9111 §4.3.4', 'a 304 with max-age=3600 makes the entry fresh', [CC('max-age=3600')], {}, { cacheStatus: /^dsmirror; hit/ }, 2),
    afterNotModified('updates-custom', 'RFC 9111 §4.3.4, §3.2', 'a 304 updates an end-to-end field', [CC('max-age=3600'), ['X-Version', 'two']], { headers: { 'x-version': 'two' } }, { headers: { 'x-version': 'two' } }, 2),
    afterNotModified('adds-field', 'RFC 9111 §3.2', 'a 304 adds a new field to the stored response', [CC('max-age=3600'), ['X-New', 'yes']], { headers: { 'x-new': 'yes' } }, { headers: { 'x-new': 'yes' } }, 2),
    afterNotModified('updates-content-type', 'RFC 9111 §3.2', 'a 304 may update Content-Type', [CC('max-age=3600'), ['Content-Type', 'text/csv']], { headers: { 'content-type': 'text/csv' } }, { headers: { 'content-type': 'text/csv' } }, 2),
    afterNotModified('keeps-content-length', 'RFC 9111 §3.2', 'a 304 never updates Content-Length', [CC('max-age=3600'), ['Content-Length', '999']], { headers: { 'content-length': '2' } }, { headers: { 'content-length': '2' } }, 2),
    afterNotModified('keeps-content-encoding', 'RFC 9111 §3.2', 'a 304 does not change the stored bytes\' Content-Encoding', [CC('max-age=3600'), ['Content-Encoding', 'gzip']], { headers: { 'content-encoding': null } }, { headers: { 'content-encoding': null } }, 2),
    afterNotModified('keeps-content-range', 'RFC 9111 §3.2', 'a 304 never adds Content-Range to a whole response', [CC('max-age=3600'), ['Content-Range', 'bytes 0-0/2']], { headers: { 'content-range': null } }, { headers: { 'content-range': null } }, 2),
    afterNotModified('keeps-content-digest', 'RFC 9111 §3.2, RFC 9530', 'a 304 does not change the digest of the stored bytes', [CC('max-age=3600'), ['Content-Digest', 'sha-256=:AAAA:']], { headers: { 'content-digest': null } }, { headers: { 'content-digest': null } }, 2),
    afterNotModified('set-cookie-not-stored', 'RFC 9111 §3.1, §4.3.4', 'a 304 with Set-Cookie: the stored response never carries it', [CC('max-age=3600'), ['Set-Cookie', 'a=1']], { headers: { 'set-cookie': null } }, { headers: { 'set-cookie': null } }, 2),
    afterNotModified('connection-listed-not-stored', 'RFC 9111 §3.1, RFC 9110 §7.6.1', 'a field the 304 names in Connection is not stored', [CC('max-age=3600'), ['Connection', 'x-hop'], ['X-Hop', '1']], { headers: { 'x-hop': null } }, { headers: { 'x-hop': null } }, 2),
    afterNotModified('keeps-etag', 'RFC 9111 §4.3.4', 'the entry keeps its ETag through a 304', [CC('max-age=3600')], { headers: { etag: '"v1"' } }, { headers: { etag: '"v1"' } }, 2),
    afterNotModified('still-stale', 'RFC 9111 §4.3.4', 'a 304 with max-age=0 leaves the entry stale: the next request revalidates again', [CC('max-age=0')], {}, {}, 3),
    {
      id: 'weak-etag-selects',
      rfc: 'RFC 9111 §4.3.4',
      title: 'a 304 with W/"v1" selects the stored "v1" (weak comparison) and updates it',
      origin: [{ headers: FIRST }, { status: 304, headers: [['ETag', 'W/"v1"'], CC('max-age=3600'), ['X-Version', 'two']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r0', headers: { 'x-version': 'two' } }, originCount: 2 }, { expect: { status: 200, body: 'r0' }, originCount: 2 }]
    },
    {
      id: 'mismatched-etag',
      rfc: 'RFC 9111 §4.3.4',
      title: 'a 304 with a different strong ETag does not update the stored response',
      origin: [{ headers: FIRST }, { status: 304, headers: [['ETag', '"other"'], CC('max-age=3600'), ['X-Version', 'two']] }, { headers: [CC('max-age=3600'), ['ETag', '"v3"']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r2', headers: { 'x-version': null, etag: '"v3"' } }, originCount: 3 }]
    },
    {
      id: 'head-304-updates',
      rfc: 'RFC 9111 §4.3.5, §4.3.4',
      title: 'a HEAD revalidation 304 updates headers but not Content-Encoding',
      origin: [{ headers: FIRST }, { status: 304, headers: [['ETag', '"v1"'], CC('max-age=3600'), ['X-Version', 'two'], ['Content-Encoding', 'gzip']] }],
      steps: [{ expect: { status: 200 } }, { method: 'HEAD', expect: { status: 200, headers: { 'x-version': 'two', 'content-encoding': null } }, originCount: 2 }]
    },
    {
      id: 'set-cookie-304-no-500',
      rfc: 'RFC 9111 §4.3.4',
      title: 'a 304 with two Set-Cookie lines never turns into an error',
      origin: [{ headers: FIRST }, { status: 304, headers: [['ETag', '"v1"'], CC('max-age=0'), ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']] }],
      steps: [{ expect: { status: 200 } }, { expect: { status: 200, body: 'r0', headers: { 'set-cookie': null } }, originCount: 2 }, { expect: { status: 200, body: 'r0', headers: { 'set-cookie': null } }, originCount: 3 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    afterNotModified('connection-listed-keeps-stored', 'RFC 9111 §3.2, RFC 9110 §7.6.1', 'a field the 304 names in Connection does not replace the stored value', [CC('max-age=3600'), ['Connection', 'x-version'], ['X-Version', 'two']], { headers: { 'x-version': 'one' } }, { headers: { 'x-version': 'one' } }, 2),
    {
      id: 'last-modified-selects',
      rfc: 'RFC 9111 §4.3.4',
      title: 'an entry with only Last-Modified is selected by a 304 with that Last-Modified, and updated',
      origin: [{ headers: [CC('max-age=0'), ['Last-Modified', 'Wed, 01 Jan 2025 00:00:00 GMT'], ['X-Version', 'one']] }, { status: 304, headers: [CC('max-age=3600'), ['Last-Modified', 'Wed, 01 Jan 2025 00:00:00 GMT'], ['X-Version', 'two'], ['Content-Encoding', 'gzip']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r0', headers: { 'x-version': 'two', 'content-encoding': null } }, originCount: 2, originSaw: { 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' } }, { expect: { status: 200, body: 'r0', headers: { 'content-encoding': null } }, originCount: 2 }]
    }
  ]
}
