// Issue #13 item 11: cache.immutable patterns only extend heuristic freshness (RFC 9111 §4.2.2);
// what the upstream says explicitly wins. Paths end in the default patterns (*.bin, ...).
import type { Row, Scripted, Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const V1: [string, string] = ['ETag', '"v1"']
const LM: [string, string] = ['Last-Modified', '{imf-31536000}']

/** Two GETs of `<id><ext>`: the second is a hit when `reused`, else goes to the origin. */
function twice (id: string, rfc: string, title: string, ext: string, origin: Scripted[], reused: boolean, extra: Partial<Row> = {}): Row {
  return {
    id,
    rfc,
    title,
    ext,
    origin,
    steps: [
      { expect: { status: 200, body: 'r0' }, originCount: 1 },
      { expect: { status: 200, ...(reused ? { body: 'r0', cacheStatus: /^dsmirror; hit/ } : {}) }, originCount: reused ? 1 : 2 }
    ],
    ...extra
  }
}

const changed: Scripted[] = [{ headers: [CC('max-age=0'), V1] }, { headers: [CC('max-age=0'), ['ETag', '"v2"']] }]

export const immutable: Section = {
  name: 'immutable',
  title: 'item 11: cache.immutable never beats the upstream',
  rows: [
    twice('silent-bin', 'RFC 9111 §4.2.2', 'a *.bin with no freshness information stays a hit (heuristic, extended by the pattern)', '.bin', [{ headers: [V1, LM] }], true),
    twice('silent-old-age', 'RFC 9111 §4.2.2', 'a silent *.bin with a large Age stays a hit', '.bin', [{ headers: [V1, LM, ['Age', '99999999']] }], true),
    twice('silent-parquet', 'RFC 9111 §4.2.2', 'a silent *.parquet stays a hit', '.parquet', [{ headers: [V1] }], true),
    twice('public-only', 'RFC 9111 §4.2.2, §5.2.2.9', 'public alone gives no lifetime: the pattern still applies', '.bin', [{ headers: [CC('public'), V1] }], true),
    twice('immutable-directive', 'RFC 8246', 'Cache-Control: immutable with max-age is a hit', '.bin', [{ headers: [CC('max-age=31536000, immutable'), V1] }], true),
    twice('max-age-0', 'RFC 9111 §5.2.2.1', 'a *.bin with max-age=0 is revalidated', '.bin', [{ headers: [CC('max-age=0'), V1] }], false),
    twice('no-cache', 'RFC 9111 §5.2.2.4', 'a *.bin with no-cache is revalidated', '.bin', [{ headers: [CC('no-cache'), V1] }], false),
    twice('must-revalidate-stale', 'RFC 9111 §5.2.2.2', 'a stale *.bin with must-revalidate is revalidated', '.bin', [{ headers: [CC('max-age=60, must-revalidate'), ['Age', '120'], V1] }], false),
    twice('max-age-aged', 'RFC 9111 §4.2.3', 'a *.bin whose Age exceeds its max-age is revalidated', '.bin', [{ headers: [CC('max-age=3600'), ['Age', '7200'], V1] }], false),
    twice('max-age-fresh', 'RFC 9111 §5.2.2.1', 'a *.bin with max-age=3600 is a hit while fresh', '.bin', [{ headers: [CC('max-age=3600'), V1] }], true),
    twice('s-maxage-0', 'RFC 9111 §5.2.2.10', 'a *.bin with s-maxage=0 is revalidated', '.bin', [{ headers: [CC('max-age=3600, s-maxage=0'), V1] }], false),
    twice('expires-past', 'RFC 9111 §5.3', 'a *.bin with an Expires in the past is revalidated', '.bin', [{ headers: [['Expires', '{imf-3600}'], V1] }], false),
    twice('expires-invalid', 'RFC 9111 §5.3', 'a *.bin with Expires: 0 is revalidated', '.bin', [{ headers: [['Expires', '0'], V1] }], false),
    twice('expires-future', 'RFC 9111 §5.3', 'a *.bin with an Expires ahead is a hit', '.bin', [{ headers: [['Expires', '{imf+3600}'], V1] }], true),
    twice('vary-star', 'RFC 9111 §4.1', 'a *.bin with Vary: * is never reused', '.bin', [{ headers: [['Vary', '*'], V1] }], false),
    twice('no-store', 'RFC 9111 §5.2.2.5', 'a *.bin with no-store is not stored', '.bin', [{ headers: [CC('no-store'), V1] }], false),
    twice('private', 'RFC 9111 §5.2.2.7', 'a private *.bin is not stored', '.bin', [{ headers: [CC('private'), V1] }], false),
    twice('safetensors-no-cache', 'RFC 9111 §5.2.2.4', 'a *.safetensors with no-cache is revalidated', '.safetensors', [{ headers: [CC('no-cache'), V1] }], false),
    twice('parquet-max-age-0', 'RFC 9111 §5.2.2.1', 'a *.parquet with max-age=0 is revalidated', '.parquet', [{ headers: [CC('max-age=0'), V1] }], false),
    {
      id: 'changed-validator',
      rfc: 'RFC 9111 §4.3.3',
      title: 'a *.bin with max-age=0 and a new ETag on every answer: the new body is served',
      ext: '.bin',
      origin: changed,
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r1', headers: { etag: '"v2"' } }, originCount: 2 }]
    },
    {
      id: 'hub-resolve-main',
      rfc: 'RFC 9111 §5.2.2.4',
      title: 'a Hub-style resolve/main/*.safetensors with no-cache follows the upstream',
      ext: '.safetensors',
      origin: [{ headers: [CC('public, max-age=0, must-revalidate'), V1] }, { headers: [CC('public, max-age=0, must-revalidate'), ['ETag', '"v2"']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'revalidated-304',
      rfc: 'RFC 9111 §4.3.4',
      title: 'a *.bin with max-age=0 answered 304 is served from the cache',
      ext: '.bin',
      origin: [{ headers: [CC('max-age=0'), V1] }, { status: 304, headers: [V1, CC('max-age=0')] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r0' }, originCount: 2 }]
    },
    twice('json-silent', 'RFC 9111 §4.2.2', 'a silent *.json without Last-Modified (not a pattern) is revalidated', '.json', [{ headers: [V1] }], false),
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    twice('proxy-revalidate-stale', 'RFC 9111 §5.2.2.8', 'a stale *.bin with proxy-revalidate is revalidated by a shared cache', '.bin', [{ headers: [CC('max-age=60, proxy-revalidate'), ['Age', '120'], V1] }], false),
    twice('s-maxage-aged', 'RFC 9111 §5.2.2.10, §4.2.3', 'a *.bin whose Age exceeds its s-maxage is revalidated', '.bin', [{ headers: [CC('s-maxage=60'), ['Age', '120'], V1] }], false),
    twice('long-max-age-no-cache', 'RFC 9111 §5.2.2.4', 'a *.bin with max-age=31536000, no-cache is revalidated (no-cache wins)', '.bin', [{ headers: [CC('max-age=31536000, no-cache'), V1] }], false),
    twice('expires-utc', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'a *.bin whose Expires is spelled with UTC (invalid) is revalidated', '.bin', [{ headers: [['Expires', '{utc+3600}'], V1] }], false),
    {
      id: 'request-no-cache',
      rfc: 'RFC 9111 §5.2.1.4',
      title: 'a client no-cache on a stored *.bin is validated with the origin',
      ext: '.bin',
      origin: [{ headers: [V1, LM] }],
      steps: [{ expect: { status: 200, body: 'r0' }, originCount: 1 }, { headers: { 'cache-control': 'no-cache' }, expect: { status: 200 }, originCount: 2, originSaw: { 'if-none-match': '"v1"' } }]
    },
    {
      id: 'request-max-age-0',
      rfc: 'RFC 9111 §5.2.1.1',
      title: 'a client max-age=0 on a stored *.bin is validated with the origin',
      ext: '.bin',
      origin: [{ headers: [V1, LM] }],
      steps: [{ expect: { status: 200, body: 'r0' }, originCount: 1 }, { headers: { 'cache-control': 'max-age=0' }, expect: { status: 200 }, originCount: 2 }]
    },
    {
      id: 'vary-accept',
      rfc: 'RFC 9111 §4.1',
      title: 'a *.bin with Vary: Accept is not served to a request with another Accept',
      ext: '.bin',
      origin: [{ headers: [['Vary', 'Accept'], V1, LM] }],
      steps: [{ headers: { accept: 'a/b' }, expect: { status: 200, body: 'r0' }, originCount: 1 }, { headers: { accept: 'c/d' }, expect: { status: 200, body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'post-invalidates',
      rfc: 'RFC 9111 §4.4',
      title: 'a POST answered 200 invalidates a stored *.bin',
      ext: '.bin',
      origin: (req) => req.method === 'POST' ? { status: 200 } : { headers: [V1, LM] },
      steps: [{ expect: { status: 200 }, originCount: 1 }, { method: 'POST', body: 'x', expect: { status: 200 }, originCount: 2 }, { expect: { status: 200 }, originCount: 3 }]
    },
    {
      id: 'only-if-cached-stale',
      rfc: 'RFC 9111 §5.2.1.7',
      title: 'only-if-cached on a *.bin stored with max-age=0: 504',
      ext: '.bin',
      origin: [{ headers: [CC('max-age=0'), V1] }],
      steps: [{ expect: { status: 200 }, originCount: 1 }, { headers: { 'cache-control': 'only-if-cached' }, expect: { status: 504 }, originCount: 1 }]
    },
    {
      id: 'replaced-then-hit',
      rfc: 'RFC 9111 §4.3.3',
      title: 'a stale *.bin answered 200 with a new ETag is replaced; the new body is then the hit',
      ext: '.bin',
      origin: [{ headers: [CC('max-age=0'), V1] }, { headers: [CC('max-age=3600'), ['ETag', '"v2"']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r1' }, originCount: 2 }, { expect: { status: 200, body: 'r1', headers: { etag: '"v2"' } }, originCount: 2 }]
    },
    {
      id: 'negative-max-age-0',
      rfc: 'RFC 9111 §4.2.1',
      title: 'a 404 for a *.bin with max-age=0 is not reused',
      ext: '.bin',
      origin: [{ status: 404, headers: [CC('max-age=0')] }],
      steps: [{ expect: { status: 404, body: 'r0' }, originCount: 1 }, { expect: { status: 404, body: 'r1' }, originCount: 2 }]
    }
  ]
}
