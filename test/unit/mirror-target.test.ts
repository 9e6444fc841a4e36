// parseMirrorTarget (docs/design.md "URL scheme"): the raw request target becomes an upstream URL on
// the named host or under the named mirror's URL, or a DSM_* error. Traversal, smuggling and
// userinfo in any spelling are refused, unknown mirror names never reach Object.prototype, and
// (property) no suffix of a target can move the URL to another host or out of a mirror's prefix.
// Composed with cache-key.ts, as mirror-cache.ts does (properties): the canonical URL a target's
// key is made from stays on that host and prefix, and every spelling of one upstream URL as a
// request target, in host or mirror form, gets one key.
import fc from 'fast-check'
import t from 'tap'
import { Allowlist } from '../../server/upstream/allowlist.js'
import { cacheKey, canonicalUrl } from '../../server/cache/cache-key.js'
import { isDsmError } from '../../server/errors.js'
import { parseMirrorTarget, type MirrorTargetOptions } from '../../server/routes/mirror-target.js'

const RUNS = 2000

const opts: MirrorTargetOptions = {
  allowlist: new Allowlist(['example.org', '127.0.0.1:8443', '[::1]:9443', '*.hf.co']),
  mirrors: {
    pytorch: { url: 'https://download.pytorch.org/' },
    local: { url: 'https://127.0.0.1:8443/files/' },
    deep: { url: 'https://mirror.corp:8443/a/b/c/' }
  }
}

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err: unknown) {
    return isDsmError(err) ? err.code : `not a DSM error: ${String(err)}`
  }
  return 'no error'
}

t.test('host form', async (t) => {
  const table: Array<[string, string]> = [
    ['/example.org/models/resnet18-f37072fd.pth', 'https://example.org/models/resnet18-f37072fd.pth'],
    ['/example.org', 'https://example.org/'],
    ['/example.org/', 'https://example.org/'],
    ['/example.org/dir/', 'https://example.org/dir/'],
    ['/example.org/a/b.tar.gz?sig=AbC%2F&x=1', 'https://example.org/a/b.tar.gz?sig=AbC%2F&x=1'],
    ['/example.org?x=1', 'https://example.org/?x=1'],
    ['/example.org/a?q=../../etc//x', 'https://example.org/a?q=../../etc//x'],
    ['/Example.ORG/A/B', 'https://example.org/A/B'],
    ['/example.org./a', 'https://example.org/a'],
    ['/example.org:443/a', 'https://example.org/a'],
    ['/127.0.0.1:8443/x.bin', 'https://127.0.0.1:8443/x.bin'],
    ['/2130706433:8443/x.bin', 'https://127.0.0.1:8443/x.bin'],
    ['/0x7f.1:8443/x.bin', 'https://127.0.0.1:8443/x.bin'],
    ['/[::1]:9443/x.bin', 'https://[::1]:9443/x.bin'],
    ['/cdn-lfs.hf.co/repos/a/b', 'https://cdn-lfs.hf.co/repos/a/b'],
    ['/example.org/%7Euser/file%20name.txt', 'https://example.org/%7Euser/file%20name.txt'],
    ['/example.org/a...b/.hidden/...', 'https://example.org/a...b/.hidden/...']
  ]
  for (const [target, url] of table) {
    const parsed = parseMirrorTarget(target, opts)
    t.equal(parsed.url.href, url, target)
    t.equal(parsed.mirror, null, `${target}: host form`)
  }
})

