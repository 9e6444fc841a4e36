// Issue #13 item 9: which fields a stored or forwarded response carries (RFC 9110 §7.6.1; RFC 9111 §3.1).
import { reused, type Row, type Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]

/** Store and reuse; both the miss and the hit must meet `headers`. */
function onBoth (id: string, rfc: string, title: string, fields: Array<[string, string]>, headers: Record<string, string | RegExp | null>): Row {
  return {
    id,
    rfc,
    title,
    origin: [{ headers: [CC('max-age=3600'), ...fields] }],
    steps: [{ expect: { status: 200, headers }, originCount: 1 }, { expect: { status: 200, body: 'r0', headers }, originCount: 1 }]
  }
}

export const headers: Section = {
  name: 'headers',
  title: 'item 9: headers kept and stripped',
  rows: [
    onBoth('connection-listed', 'RFC 9110 §7.6.1, RFC 9111 §3.1', 'a field named in Connection is stripped, on the miss and the hit', [['Connection', 'x-hop'], ['X-Hop', '1'], ['X-End', '2']], { 'x-hop': null, 'x-end': '2' }),
    onBoth('connection-listed-two', 'RFC 9110 §7.6.1', 'every field named in Connection is stripped', [['Connection', 'x-a, X-B'], ['X-A', '1'], ['X-B', '2']], { 'x-a': null, 'x-b': null }),
    onBoth('keep-alive', 'RFC 9110 §7.6.1', 'Keep-Alive is not forwarded', [['Keep-Alive', 'timeout=5']], { 'keep-alive': null }),
    onBoth('upgrade', 'RFC 9110 §7.8', 'Upgrade is not forwarded', [['Upgrade', 'h2c']], { upgrade: null }),
    onBoth('proxy-authenticate', 'RFC 9110 §11.7.1', 'Proxy-Authenticate is not forwarded', [['Proxy-Authenticate', 'Basic realm="x"']], { 'proxy-authenticate': null }),
    onBoth('unknown-kept', 'RFC 9111 §3.1', 'an unknown end-to-end field is kept', [['X-Repo-Commit', 'abc123']], { 'x-repo-commit': 'abc123' }),
    onBoth('link-kept', 'RFC 9111 §3.1', 'Link is kept', [['Link', '</next>; rel="next"']], { link: '</next>; rel="next"' }),
    onBoth('content-location-kept', 'RFC 9111 §3.1', 'Content-Location is kept', [['Content-Location', '/x.json']], { 'content-location': '/x.json' }),
    onBoth('content-type-kept', 'RFC 9111 §3.1', 'Content-Type is kept', [['Content-Type', 'application/json']], { 'content-type': 'application/json' }),
    onBoth('content-disposition-kept', 'RFC 9111 §3.1', 'Content-Disposition is kept', [['Content-Disposition', 'attachment; filename="a.csv"']], { 'content-disposition': 'attachment; filename="a.csv"' }),
    onBoth('last-modified-kept', 'RFC 9111 §3.1', 'Last-Modified is kept', [['Last-Modified', '{imf-86400}']], { 'last-modified': /GMT$/ }),
    onBoth('etag-kept', 'RFC 9111 §3.1', 'ETag is kept', [['ETag', '"abc"']], { etag: '"abc"' }),
    onBoth('date-sent', 'RFC 9110 §6.6.1', 'Date is sent', [], { date: /GMT$/ }),
    onBoth('cache-status-replaced', 'RFC 9211 §2', "the upstream's Cache-Status is not passed off as this cache's", [['Cache-Status', 'other; hit']], { 'cache-status': /^dsmirror/ }),
    onBoth('content-length-correct', 'RFC 9110 §8.6', 'Content-Length is the body\'s', [], { 'content-length': '2' }),
    {
      id: 'set-cookie-not-on-hit',
      rfc: 'RFC 9111 §3.1 (policy), RFC 6265',
      title: 'Set-Cookie with public max-age: the response is not shared',
      origin: [{ headers: [CC('public, max-age=3600'), ['Set-Cookie', 's=1']] }],
      steps: [{ expect: { headers: { 'set-cookie': 's=1' } } }, { expect: { body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'connection-listed-pass-through',
      rfc: 'RFC 9110 §7.6.1',
      title: 'a field named in Connection is stripped from an uncached (no-store) response too',
      origin: [{ headers: [CC('no-store'), ['Connection', 'x-hop'], ['X-Hop', '1']] }],
      steps: [{ expect: { status: 200, headers: { 'x-hop': null } } }]
    },
    {
      id: 'connection-listed-negative',
      rfc: 'RFC 9110 §7.6.1',
      title: 'a field named in Connection is stripped from a remembered 404',
      origin: [{ status: 404, headers: [CC('max-age=3600'), ['Connection', 'x-hop'], ['X-Hop', '1']] }],
      steps: [{ expect: { status: 404, headers: { 'x-hop': null } } }, { expect: { status: 404, headers: { 'x-hop': null } }, originCount: 1 }]
    },
    { id: 'hit-has-age-once', rfc: 'RFC 9111 §5.1', title: 'a hit has exactly one Age', origin: [{ headers: [CC('max-age=3600'), ['Age', '1']] }], steps: reused({ expect: { headers: { age: /^\d+$/ } } }) },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    onBoth('connection-listed-case', 'RFC 9110 §7.6.1, §5.1', 'Connection names are case-insensitive: X-HOP strips x-hop', [['Connection', 'X-HOP'], ['x-hop', '1']], { 'x-hop': null }),
    onBoth('connection-listed-known-field', 'RFC 9110 §7.6.1', 'an end-to-end field (Link) named in Connection is stripped too', [['Connection', 'link'], ['Link', '</next>; rel="next"']], { link: null }),
    onBoth('connection-two-lines', 'RFC 9110 §7.6.1, §5.3', 'Connection on two lines: the fields named on both are stripped', [['Connection', 'x-a'], ['Connection', 'x-b'], ['X-A', '1'], ['X-B', '2']], { 'x-a': null, 'x-b': null }),
    onBoth('connection-empty-members', 'RFC 9110 §7.6.1, §5.6.1', 'empty list members in Connection are ignored; the named field is stripped', [['Connection', ', x-hop ,'], ['X-Hop', '1'], ['X-End', '2']], { 'x-hop': null, 'x-end': '2' })
  ]
}
