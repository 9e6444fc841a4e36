// Issue #13 item 7: invalidation by unsafe methods (RFC 9111 §4.4).
import type { OriginRequest, Row, Scripted, Section, Step } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]

/** GETs are fresh for an hour; other methods get `status` and `headers`. */
const byMethod = (status: number, headers: Array<[string, string]> = []) => (req: OriginRequest): Scripted =>
  req.method === 'GET' || req.method === 'HEAD' ? { headers: [CC('max-age=3600')], body: `get-${req.path}` } : { status, headers, body: 'done' }

/** GET (stored), `method`, GET again: `refetched` says whether the last GET reached the origin. */
function invalidates (id: string, rfc: string, title: string, method: string, status: number, refetched: boolean, headers: Array<[string, string]> = [], extra: { via?: 'host' | 'mirror', getSuffix?: string } = {}): Row {
  const get: Step = { ...(extra.getSuffix !== undefined ? { suffix: extra.getSuffix } : {}), expect: { status: 200 } }
  return {
    id,
    rfc,
    title,
    origin: byMethod(status, headers),
    steps: [
      { ...get, originCount: 1 },
      { method, body: method === 'DELETE' || method === 'OPTIONS' ? undefined : 'x', ...(extra.via !== undefined ? { via: extra.via } : {}), expect: { status }, originCount: 2 },
      { ...get, originCount: refetched ? 3 : 2 }
    ].map((s) => s.body === undefined ? (({ body: _b, ...rest }) => rest)(s) : s) as Step[]
  }
}

