// The cache key (docs/design.md "Cache"): every spelling of one upstream URL shares one key, no
// spelling reaches another URL's key, and canonicalisation never moves a URL to another host.
import fc from 'fast-check'
import t from 'tap'
import { cacheKey, canonicalUrl } from '../../server/cache/cache-key.js'

const RUNS = 1000

t.test('canonicalUrl normalises what RFC 3986 §6.2.2 says is equivalent', async (t) => {
  const table: Array<[string, string, string]> = [
    ['scheme and host case', 'HTTPS://Example.ORG/Data/X.bin', 'https://example.org/Data/X.bin'],
    ['default https port dropped', 'https://example.org:443/a', 'https://example.org/a'],
    ['default http port dropped', 'http://example.org:80/a', 'http://example.org/a'],
    ['other port kept', 'https://example.org:8443/a', 'https://example.org:8443/a'],
    ['dot-segments resolved', 'https://example.org/a/b/../c/./d', 'https://example.org/a/c/d'],
    ['encoded dot-segments resolved', 'https://example.org/a/b/%2e%2E/c/%2e/d', 'https://example.org/a/c/d'],
    ['dot-segments cannot climb above the root', 'https://example.org/../../x', 'https://example.org/x'],
    ['unreserved decoded', 'https://example.org/%7euser/%41%62%2D%5F%2E%30', 'https://example.org/~user/Ab-_.0'],
    ['hex upper-cased', 'https://example.org/a%2fb%3ac%c3%a9', 'https://example.org/a%2Fb%3Ac%C3%A9'],
    ['reserved kept encoded', 'https://example.org/a%2Fb%3F%23%40%25', 'https://example.org/a%2Fb%3F%23%40%25'],
    ['raw non-ASCII encoded', 'https://example.org/caf\u00e9 x', 'https://example.org/caf%C3%A9%20x'],
    ['fragment dropped', 'https://example.org/a.tar.gz#part', 'https://example.org/a.tar.gz'],
    ['query kept verbatim', 'https://example.org/a?B=%7e&a=1&a=2', 'https://example.org/a?B=%7e&a=1&a=2'],
    ['empty query kept', 'https://example.org/a?', 'https://example.org/a?'],
    ['trailing-dot host', 'https://example.org./a', 'https://example.org/a'],
    ['trailing dots host', 'https://example.org../a', 'https://example.org/a'],
    ['trailing-dot host with port', 'https://Example.org.:8443/a', 'https://example.org:8443/a'],
    ['IPv4 numeric forms', 'https://2130706433:8443/a', 'https://127.0.0.1:8443/a'],
    ['IPv6 compressed', 'https://[0:0:0:0:0:0:0:1]:8443/a', 'https://[::1]:8443/a']
  ]
  for (const [name, input, expected] of table) {
    t.equal(canonicalUrl(input), expected, name)
    t.equal(canonicalUrl(new URL(input)), expected, `${name} (URL object)`)
  }
})

t.test('cacheKey is the hex sha256 of the canonical URL', async (t) => {
  t.match(cacheKey('https://example.org/a'), /^[0-9a-f]{64}$/)
  t.equal(cacheKey('HTTPS://EXAMPLE.org:443/%61#x'), cacheKey('https://example.org/a'))
  t.not(cacheKey('https://example.org/a?x=1'), cacheKey('https://example.org/a'), 'the query is part of the key')
  t.not(cacheKey('https://example.org/a?x=1&y=2'), cacheKey('https://example.org/a?y=2&x=1'), 'query order is meaningful')
  t.not(cacheKey('https://example.org/a?x=%7e'), cacheKey('https://example.org/a?x=~'), 'query encoding is kept as given')
  t.not(cacheKey('https://example.org/a'), cacheKey('https://example.org:8443/a'), 'another port is another key')
  t.not(cacheKey('https://example.org/a'), cacheKey('http://example.org/a'), 'another scheme is another key')
  t.not(cacheKey('https://example.org/a/b'), cacheKey('https://example.org/a%2Fb'), 'an encoded / is not a path separator')
  t.not(cacheKey('https://example.org/A'), cacheKey('https://example.org/a'), 'path case is significant')
  t.not(cacheKey('https://a.example.org/x'), cacheKey('https://example.org/a.example.org/x'))
})

// --- properties ---

