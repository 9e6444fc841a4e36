// Issue #13 item 5: conditional requests (RFC 9110 §13; RFC 9111 §4.3).
import type { OriginRequest, Row, Scripted, Section, Step } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
// A fixed date in the past (no row depends on today's date; any clock is later than this).
const LM = 'Wed, 01 Jan 2025 00:00:00 GMT'

/** Stored fresh with ETag `etag` and a Last-Modified a day ago. */
const stored = (etag: string, more: Array<[string, string]> = []): Scripted[] => [{ headers: [CC('max-age=3600'), ['ETag', etag], ['Last-Modified', LM], ...more] }]

/** Store with a plain GET, then ask with `headers`, expecting `status` from the cache (no origin request). */
function fromCache (id: string, rfc: string, title: string, origin: Scripted[], headers: Record<string, string>, status: number, method = 'GET'): Row {
  return { id, rfc, title, origin, steps: [{ expect: { status: 200 }, originCount: 1 }, { method, headers, expect: { status, ...(status === 304 ? { body: '' } : {}) }, originCount: 1 }] }
}

/** An origin that answers 304 to If-None-Match "v1" and 200 otherwise, as a validating origin would. */
const validating = (cc = 'max-age=3600') => (req: OriginRequest): Scripted =>
  (req.headers['if-none-match'] ?? '').includes('"v1"') ? { status: 304, headers: [['ETag', '"v1"'], CC(cc)] } : { headers: [['ETag', '"v1"'], CC(cc)] }

function missSteps (headers: Record<string, string>, saw: Step['originSaw'], status: number): Step[] {
  return [{ headers, expect: { status }, originCount: 1, originSaw: saw }]
}

