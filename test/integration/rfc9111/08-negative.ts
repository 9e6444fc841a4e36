// Issue #13 item 8: negative caching follows the response's own freshness (RFC 9111 §4.2, §3;
// RFC 9110 §15.1: 404 and 410 are heuristically cacheable).
import type { Row, Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]

/** Two GETs of a `status` answer with `headers`: `reused` says whether the second stays off the origin. */
function negative (id: string, rfc: string, title: string, status: number, headers: Array<[string, string]>, reused: boolean, secondHeaders?: Record<string, string>): Row {
  return {
    id,
    rfc,
    title,
    origin: [{ status, headers }],
    steps: [
      { expect: { status, body: 'r0' }, originCount: 1 },
      { ...(secondHeaders !== undefined ? { headers: secondHeaders } : {}), expect: { status, body: reused ? 'r0' : 'r1' }, originCount: reused ? 1 : 2 }
    ]
  }
}

export const negativeCaching: Section = {
  name: 'negative',
  title: 'item 8: negative caching',
  rows: [
    negative('404-heuristic', 'RFC 9110 §15.1, RFC 9111 §4.2.2', 'a 404 without freshness is reused for cache.negativeTtl (heuristic)', 404, [], true),
    negative('410-heuristic', 'RFC 9110 §15.1, RFC 9111 §4.2.2', 'a 410 without freshness is reused (heuristic)', 410, [], true),
    negative('404-max-age', 'RFC 9111 §4.2.1', 'a 404 with max-age=3600 is reused', 404, [CC('max-age=3600')], true),
    negative('404-max-age-0', 'RFC 9111 §4.2.1', 'a 404 with max-age=0 is not reused', 404, [CC('max-age=0')], false),
    negative('410-max-age-0', 'RFC 9111 §4.2.1', 'a 410 with max-age=0 is not reused', 410, [CC('max-age=0')], false),
    negative('404-no-cache', 'RFC 9111 §5.2.2.4', 'a 404 with no-cache is not reused without validation', 404, [CC('no-cache')], false),
    negative('404-s-maxage-0', 'RFC 9111 §5.2.2.10', 'a 404 with s-maxage=0 is not reused', 404, [CC('max-age=3600, s-maxage=0')], false),
    negative('404-expires-past', 'RFC 9111 §5.3', 'a 404 with an Expires in the past is not reused', 404, [['Expires', '{imf-3600}']], false),
    negative('404-expires-invalid', 'RFC 9111 §5.3', 'a 404 with an invalid Expires is stale', 404, [['Expires', '0']], false),
    negative('404-age-over', 'RFC 9111 §4.2.3', 'a 404 older than its max-age (Age) is not reused', 404, [CC('max-age=60'), ['Age', '120']], false),
    negative('404-must-revalidate-fresh', 'RFC 9111 §5.2.2.2', 'a fresh must-revalidate 404 is reused', 404, [CC('max-age=3600, must-revalidate')], true),
    negative('404-no-store', 'RFC 9111 §5.2.2.5', 'a no-store 404 is not kept', 404, [CC('no-store')], false),
    negative('404-private', 'RFC 9111 §5.2.2.7', 'a private 404 is not kept by a shared cache', 404, [CC('private')], false),
    negative('404-request-no-cache', 'RFC 9111 §5.2.1.4', 'a stored 404 is not reused for a no-cache request', 404, [CC('max-age=3600')], false, { 'cache-control': 'no-cache' }),
    negative('404-request-max-age-0', 'RFC 9111 §5.2.1.1', 'a stored 404 is not reused for a max-age=0 request', 404, [CC('max-age=3600')], false, { 'cache-control': 'max-age=0' }),
    negative('404-authorization', 'RFC 9111 §3.5', 'a 404 stored for an anonymous request is not served to one with credentials', 404, [CC('max-age=3600')], false, { authorization: 'Bearer t' }),
    negative('500-not-kept', 'RFC 9111 §3', 'a 500 is not kept', 500, [CC('max-age=3600')], false),
    negative('503-not-kept', 'RFC 9111 §3', 'a 503 without explicit freshness is not kept', 503, [], false),
    {
      id: '404-vary',
      rfc: 'RFC 9111 §4.1',
      title: 'a 404 with Vary is not served to a request with other values',
      origin: [{ status: 404, headers: [CC('max-age=3600'), ['Vary', 'Accept']] }],
      steps: [{ headers: { accept: 'a/b' }, expect: { status: 404, body: 'r0' }, originCount: 1 }, { headers: { accept: 'c/d' }, expect: { status: 404, body: 'r1' }, originCount: 2 }]
    },
    {
      id: '404-vary-star',
      rfc: 'RFC 9111 §4.1',
      title: 'a 404 with Vary: * is never reused',
      origin: [{ status: 404, headers: [CC('max-age=3600'), ['Vary', '*']] }],
      steps: [{ expect: { status: 404, body: 'r0' } }, { expect: { status: 404, body: 'r1' }, originCount: 2 }]
    },
    {
      id: '404-age-header',
      rfc: 'RFC 9111 §5.1',
      title: 'a 404 served from the cache carries Age',
      origin: [{ status: 404, headers: [CC('max-age=3600'), ['Age', '30']] }],
      steps: [{ expect: { status: 404 } }, { expect: { status: 404, body: 'r0', headers: { age: /^\d+$/ } }, originCount: 1 }]
    },
    {
      id: '404-then-200',
      rfc: 'RFC 9111 §4.2',
      title: 'a stale 404 is asked again, and the 200 that follows is served',
      origin: [{ status: 404, headers: [CC('max-age=0')] }, { headers: [CC('max-age=3600')] }],
      steps: [{ expect: { status: 404 } }, { expect: { status: 200, body: 'r1' }, originCount: 2 }, { expect: { status: 200, body: 'r1' }, originCount: 2 }]
    },
    {
      id: '404-only-if-cached',
      rfc: 'RFC 9111 §5.2.1.7',
      title: 'only-if-cached is answered from a fresh stored 404',
      origin: [{ status: 404, headers: [CC('max-age=3600')] }],
      steps: [{ expect: { status: 404 } }, { headers: { 'cache-control': 'only-if-cached' }, expect: { status: 404, body: 'r0' }, originCount: 1 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    negative('410-expires-past', 'RFC 9111 §5.3', 'a 410 with an Expires in the past is not reused', 410, [['Expires', '{imf-3600}']], false),
    negative('410-no-cache', 'RFC 9111 §5.2.2.4', 'a 410 with no-cache is not reused without validation', 410, [CC('no-cache')], false),
    negative('404-expires-utc', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'a 404 whose Expires says UTC (an invalid date) is stale', 404, [['Expires', '{utc+3600}']], false),
    negative('404-max-age-dup-conflict', 'RFC 9111 §4.2.1', 'a 404 with max-age=3600, max-age=0 (conflicting) is stale', 404, [CC('max-age=0, max-age=3600')], false),
    negative('404-cc-two-lines-no-cache', 'RFC 9110 §5.3, RFC 9111 §5.2.2.4', 'a 404 with no-cache on a second Cache-Control line is not reused', 404, [CC('max-age=3600'), CC('no-cache')], false),
    negative('404-request-pragma', 'RFC 9111 §5.4', 'a stored 404 is not reused for a request with Pragma: no-cache', 404, [CC('max-age=3600')], false, { pragma: 'no-cache' }),
    negative('404-request-min-fresh', 'RFC 9111 §5.2.1.3', 'a 404 fresh for a minute is not reused for min-fresh=3600', 404, [CC('max-age=60')], false, { 'cache-control': 'min-fresh=3600' }),
    {
      id: '404-only-if-cached-stale',
      rfc: 'RFC 9111 §5.2.1.7',
      title: 'only-if-cached with only a stale 404 stored: 504',
      origin: [{ status: 404, headers: [CC('max-age=0')] }],
      steps: [{ expect: { status: 404 }, originCount: 1 }, { headers: { 'cache-control': 'only-if-cached' }, expect: { status: 504 }, originCount: 1 }]
    },
    {
      id: '410-then-200-stored',
      rfc: 'RFC 9111 §4.2, §4.3.3',
      title: 'a stale 410 is asked again; the 200 that follows replaces it and is served from the cache',
      origin: [{ status: 410, headers: [CC('max-age=0')] }, { headers: [CC('max-age=3600')] }],
      steps: [{ expect: { status: 410 } }, { expect: { status: 200, body: 'r1' }, originCount: 2 }, { expect: { status: 200, body: 'r1' }, originCount: 2 }]
    }
  ]
}