export const invalidation: Section = {
  name: 'invalidation',
  title: 'item 7: invalidation',
  rows: [
    invalidates('post-200', 'RFC 9111 §4.4', 'POST answered 200 invalidates the stored GET', 'POST', 200, true),
    invalidates('post-201', 'RFC 9111 §4.4', 'POST answered 201 invalidates', 'POST', 201, true),
    invalidates('put-204', 'RFC 9111 §4.4', 'PUT answered 204 invalidates', 'PUT', 204, true),
    invalidates('delete-200', 'RFC 9111 §4.4', 'DELETE answered 200 invalidates', 'DELETE', 200, true),
    invalidates('patch-200', 'RFC 9111 §4.4', 'PATCH answered 200 invalidates', 'PATCH', 200, true),
    invalidates('post-303', 'RFC 9111 §4.4', 'POST answered 303 (non-error) invalidates', 'POST', 303, true, [['Location', '/elsewhere']]),
    invalidates('post-500', 'RFC 9111 §4.4', 'POST answered 500 does not invalidate', 'POST', 500, false),
    invalidates('post-404', 'RFC 9111 §4.4', 'POST answered 404 does not invalidate', 'POST', 404, false),
    invalidates('options', 'RFC 9111 §4.4', 'OPTIONS is safe: no invalidation', 'OPTIONS', 200, false),
    invalidates('post-location', 'RFC 9111 §4.4', 'the Location of a same-origin POST answer is invalidated', 'POST', 201, true, [['Location', '/invalidation/post-location/created']], { getSuffix: '/created' }),
    invalidates('post-location-absolute', 'RFC 9111 §4.4', 'an absolute same-origin Location is invalidated', 'POST', 201, true, [['Location', '{origin}/invalidation/post-location-absolute/created']], { getSuffix: '/created' }),
    invalidates('post-content-location', 'RFC 9111 §4.4', 'the Content-Location of a same-origin POST answer is invalidated', 'POST', 200, true, [['Content-Location', '/invalidation/post-content-location/item']], { getSuffix: '/item' }),
    invalidates('post-location-other-origin', 'RFC 9111 §4.4', 'a Location on another origin is not invalidated (nor is anything else)', 'POST', 201, false, [['Location', 'https://other.example/invalidation/post-location-other-origin/x']], { getSuffix: '/x' }),
    invalidates('post-via-host', 'RFC 9111 §4.4, §4.1', 'a POST through the generic /<host>/ spelling invalidates what the named mirror stored (same upstream URI)', 'POST', 200, true, [], { via: 'host' }),
    {
      id: 'head-after-post',
      rfc: 'RFC 9111 §4.4',
      title: 'a HEAD after an invalidating POST is not served from the cache',
      origin: byMethod(200),
      steps: [{ expect: { status: 200 }, originCount: 1 }, { method: 'POST', body: 'x', expect: { status: 200 }, originCount: 2 }, { method: 'HEAD', expect: { status: 200 }, originCount: 3 }]
    },
    {
      id: 'post-clears-negative',
      rfc: 'RFC 9111 §4.4',
      title: 'a POST invalidates a remembered 404',
      origin: (req, i) => req.method === 'POST' ? { status: 201 } : i === 0 ? { status: 404 } : { headers: [CC('max-age=3600')] },
      steps: [{ expect: { status: 404 }, originCount: 1 }, { method: 'POST', body: 'x', expect: { status: 201 }, originCount: 2 }, { expect: { status: 200 }, originCount: 3 }]
    },
    {
      id: 'query-is-another-uri',
      rfc: 'RFC 9111 §4.4',
      title: 'a POST to ?a=1 leaves the entry without a query alone',
      origin: byMethod(200),
      steps: [{ expect: { status: 200 }, originCount: 1 }, { method: 'POST', suffix: '?a=1', body: 'x', expect: { status: 200 }, originCount: 2 }, { expect: { status: 200 }, originCount: 2 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    invalidates('delete-204', 'RFC 9111 §4.4', 'DELETE answered 204 invalidates', 'DELETE', 204, true),
    invalidates('put-content-location', 'RFC 9111 §4.4', 'the Content-Location of a PUT answer is invalidated', 'PUT', 200, true, [['Content-Location', '/invalidation/put-content-location/item']], { getSuffix: '/item' }),
    invalidates('post-location-relative', 'RFC 9111 §4.4, RFC 3986 §5.2', 'a relative Location (no leading slash) is resolved against the target URI and invalidated', 'POST', 201, true, [['Location', 'post-location-relative/created']], { getSuffix: '/created' }),
    invalidates('post-location-query', 'RFC 9111 §4.4', 'a Location with a query invalidates that URI', 'POST', 201, true, [['Location', '/invalidation/post-location-query?id=7']], { getSuffix: '?id=7' }),
    invalidates('post-content-location-absolute', 'RFC 9111 §4.4', 'an absolute same-origin Content-Location is invalidated', 'POST', 200, true, [['Content-Location', '{origin}/invalidation/post-content-location-absolute/item']], { getSuffix: '/item' }),
    {
      id: 'post-query-uri',
      rfc: 'RFC 9111 §4.4',
      title: 'a POST to ?a=1 invalidates the entry stored for ?a=1',
      origin: byMethod(200),
      steps: [{ suffix: '?a=1', expect: { status: 200 }, originCount: 1 }, { method: 'POST', suffix: '?a=1', body: 'x', expect: { status: 200 }, originCount: 2 }, { suffix: '?a=1', expect: { status: 200 }, originCount: 3 }]
    },
    {
      id: 'post-location-and-content-location',
      rfc: 'RFC 9111 §4.4',
      title: 'a POST answer naming both Location and Content-Location invalidates both',
      origin: byMethod(201, [['Location', '/invalidation/post-location-and-content-location/a'], ['Content-Location', '/invalidation/post-location-and-content-location/b']]),
      steps: [
        { suffix: '/a', expect: { status: 200 }, originCount: 1 },
        { suffix: '/b', expect: { status: 200 }, originCount: 2 },
        { method: 'POST', body: 'x', expect: { status: 201 }, originCount: 3 },
        { suffix: '/a', expect: { status: 200 }, originCount: 4 },
        { suffix: '/b', expect: { status: 200 }, originCount: 5 }
      ]
    }
  ]
}