export const conditionals: Section = {
  name: 'conditional',
  title: 'item 5: conditional requests',
  rows: [
    fromCache('inm-strong-match', 'RFC 9110 §13.1.2', 'If-None-Match with the stored ETag: 304 from the cache', stored('"v1"'), { 'if-none-match': '"v1"' }, 304),
    fromCache('inm-weak-client', 'RFC 9110 §13.1.2, §8.8.3.2', 'If-None-Match W/"v1" matches "v1" (weak comparison)', stored('"v1"'), { 'if-none-match': 'W/"v1"' }, 304),
    fromCache('inm-weak-stored', 'RFC 9110 §13.1.2, §8.8.3.2', 'If-None-Match "v1" matches a stored W/"v1"', stored('W/"v1"'), { 'if-none-match': '"v1"' }, 304),
    fromCache('inm-weak-both', 'RFC 9110 §13.1.2', 'W/"v1" matches W/"v1"', stored('W/"v1"'), { 'if-none-match': 'W/"v1"' }, 304),
    fromCache('inm-no-match', 'RFC 9110 §13.1.2', 'If-None-Match with another ETag: 200', stored('"v1"'), { 'if-none-match': '"v2"' }, 200),
    fromCache('inm-list', 'RFC 9110 §13.1.2', 'If-None-Match list containing the ETag: 304', stored('"v1"'), { 'if-none-match': '"v0", "v1"' }, 304),
    fromCache('inm-list-no-space', 'RFC 9110 §13.1.2', 'If-None-Match list without spaces: 304', stored('"v1"'), { 'if-none-match': '"v0","v1"' }, 304),
    fromCache('inm-star', 'RFC 9110 §13.1.2', 'If-None-Match: * on a stored response: 304', stored('"v1"'), { 'if-none-match': '*' }, 304),
    fromCache('inm-unquoted', 'RFC 9110 §8.8.3', 'an unquoted If-None-Match is not an entity-tag: no match, 200', stored('"v1"'), { 'if-none-match': 'v1' }, 200),
    fromCache('inm-obs-text', 'RFC 9110 §8.8.3 (obs-text)', 'an ETag with obs-text matches byte for byte: 304', stored('"caf\u00e9"'), { 'if-none-match': '"caf\u00e9"' }, 304),
    fromCache('inm-comma-in-tag', 'RFC 9110 §8.8.3', 'an ETag holding a comma matches: 304', stored('"a,b"'), { 'if-none-match': '"a,b"' }, 304),
    fromCache('inm-head', 'RFC 9110 §13.1.2', 'HEAD with a matching If-None-Match: 304', stored('"v1"'), { 'if-none-match': '"v1"' }, 304, 'HEAD'),
    fromCache('ims-equal', 'RFC 9110 §13.1.3', 'If-Modified-Since equal to Last-Modified: 304', stored('"v1"'), { 'if-modified-since': LM }, 304),
    fromCache('ims-earlier', 'RFC 9110 §13.1.3', 'If-Modified-Since before Last-Modified: 200', stored('"v1"'), { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' }, 200),
    fromCache('ims-invalid', 'RFC 9110 §13.1.3', 'an invalid If-Modified-Since is ignored: 200', stored('"v1"'), { 'if-modified-since': 'yesterday' }, 200),
    fromCache('inm-wins-over-ims', 'RFC 9110 §13.2.2', 'If-None-Match without a match wins over a matching If-Modified-Since: 200', stored('"v1"'), { 'if-none-match': '"v2"', 'if-modified-since': '{imf+60}' }, 200),
    {
      id: 'ims-without-last-modified',
      rfc: 'RFC 9111 §4.3.2',
      title: 'If-Modified-Since on an entry without Last-Modified is judged against its Date: 304',
      origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"'], ['Date', '{imf-600}']] }],
      steps: [{ expect: { status: 200 }, originCount: 1 }, { headers: { 'if-modified-since': '{imf-60}' }, expect: { status: 304 }, originCount: 1 }]
    },
    {
      id: 'ims-without-last-modified-older',
      rfc: 'RFC 9111 §4.3.2',
      title: 'If-Modified-Since older than the stored Date (no Last-Modified): 200',
      origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"'], ['Date', '{imf-600}']] }],
      steps: [{ expect: { status: 200 }, originCount: 1 }, { headers: { 'if-modified-since': '{imf-6000}' }, expect: { status: 200 }, originCount: 1 }]
    },
    {
      id: 'not-modified-carries-validators',
      rfc: 'RFC 9110 §15.4.5',
      title: 'a 304 from the cache carries ETag, Cache-Control and Vary',
      origin: stored('"v1"', [['Vary', 'Accept']]),
      steps: [{ expect: { status: 200 } }, { headers: { 'if-none-match': '"v1"' }, expect: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=3600', vary: 'Accept' } }, originCount: 1 }]
    },
    { id: 'miss-inm-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.2', title: "a client's If-None-Match on a miss goes upstream as sent; the 304 reaches the client", origin: validating(), steps: missSteps({ 'if-none-match': '"v1"' }, { 'if-none-match': '"v1"' }, 304) },
    { id: 'miss-ims-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.3', title: "a client's If-Modified-Since on a miss goes upstream as sent", origin: [{ headers: [CC('max-age=3600')] }], steps: missSteps({ 'if-modified-since': '{imf-60}' }, { 'if-modified-since': /GMT$/ }, 200) },
    {
      id: 'miss-inm-304-not-stored',
      rfc: 'RFC 9111 §3',
      title: 'the 304 answering a client conditional on a miss stores nothing; a plain GET then fetches the body',
      origin: validating(),
      steps: [{ headers: { 'if-none-match': '"v1"' }, expect: { status: 304 }, originCount: 1 }, { expect: { status: 200, body: 'r1' }, originCount: 2, originSaw: { 'if-none-match': null } }]
    },
    {
      id: 'miss-inm-200-stored',
      rfc: 'RFC 9111 §3, RFC 9110 §13.1.2',
      title: 'a conditional miss answered 200 is stored and served to the next client',
      origin: validating(),
      steps: [{ headers: { 'if-none-match': '"v0"' }, expect: { status: 200, body: 'r0' }, originCount: 1 }, { expect: { status: 200, body: 'r0' }, originCount: 1 }]
    },
    {
      id: 'stale-revalidated-with-etag',
      rfc: 'RFC 9111 §4.3.1',
      title: 'a stale entry is revalidated with its stored ETag',
      origin: [{ headers: [CC('max-age=0'), ['ETag', '"v1"']] }, { status: 304, headers: [['ETag', '"v1"'], CC('max-age=0')] }],
      steps: [{ expect: { status: 200 } }, { expect: { status: 200, body: 'r0' }, originCount: 2, originSaw: { 'if-none-match': '"v1"' } }]
    },
    {
      id: 'stale-revalidated-with-last-modified',
      rfc: 'RFC 9111 §4.3.1',
      title: 'a stale entry with only Last-Modified is revalidated with If-Modified-Since',
      origin: [{ headers: [CC('max-age=0'), ['Last-Modified', LM]] }, { status: 304, headers: [CC('max-age=0'), ['Last-Modified', LM]] }],
      steps: [{ expect: { status: 200 } }, { expect: { status: 200, body: 'r0' }, originCount: 2, originSaw: { 'if-modified-since': LM, 'if-none-match': null } }]
    },
    {
      id: 'stale-revalidated-client-inm',
      rfc: 'RFC 9111 §4.3.2',
      title: "a client's matching If-None-Match on a stale entry: revalidated, then 304 to the client",
      origin: [{ headers: [CC('max-age=0'), ['ETag', '"v1"']] }, { status: 304, headers: [['ETag', '"v1"'], CC('max-age=0')] }],
      steps: [{ expect: { status: 200 } }, { headers: { 'if-none-match': '"v1"' }, expect: { status: 304 }, originCount: 2, originSaw: { 'if-none-match': '"v1"' } }]
    },
    {
      id: 'stale-changed',
      rfc: 'RFC 9111 §4.3.3',
      title: 'a stale entry whose origin answers 200 with a new ETag is replaced',
      origin: [{ headers: [CC('max-age=0'), ['ETag', '"v1"']] }, { headers: [CC('max-age=3600'), ['ETag', '"v2"']] }],
      steps: [{ expect: { status: 200, body: 'r0' } }, { expect: { status: 200, body: 'r1', headers: { etag: '"v2"' } }, originCount: 2 }, { expect: { status: 200, body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'if-range-weak',
      rfc: 'RFC 9110 §13.1.5',
      title: 'If-Range with a weak ETag never matches: the whole 200',
      origin: stored('W/"v1"'),
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=0-0', 'if-range': 'W/"v1"' }, expect: { status: 200, body: 'r0' }, originCount: 1 }]
    },
    {
      id: 'if-range-strong',
      rfc: 'RFC 9110 §13.1.5',
      title: 'If-Range with the strong ETag: 206',
      origin: stored('"v1"'),
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=0-0', 'if-range': '"v1"' }, expect: { status: 206, body: 'r' }, originCount: 1 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    { id: 'miss-inm-weak-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.2', title: "a client's weak If-None-Match on a miss goes upstream as sent (W/ kept)", origin: validating(), steps: missSteps({ 'if-none-match': 'W/"v1"' }, { 'if-none-match': 'W/"v1"' }, 304) },
    { id: 'miss-inm-list-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.2', title: "a client's If-None-Match list on a miss goes upstream whole", origin: validating(), steps: missSteps({ 'if-none-match': '"v0", "v1"' }, { 'if-none-match': '"v0", "v1"' }, 304) },
    { id: 'miss-inm-and-ims-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.2.2', title: "both of a client's validators on a miss go upstream", origin: validating(), steps: missSteps({ 'if-none-match': '"v1"', 'if-modified-since': LM }, { 'if-none-match': '"v1"', 'if-modified-since': LM }, 304) },
    {
      id: 'miss-ims-304',
      rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.3',
      title: "an origin's 304 to a client's If-Modified-Since on a miss reaches the client, and nothing is stored",
      origin: (req) => req.headers['if-modified-since'] !== undefined ? { status: 304, headers: [CC('max-age=3600'), ['Last-Modified', LM]] } : { headers: [CC('max-age=3600'), ['Last-Modified', LM]] },
      steps: [{ headers: { 'if-modified-since': LM }, expect: { status: 304 }, originCount: 1 }, { expect: { status: 200, body: 'r1' }, originCount: 2, originSaw: { 'if-modified-since': null } }]
    },
    { id: 'miss-head-inm-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §9.3.2', title: 'a HEAD miss with If-None-Match goes upstream as sent; the 304 reaches the client', origin: validating(), steps: [{ method: 'HEAD', headers: { 'if-none-match': '"v1"' }, expect: { status: 304 }, originCount: 1, originSaw: { 'if-none-match': '"v1"' } }] },
    { id: 'miss-if-match-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.1', title: 'If-Match applies to the origin only: on a miss it goes upstream as sent', origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"']] }], steps: missSteps({ 'if-match': '"v1"' }, { 'if-match': '"v1"' }, 200) },
    {
      id: 'miss-if-match-412',
      rfc: 'RFC 9110 §13.1.1, §15.5.13',
      title: "the origin's 412 to a client's failed If-Match on a miss reaches that client; the next plain GET gets the body",
      origin: (req) => req.headers['if-match'] !== undefined && req.headers['if-match'] !== '"v1"' ? { status: 412, headers: [['ETag', '"v1"']] } : { headers: [CC('max-age=3600'), ['ETag', '"v1"']] },
      steps: [{ headers: { 'if-match': '"v0"' }, expect: { status: 412 }, originCount: 1, originSaw: { 'if-match': '"v0"' } }, { expect: { status: 200, body: 'r1' }, originCount: 2, originSaw: { 'if-match': null } }]
    },
    { id: 'miss-if-unmodified-since-forwarded', rfc: 'RFC 9111 §4.3.2, RFC 9110 §13.1.4', title: 'If-Unmodified-Since applies to the origin only: on a miss it goes upstream as sent', origin: [{ headers: [CC('max-age=3600'), ['Last-Modified', LM]] }], steps: missSteps({ 'if-unmodified-since': LM }, { 'if-unmodified-since': LM }, 200) },
    fromCache('inm-lowercase-w', 'RFC 9110 §8.8.3', 'w/"v1" is not an entity-tag (the weak indicator is case-sensitive): 200', stored('"v1"'), { 'if-none-match': 'w/"v1"' }, 200)
  ]
}
