// Every Cache-Status value dsmirror writes maps to one metrics outcome (server/metrics.ts).
import t from 'tap'
import { cacheOutcome } from '../../server/metrics.js'

t.test('Cache-Status values and their outcomes', async (t) => {
  const cases: Array<[string | undefined, number, string]> = [
    ['dsmirror; hit', 200, 'hit'],
    ['dsmirror; hit', 304, 'hit'],
    ['dsmirror; hit; detail=negative', 404, 'hit'],
    ['dsmirror; hit; detail=in-flight', 200, 'coalesced'],
    ['dsmirror; fwd=miss; stored', 200, 'miss'],
    ['dsmirror; fwd=miss; fwd-status=404', 404, 'miss'],
    ['dsmirror; fwd=stale; fwd-status=200; stored', 200, 'miss'],
    ['dsmirror; fwd=stale; fwd-status=304', 200, 'revalidated'],
    ['dsmirror; fwd=request; fwd-status=304', 200, 'revalidated'],
    ['dsmirror; fwd=stale; detail=DSM_UPSTREAM_CONNECT', 200, 'stale'],
    ['dsmirror; fwd=stale; fwd-status=503; detail=stale-if-error', 200, 'stale'],
    ['dsmirror; fwd=method', 200, 'bypass'],
    ['dsmirror; fwd=miss; detail=uncacheable', 200, 'bypass'],
    ['dsmirror; fwd=miss; detail="the response sets a cookie"', 200, 'bypass'],
    ['dsmirror; fwd=vary-miss; detail=in-flight', 200, 'bypass'],
    ['dsmirror; fwd=miss; detail=DSM_UPSTREAM_TLS', 502, 'error'],
    ['dsmirror; hit; detail=DSM_RANGE_NOT_SATISFIABLE', 416, 'error'],
    ['dsmirror; fwd=method; detail=DSM_UPSTREAM_CONNECT', 502, 'error'],
    ['dsmirror; detail=DSM_NOT_FOUND', 404, 'error'],
    ['dsmirror; detail=local', 200, 'local'],
    [undefined, 200, 'local']
  ]
  for (const [value, status, outcome] of cases) t.equal(cacheOutcome(value, status), outcome, `${String(value)} ${status}`)
})