t.test('mirror form', async (t) => {
  const table: Array<[string, string, string]> = [
    ['/pytorch/models/resnet18.pth', 'https://download.pytorch.org/models/resnet18.pth', 'pytorch'],
    ['/local/a/b.bin', 'https://127.0.0.1:8443/files/a/b.bin', 'local'],
    ['/local', 'https://127.0.0.1:8443/files/', 'local'],
    ['/local/', 'https://127.0.0.1:8443/files/', 'local'],
    ['/local/dir/', 'https://127.0.0.1:8443/files/dir/', 'local'],
    ['/local/a.bin?rev=main&x=%2F', 'https://127.0.0.1:8443/files/a.bin?rev=main&x=%2F', 'local'],
    ['/local?x=1', 'https://127.0.0.1:8443/files/?x=1', 'local'],
    ['/deep/x/y', 'https://mirror.corp:8443/a/b/c/x/y', 'deep']
  ]
  for (const [target, url, mirror] of table) {
    const parsed = parseMirrorTarget(target, opts)
    t.equal(parsed.url.href, url, target)
    t.equal(parsed.mirror, mirror, `${target}: mirror ${mirror}`)
  }
})

t.test('DSM_BAD_PATH', async (t) => {
  const h = 'example.org'
  const table: Array<[string, string]> = [
    ['dot-dot', `/${h}/a/../secret`],
    ['trailing dot-dot', `/${h}/a/..`],
    ['single dot', `/${h}/./secret`],
    ['encoded dot-dot', `/${h}/a/%2e%2e/secret`],
    ['encoded dot-dot upper', `/${h}/a/%2E%2E/secret`],
    ['half-encoded dot-dot', `/${h}/a/.%2E/secret`],
    ['half-encoded dot-dot, other half', `/${h}/a/%2e./secret`],
    ['encoded single dot', `/${h}/%2e/secret`],
    ['mirror dot-dot', '/local/../secret'],
    ['mirror encoded dot-dot', '/local/%2e%2e/secret'],
    ['mirror name then dot-dot', '/local/a/../../x'],
    ['encoded slash', `/${h}/a%2f..%2fsecret`],
    ['encoded slash upper', `/${h}/a%2F..%2Fsecret`],
    ['encoded backslash', `/${h}/a%5csecret`],
    ['encoded backslash upper', `/${h}/a%5Csecret`],
    ['raw backslash', `/${h}/a\\..\\secret`],
    ['raw backslash after host', `/${h}\\evil.example/x`],
    ['encoded NUL', `/${h}/ok.bin%00.png`],
    ['encoded NUL in query', `/${h}/ok.bin?x=%00`],
    ['raw NUL', `/${h}/ok\u0000.bin`],
    ['raw tab', `/${h}/o\tk.bin`],
    ['raw newline', `/${h}/ok.bin\r\nx: y`],
    ['raw DEL', `/${h}/ok\u007f.bin`],
    ['raw control in query', `/${h}/ok.bin?a=\u0001`],
    ['encoded control', `/${h}/ok%01.bin`],
    ['encoded newline', `/${h}/ok%0d%0a.bin`],
    ['encoded DEL', `/${h}/ok%7F.bin`],
    ['userinfo', `/user:pw@${h}/ok.bin`],
    ['userinfo at', `/evil.example@${h}/ok.bin`],
    ['empty userinfo', `/@${h}/ok.bin`],
    ['percent in host', '/127.0.0.1%3a8443/ok.bin'],
    ['percent-encoded host name', '/example%2Eorg/ok.bin'],
    ['percent-encoded mirror name', '/%6cocal/ok.bin'],
    ['empty first segment', `//${h}/ok.bin`],
    ['empty segment', `/${h}//evil.example/x`],
    ['empty segment later', `/${h}/a//b`],
    ['double trailing slash', `/${h}/a//`],
    ['mirror escape via empty segment', '/local//evil.example/x'],
    ['absolute-form', `http://${h}/ok.bin`],
    ['absolute-form https', `https://${h}/ok.bin`],
    ['authority-form', `${h}:443`],
    ['asterisk-form', '*'],
    ['empty target', ''],
    ['root', '/'],
    ['root with query', '/?x=1'],
    ['malformed percent', `/${h}/%zz`],
    ['truncated percent', `/${h}/a%2`],
    ['bare percent', `/${h}/a%`],
    ['invalid UTF-8 percent-encoding', `/${h}/a%C0%AE`],
    ['host with underscore', '/exa_mple.org/x'],
    ['host with bad port', `/${h}:99999/x`],
    ['host with non-numeric port', `/${h}:abc/x`],
    ['unclosed IPv6', '/[::1/x'],
    ['host with empty label', '/a..example.org/x'],
    ['port trick', '/127.0.0.1:8443.evil.example/x'],
    ['host with leading dot', '/.example.org/x']
  ]
  for (const [name, target] of table) t.equal(codeOf(() => parseMirrorTarget(target, opts)), 'DSM_BAD_PATH', name)
  const err = (() => { try { parseMirrorTarget(`/${h}/a/../b`, opts) } catch (e: unknown) { return e } })()
  t.ok(isDsmError(err) && err.statusCode === 400, 'status 400')
  t.match(String((err as Error).message), /dot-segment/, 'the message says why')
  const long = `/${h}/${'a'.repeat(5000)}/../x`
  t.ok((() => { try { parseMirrorTarget(long, opts) } catch (e: unknown) { return (e as Error).message.length < 600 } })(), 'a long target is shortened in the message')
})