const UNRESERVED_CHARS = 'ABCXYZabcxyz0189-._~'.split('')
const pathChar = fc.oneof(
  fc.constantFrom(...UNRESERVED_CHARS),
  fc.constantFrom('%2F', '%3A', '%40', '%25', '%C3%A9', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', ':', '@')
)
const segment = fc.array(pathChar, { minLength: 1, maxLength: 8 }).map((chars) => chars.join(''))
  .filter((s) => s !== '.' && s !== '..')
// `xn--` and other `??--` labels are reserved for punycode and may not parse.
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/).filter((l) => !/^..--/.test(l))
const baseUrl = fc.record({
  labels: fc.array(label, { minLength: 1, maxLength: 3 }),
  tld: fc.constantFrom('org', 'com', 'io'),
  port: fc.constantFrom<number | null>(null, 8443, 9000),
  segments: fc.array(segment, { maxLength: 5 }),
  query: fc.constantFrom('', '?a=1', '?X=%7e&b=', '?sig=AbC%2F')
})

/** Spells the same URL differently: upper-case scheme/host letters, explicit :443, unreserved characters percent-encoded (either hex case). */
function variant (u: { labels: string[], tld: string, port: number | null, segments: string[], query: string }, flags: { upperScheme: boolean, upperHost: boolean[], explicitPort: boolean, encode: boolean[], upperHex: boolean, trailingDot: boolean }): string {
  const scheme = flags.upperScheme ? 'HTTPS' : 'https'
  let host = [...u.labels, u.tld].join('.')
  host = [...host].map((c, i) => (flags.upperHost[i % flags.upperHost.length] === true ? c.toUpperCase() : c)).join('')
  if (flags.trailingDot) host += '.'
  const port = u.port !== null ? `:${u.port}` : flags.explicitPort ? ':443' : ''
  let n = 0
  const path = u.segments.map((s) => s.replace(/%[0-9A-F]{2}|./g, (token) => {
    if (token.length !== 1 || !UNRESERVED_CHARS.includes(token)) return token
    if (flags.encode[n++ % flags.encode.length] !== true) return token
    const hex = token.charCodeAt(0).toString(16).padStart(2, '0')
    return `%${flags.upperHex ? hex.toUpperCase() : hex.toLowerCase()}`
  })).join('/')
  return `${scheme}://${host}${port}/${path}${u.query}`
}

const flagsArb = fc.record({
  upperScheme: fc.boolean(),
  upperHost: fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
  explicitPort: fc.boolean(),
  encode: fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
  upperHex: fc.boolean(),
  trailingDot: fc.boolean()
})
const plainFlags = { upperScheme: false, upperHost: [false], explicitPort: false, encode: [false], upperHex: false, trailingDot: false }

t.test('property: equal URLs share one key', async (t) => {
  fc.assert(fc.property(baseUrl, flagsArb, flagsArb, (u, f1, f2) => {
    const a = variant(u, f1)
    const b = variant(u, f2)
    return cacheKey(a) === cacheKey(b) && canonicalUrl(a) === canonicalUrl(variant(u, plainFlags))
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

// Characters that move URL parts around, weighted so traversal and authority tricks come up often.
const trickyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom('/', '\\', '.', '..', '%2e', '%2E', '%2f', '%5c', '%40', '@', ':', '?', '#', '//', 'evil.example', '%00', '\t', '\n', ' ', '%', 'a', '~', '%7e'), { maxLength: 16 })
    .map((parts) => parts.join(''))
)

t.test('property: a canonical URL never changes host', async (t) => {
  fc.assert(fc.property(trickyString, (path) => {
    const u = `https://example.org/${path}`
    return new URL(canonicalUrl(u)).host === 'example.org'
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

t.test('property: canonicalUrl is idempotent', async (t) => {
  const anyUrl = fc.oneof(
    fc.tuple(baseUrl, flagsArb).map(([u, f]) => variant(u, f)),
    trickyString.map((p) => `https://example.org/${p}`),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.tuple(fc.constantFrom('https://Example.org..', 'https://2130706433:8443', 'HTTP://[0::1]:80', 'https://a.b.'), trickyString).map(([o, p]) => `${o}/${p}`)
  )
  fc.assert(fc.property(anyUrl, (x) => {
    const once = canonicalUrl(x)
    return canonicalUrl(once) === once
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})
