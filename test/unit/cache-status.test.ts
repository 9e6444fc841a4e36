// The typed cache status (server/cache/cache-status.ts, issue 10 item 4): every status dsmirror sets
// renders to the Cache-Status text it has always sent, and maps to its metrics outcome without
// the header being read back.
import t from 'tap'
import { cacheOutcome, errorCode, failedWith, outcomeOf, parseCacheStatus, renderCacheStatus, setCacheStatus, type CacheStatus } from '../../server/cache/cache-status.js'

// [what the code sets, the header it has always sent, response status, metrics outcome]
const CASES: Array<[CacheStatus, string, number, string]> = [
  [{ hit: true }, 'dsmirror; hit', 200, 'hit'],
  [{ hit: true }, 'dsmirror; hit', 304, 'hit'],
  [{ hit: true, detail: 'negative' }, 'dsmirror; hit; detail=negative', 404, 'hit'],
  [{ hit: true, detail: 'in-flight' }, 'dsmirror; hit; detail=in-flight', 200, 'coalesced'],
  [{ fwd: 'miss', stored: true }, 'dsmirror; fwd=miss; stored', 200, 'miss'],
  [{ fwd: 'miss' }, 'dsmirror; fwd=miss', 200, 'miss'],
  [{ fwd: 'miss', fwdStatus: 404 }, 'dsmirror; fwd=miss; fwd-status=404', 404, 'miss'],
  [{ fwd: 'stale', fwdStatus: 200, stored: true }, 'dsmirror; fwd=stale; fwd-status=200; stored', 200, 'miss'],
  [{ fwd: 'stale', fwdStatus: 304 }, 'dsmirror; fwd=stale; fwd-status=304', 200, 'revalidated'],
  [{ fwd: 'request', fwdStatus: 304 }, 'dsmirror; fwd=request; fwd-status=304', 200, 'revalidated'],
  [{ fwd: 'stale', detail: 'DSM_UPSTREAM_CONNECT' }, 'dsmirror; fwd=stale; detail=DSM_UPSTREAM_CONNECT', 200, 'stale'],
  [{ fwd: 'stale', fwdStatus: 503, detail: 'stale-if-error' }, 'dsmirror; fwd=stale; fwd-status=503; detail=stale-if-error', 200, 'stale'],
  [{ fwd: 'method' }, 'dsmirror; fwd=method', 200, 'bypass'],
  [{ fwd: 'miss', detail: 'uncacheable' }, 'dsmirror; fwd=miss; detail=uncacheable', 200, 'bypass'],
  [{ fwd: 'miss', detail: { reason: 'the response sets a cookie' } }, 'dsmirror; fwd=miss; detail="the response sets a cookie"', 200, 'bypass'],
  [{ fwd: 'vary-miss', detail: 'in-flight' }, 'dsmirror; fwd=vary-miss; detail=in-flight', 200, 'bypass'],
  [{ fwd: 'miss', detail: 'no-space' }, 'dsmirror; fwd=miss; detail=no-space', 200, 'miss'],
  [{ fwd: 'miss', detail: 'cache-unwritable' }, 'dsmirror; fwd=miss; detail=cache-unwritable', 200, 'miss'],
  [{ fwd: 'miss', error: 'DSM_UPSTREAM_TLS' }, 'dsmirror; fwd=miss; detail=DSM_UPSTREAM_TLS', 502, 'error'],
  [{ hit: true, error: 'DSM_RANGE_NOT_SATISFIABLE' }, 'dsmirror; hit; detail=DSM_RANGE_NOT_SATISFIABLE', 416, 'error'],
  [{ hit: true, detail: 'in-flight', error: 'DSM_UPSTREAM_INCOMPLETE' }, 'dsmirror; hit; detail=in-flight; detail=DSM_UPSTREAM_INCOMPLETE', 502, 'error'],
  [{ fwd: 'stale', detail: 'DSM_UPSTREAM_CONNECT', error: 'DSM_RANGE_NOT_SATISFIABLE' }, 'dsmirror; fwd=stale; detail=DSM_UPSTREAM_CONNECT; detail=DSM_RANGE_NOT_SATISFIABLE', 416, 'error'],
  [{ fwd: 'method', error: 'DSM_UPSTREAM_CONNECT' }, 'dsmirror; fwd=method; detail=DSM_UPSTREAM_CONNECT', 502, 'error'],
  [{ error: 'DSM_NOT_FOUND' }, 'dsmirror; detail=DSM_NOT_FOUND', 404, 'error'],
  // A download that failed after the headers: the client saw 200, the log and metrics see no `stored`.
  [{ fwd: 'miss', error: 'DSM_UPSTREAM_INCOMPLETE' }, 'dsmirror; fwd=miss; detail=DSM_UPSTREAM_INCOMPLETE', 200, 'miss'],
  // A framework refusal below 500 keeps its own code in the header, and is not a DSM error.
  [{ error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }, 'dsmirror; detail=FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'local'],
  [{ detail: 'local' }, 'dsmirror; detail=local', 200, 'local']
]

t.test('each status renders the header text dsmirror sends and has one outcome', async (t) => {
  for (const [status, header, code, outcome] of CASES) {
    t.equal(renderCacheStatus(status), header, `renders ${header}`)
    t.equal(outcomeOf(status, code), outcome, `${header} ${code} is ${outcome}`)
    // Readers outside the server (a chained cache, tests) get the same answer from the header.
    t.equal(cacheOutcome(header, code), outcome, `${header} ${code} read back is ${outcome}`)
    t.equal(renderCacheStatus(parseCacheStatus(header) ?? {}), header, `${header} reads back to itself`)
  }
  t.equal(outcomeOf(null, 200), 'local', 'nothing set: a local page')
})

t.test('a response that failed drops `stored` and names the code', async (t) => {
  t.same(failedWith({ fwd: 'miss', stored: true }, 'DSM_UPSTREAM_INCOMPLETE'), { fwd: 'miss', error: 'DSM_UPSTREAM_INCOMPLETE' })
  t.equal(renderCacheStatus(failedWith({ fwd: 'stale', fwdStatus: 200, stored: true }, 'DSM_CACHE_IO')), 'dsmirror; fwd=stale; fwd-status=200; detail=DSM_CACHE_IO')
  t.equal(errorCode({ fwd: 'stale', detail: 'DSM_UPSTREAM_CONNECT', error: 'DSM_RANGE_NOT_SATISFIABLE' }), 'DSM_UPSTREAM_CONNECT', 'the first code, as the log line names it')
  t.equal(errorCode({ error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }), undefined, 'not a DSM code')
  t.equal(errorCode({ hit: true, detail: 'in-flight' }), undefined)
})

t.test('a reason is an RFC 8941 string', async (t) => {
  t.equal(renderCacheStatus({ fwd: 'miss', detail: { reason: 'say "no" \\ twice' } }), 'dsmirror; fwd=miss; detail="say \\"no\\" \\\\ twice"')
  t.same(parseCacheStatus('dsmirror; fwd=miss; detail="say \\"no\\"; twice"'), { fwd: 'miss', detail: { reason: 'say "no"; twice' } })
})

t.test('setCacheStatus records the type and writes the header from it', async (t) => {
  const headers = new Map<string, string>()
  const reply = { cacheStatus: null as CacheStatus | null, header (name: string, value: string) { headers.set(name, value) } }
  t.equal(setCacheStatus(reply, { fwd: 'miss', stored: true }), reply)
  t.same(reply.cacheStatus, { fwd: 'miss', stored: true })
  t.equal(headers.get('cache-status'), 'dsmirror; fwd=miss; stored')
})