t.test('DSM_HOST_NOT_ALLOWED', async (t) => {
  const table: Array<[string, string]> = [
    ['other host', '/evil.example/x'],
    ['allowed name, other port', '/example.org:8443/x'],
    ['allowed address, other port', '/127.0.0.1:8444/x'],
    ['allowed address, default port', '/127.0.0.1/x'],
    ['a subdomain of an exact entry', '/www.example.org/x'],
    ['the apex of a pattern', '/hf.co/x'],
    ['a look-alike of a pattern', '/evilhf.co/x'],
    ['suffix trick', '/example.org.evil.example/x'],
    ['metadata address', '/169.254.169.254/latest/meta-data'],
    ['metadata address in decimal', '/2852039166:443/latest/meta-data'],
    ['metadata address in hex', '/0xa9fea9fe:443/latest/meta-data'],
    ['IPv4-mapped loopback', '/[::ffff:127.0.0.1]:8443/x'],
    ['localhost', '/localhost:8443/x']
  ]
  for (const [name, target] of table) t.equal(codeOf(() => parseMirrorTarget(target, opts)), 'DSM_HOST_NOT_ALLOWED', name)
})

t.test('DSM_MIRROR_UNKNOWN, including Object.prototype names', async (t) => {
  // A dotless, portless first segment is a mirror name (docs/design.md "URL scheme"), even when a URL
  // parser would read it as a decimal IPv4 address: it is refused as an unknown mirror.
  const names = ['nosuch', '2852039166', 'PyTorch', 'pytorch2', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf', '__defineGetter__', '__lookupSetter__', 'propertyIsEnumerable', 'toLocaleString']
  const nullProto: MirrorTargetOptions = { allowlist: opts.allowlist, mirrors: Object.assign(Object.create(null) as Record<string, { url: string }>, opts.mirrors) }
  for (const name of names) {
    for (const [label, o] of [['plain object', opts], ['null-prototype object', nullProto]] as const) {
      t.equal(codeOf(() => parseMirrorTarget(`/${name}/x`, o)), 'DSM_MIRROR_UNKNOWN', `${name} (${label})`)
      t.equal(codeOf(() => parseMirrorTarget(`/${name}`, o)), 'DSM_MIRROR_UNKNOWN', `/${name} (${label})`)
    }
  }
  const err = (() => { try { parseMirrorTarget('/nosuch/x', opts) } catch (e: unknown) { return e } })()
  t.ok(isDsmError(err) && err.statusCode === 404)
  // A mirror that really is called like a prototype member resolves to its own entry.
  const own: MirrorTargetOptions = { allowlist: opts.allowlist, mirrors: { constructor: { url: 'https://example.org/c/' } } }
  t.equal(parseMirrorTarget('/constructor/x', own).url.href, 'https://example.org/c/x')
})

t.test('a mirror URL without a trailing slash still keeps requests below it', async (t) => {
  const o: MirrorTargetOptions = { allowlist: opts.allowlist, mirrors: { bare: { url: 'https://example.org/files' } } }
  t.equal(parseMirrorTarget('/bare/a.bin', o).url.href, 'https://example.org/files/a.bin')
  t.equal(parseMirrorTarget('/bare', o).url.href, 'https://example.org/files/')
  t.equal(parseMirrorTarget('/bare/-secret/x', o).url.href, 'https://example.org/files/-secret/x', 'never the sibling /files-secret')
})

// --- properties ---

const tricky = fc.oneof(
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }) },
  {
    weight: 3,
    arbitrary: fc.array(fc.constantFrom(
      '/', '//', '\\', '.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2f', '%2F', '%5c', '%5C', '%00', '%', '%2', '%25', '%252e',
      '@', ':', '?', '#', '[', ']', 'evil.example', 'example.org', 'http:', 'https:', '//evil.example', '%40', '%3a',
      '\t', '\n', '\r', ' ', '\u0000', '\u007f', 'a', 'files', '~', '%7e', '\u3002', '\uff0e', '\u2025'
    ), { maxLength: 20 }).map((parts) => parts.join(''))
  }
)

