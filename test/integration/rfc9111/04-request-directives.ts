// Issue #13 item 4: request Cache-Control directives (RFC 9111 §5.2.1).
import type { Row, Scripted, Section, Step } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const HIT = /^dsmirror; hit/
const STORE_FRESH: Scripted[] = [{ headers: [CC('max-age=3600'), ['ETag', '"e1"']] }]
/** Stored 7200 s old with max-age=3600: stale by an hour. */
const STORE_STALE: Scripted[] = [{ headers: [CC('max-age=3600'), ['Age', '7200'], ['ETag', '"e1"']] }]

/** Store with a plain GET, then ask with `headers`. */
function second (headers: Record<string, string>, expect: Step['expect'], originCount: number, extra: Partial<Step> = {}): Step[] {
  return [{ expect: { status: 200, body: 'r0' }, originCount: 1 }, { headers, expect, originCount, ...extra }]
}

const row = (id: string, rfc: string, title: string, origin: Scripted[], steps: Step[]): Row => ({ id, rfc, title, origin, steps })

export const requestDirectives: Section = {
  name: 'request',
  title: 'item 4: request directives',
  rows: [
    row('no-cache-fresh', 'RFC 9111 §5.2.1.4', 'no-cache on a fresh entry is validated with the origin', STORE_FRESH, second({ 'cache-control': 'no-cache' }, { status: 200 }, 2, { originSaw: { 'if-none-match': '"e1"' } })),
    row('pragma-no-cache', 'RFC 9111 §5.4', 'Pragma: no-cache without Cache-Control is no-cache', STORE_FRESH, second({ pragma: 'no-cache' }, { status: 200 }, 2)),
    row('pragma-ignored-with-cc', 'RFC 9111 §5.4', 'Pragma is ignored when the request has Cache-Control', STORE_FRESH, second({ pragma: 'no-cache', 'cache-control': 'max-stale=1' }, { status: 200, cacheStatus: HIT }, 1)),
    row('max-age-0', 'RFC 9111 §5.2.1.1', 'max-age=0 is validated', STORE_FRESH, second({ 'cache-control': 'max-age=0' }, { status: 200 }, 2, { originSaw: { 'if-none-match': '"e1"' } })),
    row('max-age-large', 'RFC 9111 §5.2.1.1', 'max-age=86400 on a fresh entry is a hit', STORE_FRESH, second({ 'cache-control': 'max-age=86400' }, { status: 200, cacheStatus: HIT }, 1)),
    row('max-age-older-than', 'RFC 9111 §5.2.1.1', 'max-age=10 on an entry 100 s old is validated', [{ headers: [CC('max-age=3600'), ['Age', '100']] }], second({ 'cache-control': 'max-age=10' }, { status: 200 }, 2)),
    row('min-fresh', 'RFC 9111 §5.2.1.3', 'min-fresh beyond the remaining lifetime is validated', STORE_FRESH, second({ 'cache-control': 'min-fresh=7200' }, { status: 200 }, 2)),
    row('min-fresh-ok', 'RFC 9111 §5.2.1.3', 'min-fresh within the remaining lifetime is a hit', STORE_FRESH, second({ 'cache-control': 'min-fresh=60' }, { status: 200, cacheStatus: HIT }, 1)),
    row('max-stale-enough', 'RFC 9111 §5.2.1.2', 'max-stale=7200 accepts an entry stale by an hour', STORE_STALE, second({ 'cache-control': 'max-stale=7200' }, { status: 200, body: 'r0' }, 1)),
    row('max-stale-any', 'RFC 9111 §5.2.1.2', 'max-stale without a value accepts any staleness', STORE_STALE, second({ 'cache-control': 'max-stale' }, { status: 200, body: 'r0' }, 1)),
    row('max-stale-too-small', 'RFC 9111 §5.2.1.2', 'max-stale=10 does not cover an hour: validated', STORE_STALE, second({ 'cache-control': 'max-stale=10' }, { status: 200 }, 2)),
    row('max-stale-must-revalidate', 'RFC 9111 §5.2.2.2', 'max-stale never serves a stale must-revalidate response', [{ headers: [CC('max-age=3600, must-revalidate'), ['Age', '7200']] }], second({ 'cache-control': 'max-stale' }, { status: 200 }, 2)),
    row('max-stale-proxy-revalidate', 'RFC 9111 §5.2.2.8', 'max-stale never serves a stale proxy-revalidate response from a shared cache', [{ headers: [CC('max-age=3600, proxy-revalidate'), ['Age', '7200']] }], second({ 'cache-control': 'max-stale' }, { status: 200 }, 2)),
    row('max-stale-s-maxage', 'RFC 9111 §5.2.2.10', 's-maxage implies proxy-revalidate: max-stale does not serve it stale', [{ headers: [CC('s-maxage=3600'), ['Age', '7200']] }], second({ 'cache-control': 'max-stale' }, { status: 200 }, 2)),
    row('no-store-request', 'RFC 9111 §5.2.1.5', 'no-store in the request: the response is not stored', [{ headers: [CC('max-age=3600')] }], [{ headers: { 'cache-control': 'no-store' }, expect: { status: 200, body: 'r0' }, originCount: 1 }, { expect: { status: 200, body: 'r1' }, originCount: 2 }]),
    row('only-if-cached-empty', 'RFC 9111 §5.2.1.7', 'only-if-cached with nothing stored: 504, the origin is not asked', STORE_FRESH, [{ headers: { 'cache-control': 'only-if-cached' }, expect: { status: 504 }, originCount: 0 }]),
    row('only-if-cached-head-empty', 'RFC 9111 §5.2.1.7', 'only-if-cached HEAD with nothing stored: 504', STORE_FRESH, [{ method: 'HEAD', headers: { 'cache-control': 'only-if-cached' }, expect: { status: 504 }, originCount: 0 }]),
    row('only-if-cached-fresh', 'RFC 9111 §5.2.1.7', 'only-if-cached with a fresh entry: served', STORE_FRESH, second({ 'cache-control': 'only-if-cached' }, { status: 200, body: 'r0' }, 1)),
    row('only-if-cached-stale', 'RFC 9111 §5.2.1.7', 'only-if-cached with only a stale entry: 504', STORE_STALE, second({ 'cache-control': 'only-if-cached' }, { status: 504 }, 1)),
    row('only-if-cached-max-stale', 'RFC 9111 §5.2.1.7, §5.2.1.2', 'only-if-cached, max-stale with a stale entry: served', STORE_STALE, second({ 'cache-control': 'only-if-cached, max-stale' }, { status: 200, body: 'r0' }, 1)),
    row('only-if-cached-no-cache', 'RFC 9111 §5.2.1.7', 'only-if-cached, no-cache: the entry would need validation: 504', STORE_FRESH, second({ 'cache-control': 'only-if-cached, no-cache' }, { status: 504 }, 1)),
    row('only-if-cached-vary-miss', 'RFC 9111 §5.2.1.7, §4.1', 'only-if-cached when the stored response is for other Vary values: 504', [{ headers: [CC('max-age=3600'), ['Vary', 'Accept']] }], [{ headers: { accept: 'a/b' }, expect: { status: 200 }, originCount: 1 }, { headers: { accept: 'c/d', 'cache-control': 'only-if-cached' }, expect: { status: 504 }, originCount: 1 }]),
    row('no-cache-stale-304', 'RFC 9111 §4.3.1', 'no-cache: a 304 from the origin serves the stored body', [{ headers: [CC('max-age=3600'), ['ETag', '"e1"']] }, { status: 304, headers: [['ETag', '"e1"']] }], second({ 'cache-control': 'no-cache' }, { status: 200, body: 'r0' }, 2)),
    row('uppercase-directive', 'RFC 9111 §5.2', 'request directives are case-insensitive: NO-CACHE', STORE_FRESH, second({ 'cache-control': 'NO-CACHE' }, { status: 200 }, 2)),
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    row('only-if-cached-max-age-0', 'RFC 9111 §5.2.1.7, §5.2.1.1', 'only-if-cached, max-age=0: the entry would need validation: 504', STORE_FRESH, second({ 'cache-control': 'only-if-cached, max-age=0' }, { status: 504 }, 1)),
    row('only-if-cached-min-fresh', 'RFC 9111 §5.2.1.7, §5.2.1.3', 'only-if-cached, min-fresh beyond the remaining lifetime: 504', STORE_FRESH, second({ 'cache-control': 'only-if-cached, min-fresh=7200' }, { status: 504 }, 1)),
    row('only-if-cached-after-no-store', 'RFC 9111 §5.2.1.7, §5.2.2.5', 'only-if-cached after a no-store response (nothing stored): 504', [{ headers: [CC('no-store')] }], second({ 'cache-control': 'only-if-cached' }, { status: 504 }, 1)),
    row('only-if-cached-uppercase', 'RFC 9111 §5.2, §5.2.1.7', 'ONLY-IF-CACHED with nothing stored: 504, the origin is not asked', STORE_FRESH, [{ headers: { 'cache-control': 'ONLY-IF-CACHED' }, expect: { status: 504 }, originCount: 0 }]),
    row('max-stale-must-revalidate-304', 'RFC 9111 §5.2.2.2, §4.3.4', 'max-stale on a stale must-revalidate entry: validated, and the 304 serves the stored body', [{ headers: [CC('max-age=3600, must-revalidate'), ['Age', '7200'], ['ETag', '"e1"']] }, { status: 304, headers: [['ETag', '"e1"'], CC('max-age=3600')] }], second({ 'cache-control': 'max-stale' }, { status: 200, body: 'r0' }, 2, { originSaw: { 'if-none-match': '"e1"' } }))
  ]
}
