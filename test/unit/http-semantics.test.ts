// server/cache/http-semantics.ts (issue #13): the parsing fed to http-cache-semantics. The
// end-to-end behaviour is in test/integration/rfc9111-conformance.test.ts; these pin the parts a
// table row cannot see (what is stored with an entry) and the date grammar case by case.
import t from 'tap'
import {
  cdnCacheControlAsCacheControl, immutablePatternMayApply, newPolicy, normalizeCacheControl, parseHttpDate, policyResponseHeaders, storablePolicyObject
} from '../../server/cache/http-semantics.js'

// Fixed instants: the parser is checked against the calendar, not against today.
const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37)

t.test('the three HTTP-date formats, and nothing else (RFC 9110 §5.6.7)', async (t) => {
  const now = Date.UTC(2026, 0, 1)
  t.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', now), NOV_6_1994, 'IMF-fixdate')
  t.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now), NOV_6_1994, 'rfc850-date')
  t.equal(parseHttpDate('Sun Nov  6 08:49:37 1994', now), NOV_6_1994, 'asctime-date')
  t.equal(parseHttpDate('Tuesday, 06-Nov-40 08:49:37 GMT', now), Date.UTC(2040, 10, 6, 8, 49, 37), 'two-digit year within 50 years ahead')
  t.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2100, 0, 1)), Date.UTC(2094, 10, 6, 8, 49, 37), 'two-digit year: the most recent past year with those digits')
  for (const bad of ['Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 06 Nov 1994 8:49:37 GMT', 'Sun, 06-Nov-1994 08:49:37 GMT', '1994-11-06T08:49:37Z', '06 Nov 1994 08:49:37 GMT', '0', '', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT']) {
    t.equal(parseHttpDate(bad, now), null, `not a date: ${JSON.stringify(bad)}`)
  }
})

t.test('Cache-Control as RFC 9111 reads it', async (t) => {
  t.equal(normalizeCacheControl('MAX-AGE=60, Public'), 'max-age=60, public', 'names are case-insensitive')
  t.equal(normalizeCacheControl('max-age = 60'), 'max-age=0', 'whitespace around = is not the grammar')
  t.equal(normalizeCacheControl('max-age=60a'), 'max-age=0')
  t.equal(normalizeCacheControl('max-age=60, max-age=60'), 'max-age=60', 'the same value twice')
  t.equal(normalizeCacheControl('max-age=60, max-age=10'), 'max-age=0', 'conflicting duplicates are stale')
  t.equal(normalizeCacheControl('max-age="60"'), 'max-age=60', 'quoted-string form')
  t.equal(normalizeCacheControl('max-age=99999999999'), 'max-age=2147483648', 'capped at 2^31')
  t.equal(normalizeCacheControl('no-cache="set-cookie, x-a", max-age=5'), 'no-cache="set-cookie, x-a", max-age=5', 'commas inside quotes')
  t.equal(normalizeCacheControl('max-stale'), 'max-stale', 'max-stale without a value')
})

t.test('CDN-Cache-Control is a Structured Fields Dictionary (RFC 9213, RFC 8941)', async (t) => {
  t.equal(cdnCacheControlAsCacheControl('max-age=60, must-revalidate'), 'max-age=60, must-revalidate')
  t.equal(cdnCacheControlAsCacheControl('no-store=?1, private=?0'), 'no-store')
  t.equal(cdnCacheControlAsCacheControl('max-age=60,,'), null, 'an empty member invalidates the field')
  t.equal(cdnCacheControlAsCacheControl('Max-Age=60'), null, 'keys are lower-case')
  t.same(policyResponseHeaders({ 'cache-control': 'no-cache', expires: 'Sun, 06 Nov 1994 08:49:37 GMT', 'cdn-cache-control': 'max-age=60' }, { cdnCacheControl: true }),
    { 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=60' }, 'it replaces Cache-Control and Expires')
  t.equal(policyResponseHeaders({ 'cache-control': 'no-cache', 'cdn-cache-control': 'max-age=60' }, { cdnCacheControl: false })['cache-control'], 'no-cache', 'off: ignored')
})

t.test('an invalid Expires is in the past; an invalid Age is ignored', async (t) => {
  const headers = policyResponseHeaders({ expires: 'soon', age: 'ten', date: 'Sun, 06 Nov 1994 08:49:37 GMT' })
  t.equal(headers.expires, 'Thu, 01 Jan 1970 00:00:00 GMT')
  t.equal(headers.age, undefined)
  t.equal(headers.date, 'Sun, 06 Nov 1994 08:49:37 GMT')
})

t.test('the stored policy keeps only the request headers Vary names (RFC 9111 §4.1)', async (t) => {
  const request = { url: '/x', method: 'GET', headers: { host: 'h', authorization: 'Bearer secret', cookie: 'a=1', 'accept-language': 'de', 'x-shard': '7' } }
  const stored = storablePolicyObject(newPolicy(request, 200, { 'cache-control': 'public, max-age=60', vary: 'Accept-Language, X-Shard' }))
  t.same(stored.reqh, { 'accept-language': 'de', 'x-shard': '7' }, 'no credentials, no cookie, only the Vary-selected values')
  const plain = storablePolicyObject(newPolicy(request, 200, { 'cache-control': 'public, max-age=60' }))
  t.notOk(JSON.stringify(plain).includes('secret'), 'without Vary nothing of the request is kept')
})

t.test('cache.immutable may apply only when the upstream says nothing explicit (issue #13 item 11)', async (t) => {
  t.ok(immutablePatternMayApply({ etag: '"a"', 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }))
  t.ok(immutablePatternMayApply({ 'cache-control': 'public' }))
  for (const cc of ['max-age=0', 'max-age=3600', 's-maxage=0', 'no-cache', 'must-revalidate', 'proxy-revalidate', 'no-store', 'private']) {
    t.notOk(immutablePatternMayApply({ 'cache-control': cc }), cc)
  }
  t.notOk(immutablePatternMayApply({ expires: '0' }), 'an Expires')
  t.notOk(immutablePatternMayApply({ vary: 'Accept, *' }), 'Vary: *')
})