function dsmOr<T> (fn: () => T): { ok: T } | { code: string } {
  try {
    return { ok: fn() }
  } catch (err: unknown) {
    if (isDsmError(err)) return { code: err.code }
    throw err
  }
}

t.test('property: nothing after /<allowed-host>/ reaches another host', async (t) => {
  for (const host of ['example.org', '127.0.0.1:8443', '[::1]:9443', 'a.hf.co']) {
    fc.assert(fc.property(tricky, (rest) => {
      const result = dsmOr(() => parseMirrorTarget(`/${host}/${rest}`, opts))
      if ('code' in result) return result.code === 'DSM_BAD_PATH'
      const url = result.ok.url
      // Re-parsing the href is what the upstream client effectively does.
      return url.protocol === 'https:' && url.host === host && new URL(url.href).host === host && result.ok.mirror === null
    }), { numRuns: RUNS })
    t.pass(`${host}: ${RUNS} runs`)
  }
})

t.test('property: nothing after /<mirror>/ leaves the mirror URL prefix', async (t) => {
  for (const name of ['local', 'deep', 'pytorch']) {
    const prefix = new URL(opts.mirrors[name]?.url ?? '')
    fc.assert(fc.property(tricky, (rest) => {
      const result = dsmOr(() => parseMirrorTarget(`/${name}/${rest}`, opts))
      if ('code' in result) return result.code === 'DSM_BAD_PATH'
      const url = new URL(result.ok.url.href)
      return url.origin === prefix.origin && url.pathname.startsWith(prefix.pathname) &&
        url.href.startsWith(prefix.href) && url.username === '' && result.ok.mirror === name &&
        !url.pathname.split('/').some((s) => s === '..' || s === '.')
    }), { numRuns: RUNS })
    t.pass(`${name}: ${RUNS} runs`)
  }
})

t.test('property: any target either parses or fails with a DSM_* code, never another error', async (t) => {
  fc.assert(fc.property(fc.oneof(tricky, tricky.map((s) => `/${s}`)), (target) => {
    const result = dsmOr(() => parseMirrorTarget(target, opts))
    if ('code' in result) return /^DSM_(BAD_PATH|HOST_NOT_ALLOWED|MIRROR_UNKNOWN)$/.test(result.code)
    const { url, mirror } = result.ok
    if (mirror !== null) return url.origin === new URL(opts.mirrors[mirror]?.url ?? 'x:').origin
    return opts.allowlist.allows(url.hostname, Number(url.port !== '' ? url.port : 443))
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

// The key is the sha256 of canonicalUrl(url): canonicalisation runs after this parser (it decodes
// unreserved %XX and resolves what that exposes), so the guarantee is stated on its output too.
t.test('property: the cache key of an accepted target is made from a URL on its host and prefix', async (t) => {
  const cases: Array<[string, string]> = [
    ['example.org', 'https://example.org/'],
    ['127.0.0.1:8443', 'https://127.0.0.1:8443/'],
    ['[::1]:9443', 'https://[::1]:9443/'],
    ['a.hf.co', 'https://a.hf.co/'],
    ...Object.entries(opts.mirrors).map(([name, m]): [string, string] => [name, m.url])
  ]
  for (const [first, prefix] of cases) {
    fc.assert(fc.property(tricky, (rest) => {
      const result = dsmOr(() => parseMirrorTarget(`/${first}/${rest}`, opts))
      if ('code' in result) return true
      const canonical = canonicalUrl(result.ok.url)
      return canonical.startsWith(prefix) && new URL(canonical).origin === new URL(prefix).origin &&
        canonicalUrl(canonical) === canonical && cacheKey(canonical) === cacheKey(result.ok.url)
    }), { numRuns: RUNS })
    t.pass(`/${first}/: ${RUNS} runs`)
  }
})

t.test('property: every spelling of one upstream URL as a request target gets one key', async (t) => {
  const o: MirrorTargetOptions = {
    allowlist: new Allowlist(['download.pytorch.org', 'mirror.corp:8443']),
    mirrors: { pt: { url: 'https://download.pytorch.org/whl/' }, corp: { url: 'https://mirror.corp:8443/a/' } }
  }
  const unreserved = 'ABCXYZabcxyz0189-._~'
  const segment = fc.array(fc.oneof(
    fc.constantFrom(...unreserved.split('')),
    // No %2F: an encoded slash is refused (DSM_BAD_PATH), whatever else is spelled.
    fc.constantFrom('%3A', '%40', '%25', '%C3%A9', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', ':', '@')
  ), { minLength: 1, maxLength: 8 }).map((c) => c.join('')).filter((s) => s !== '.' && s !== '..' && !/^[.~]*$/.test(s))
  const spelling = fc.record({
    mirrorForm: fc.boolean(),
    upperHost: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
    explicitPort: fc.boolean(),
    trailingDot: fc.boolean(),
    encode: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
    upperHex: fc.boolean()
  })
  const upstream = fc.record({
    mirror: fc.constantFrom('pt', 'corp'),
    segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
    query: fc.constantFrom('', '?a=1', '?X=%7e&b=', '?sig=AbC%2F')
  })
  function spell (u: { mirror: string, segments: string[], query: string }, s: typeof spelling extends fc.Arbitrary<infer T> ? T : never): string {
    let n = 0
    // Unreserved characters percent-encoded (RFC 3986 §2.3: equivalent), either hex case.
    const path = u.segments.map((seg) => seg.replace(/%[0-9A-F]{2}|./g, (c) => {
      if (c.length !== 1 || !unreserved.includes(c) || s.encode[n++ % s.encode.length] !== true) return c
      const hex = c.charCodeAt(0).toString(16)
      return `%${s.upperHex ? hex.toUpperCase() : hex}`
    })).join('/')
    if (s.mirrorForm) return `/${u.mirror}/${path}${u.query}`
    const base = new URL(o.mirrors[u.mirror]?.url ?? '')
    let host = [...base.hostname].map((c, i) => (s.upperHost[i % s.upperHost.length] === true ? c.toUpperCase() : c)).join('')
    if (s.trailingDot) host += '.'
    const port = base.port !== '' ? `:${base.port}` : s.explicitPort ? ':443' : ''
    return `/${host}${port}${base.pathname}${path}${u.query}`
  }
  fc.assert(fc.property(upstream, spelling, spelling, (u, a, b) => {
    const keyA = cacheKey(parseMirrorTarget(spell(u, a), o).url)
    const keyB = cacheKey(parseMirrorTarget(spell(u, b), o).url)
    return keyA === keyB
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})
