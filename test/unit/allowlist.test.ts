// The allowlist (docs/design.md "URL scheme"): exact names, name:port, *.suffix and IP literals; a
// port-less entry opens 443 only; every decision is made on the canonical host (the one the
// WHATWG parser produces and the connection uses), so no alternative spelling of an address
// or name slips past it, and nothing that would be parsed as userinfo is accepted as a host.
import fc from 'fast-check'
import t from 'tap'
import { Allowlist, canonicalHost, DEFAULT_UPSTREAM_PORT } from '../../server/upstream/allowlist.js'

const RUNS = 1000

/** The same decision a request takes: canonicalise the client's host[:port], then ask. */
function allowed (list: Allowlist, hostAndPort: string): boolean {
  const host = canonicalHost(hostAndPort)
  return host !== null && list.allows(host.hostname, host.port)
}

t.test('exact names and name:port', async (t) => {
  const list = new Allowlist(['download.pytorch.org', 'mirror.corp:8443'])
  t.ok(allowed(list, 'download.pytorch.org'))
  t.ok(allowed(list, 'download.pytorch.org:443'), 'the explicit default port is the same entry')
  t.ok(allowed(list, 'Download.PyTorch.ORG'), 'host names are case-insensitive')
  t.ok(allowed(list, 'download.pytorch.org.'), 'a trailing dot names the same host')
  t.ok(allowed(list, 'mirror.corp:8443'))
  t.notOk(allowed(list, 'mirror.corp'), 'name:port allows that port only, not 443')
  t.notOk(allowed(list, 'mirror.corp:8444'))
  t.notOk(allowed(list, 'pytorch.org'), 'a parent domain is another host')
  t.notOk(allowed(list, 'x.download.pytorch.org'), 'an exact entry allows no subdomains')
  t.notOk(allowed(list, 'download.pytorch.org.evil.example'))
  t.notOk(allowed(list, 'evildownload.pytorch.org'))
})

t.test('a port-less entry allows 443 only', async (t) => {
  const list = new Allowlist(['example.org', '10.0.0.5', '[fd00::1]'])
  t.equal(DEFAULT_UPSTREAM_PORT, 443)
  for (const host of ['example.org', '10.0.0.5', '[fd00::1]']) {
    t.ok(allowed(list, host), `${host}`)
    t.ok(allowed(list, `${host}:443`), `${host}:443`)
    for (const port of [22, 80, 8080, 8443, 2375]) t.notOk(allowed(list, `${host}:${port}`), `${host}:${port}`)
  }
})

t.test('*.suffix matches names below the suffix only', async (t) => {
  const list = new Allowlist(['*.hf.co', '*.Cdn.Example.ORG.'])
  t.ok(allowed(list, 'cdn-lfs.hf.co'))
  t.ok(allowed(list, 'a.b.c.hf.co'), 'any depth below the suffix')
  t.ok(allowed(list, 'CAS-BRIDGE.HF.CO.'), 'case and trailing dot of the request do not matter')
  t.ok(allowed(list, 'x.cdn.example.org'), 'the entry is canonicalised too')
  t.notOk(allowed(list, 'hf.co'), 'not the apex')
  t.notOk(allowed(list, 'evilhf.co'), 'not a name that merely ends with the suffix')
  t.notOk(allowed(list, 'hf.co.evil.example'))
  t.notOk(allowed(list, 'x.hf.co:8443'), 'a port-less pattern allows 443 only')
  t.notOk(list.allows('.hf.co', 443), 'an empty label is not a name below the suffix')
  t.notOk(list.allows('a..hf.co', 443))
  const withPort = new Allowlist(['*.corp.example:8443'])
  t.ok(allowed(withPort, 'a.corp.example:8443'))
  t.notOk(allowed(withPort, 'a.corp.example'))
})

t.test('IP literal entries', async (t) => {
  const list = new Allowlist(['127.0.0.1:8443', '[::1]:9443', '10.0.0.5'])
  t.ok(allowed(list, '127.0.0.1:8443'))
  t.notOk(allowed(list, '127.0.0.1'))
  t.notOk(allowed(list, '127.0.0.2:8443'))
  t.ok(allowed(list, '[::1]:9443'))
  t.ok(allowed(list, '[0:0:0:0:0:0:0:1]:9443'), 'IPv6 is compared in its compressed form')
  t.notOk(allowed(list, '[::1]:8443'))
  t.notOk(allowed(list, '[::2]:9443'))
  t.notOk(allowed(list, 'localhost:8443'), 'a name is not the address it resolves to')
  t.notOk(allowed(list, '[::1]:8443'), 'IPv6 loopback is not the IPv4 entry')
})

t.test('IPv4 in decimal, octal and hex is evaluated as the dotted address it connects to', async (t) => {
  const table: Array<[string, string]> = [
    ['2130706433', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0x7F.0.0.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['2852039166', '169.254.169.254'],
    ['0xa9fea9fe', '169.254.169.254']
  ]
  for (const [spelling, dotted] of table) {
    t.same(canonicalHost(`${spelling}:8443`), { hostname: dotted, port: 8443 }, `${spelling} is ${dotted}`)
  }
  const loopback = new Allowlist(['127.0.0.1:8443'])
  for (const [spelling, dotted] of table) {
    t.equal(allowed(loopback, `${spelling}:8443`), dotted === '127.0.0.1', `${spelling} against 127.0.0.1:8443`)
  }
  const metadata = new Allowlist(['example.org'])
  t.notOk(allowed(metadata, '2852039166'), 'the metadata address in decimal is not an allowed name')
  t.same(new Allowlist(['2130706433:8443']).allows('127.0.0.1', 8443), true, 'entries are canonicalised the same way')
})

t.test('IPv4-mapped IPv6 is its own canonical form and does not borrow an IPv4 entry', async (t) => {
  t.same(canonicalHost('[::ffff:127.0.0.1]:8443'), { hostname: '[::ffff:7f00:1]', port: 8443 })
  t.same(canonicalHost('[::FFFF:7F00:1]'), { hostname: '[::ffff:7f00:1]', port: 443 })
  t.notOk(allowed(new Allowlist(['127.0.0.1:8443']), '[::ffff:127.0.0.1]:8443'))
  t.notOk(allowed(new Allowlist(['[::1]:8443']), '[::ffff:127.0.0.1]:8443'))
  t.ok(allowed(new Allowlist(['[::ffff:127.0.0.1]:8443']), '[::ffff:7f00:1]:8443'), 'an explicit mapped entry matches either spelling')
})

t.test('canonicalHost: case, trailing dot, ports', async (t) => {
  t.same(canonicalHost('Example.ORG'), { hostname: 'example.org', port: 443 })
  t.same(canonicalHost('example.org.'), { hostname: 'example.org', port: 443 })
  t.same(canonicalHost('EXAMPLE.org.:8443'), { hostname: 'example.org', port: 8443 })
  t.same(canonicalHost('example.org:443'), { hostname: 'example.org', port: 443 })
  t.same(canonicalHost('example.org:08443'), { hostname: 'example.org', port: 8443 })
  t.same(canonicalHost('[::1]'), { hostname: '[::1]', port: 443 })
  t.same(canonicalHost('[::1]:8443'), { hostname: '[::1]', port: 8443 })
})

t.test('canonicalHost refuses what is not a plain host[:port]', async (t) => {
  const refused = [
    '', 'user@example.org', 'user:pw@example.org', '@example.org', ':@example.org', 'evil.example@example.org',
    'example.org/x', 'example.org\\x', 'example.org?x', 'example.org#x', 'example%2Eorg', 'example.org%2f',
    ' example.org', 'example.org ', 'exa\tmple.org', 'example.org\n', 'exam\u0000ple.org',
    'example.org:99999', 'example.org:-1', 'example.org:x', '[::1', '::1', '[example.org]',
    '.', '..', '.example.org', 'a..example.org', 'example.org..', '0x7f.0.0.0.1', '256.0.0.1'
  ]
  for (const input of refused) t.equal(canonicalHost(input), null, JSON.stringify(input))
})

t.test('bad entries are refused when the list is built', async (t) => {
  for (const entry of ['user@example.org', 'example.org/x', '', '*.', '*.1', '*.[::1]', '*.10.0.0.5', 'a..b']) {
    t.throws(() => new Allowlist([entry]), TypeError, JSON.stringify(entry))
  }
})

t.test('property: a host the allowlist accepts is exactly an allowed host', async (t) => {
  const list = new Allowlist(['example.org', 'mirror.corp:8443', '*.hf.co', '127.0.0.1:9443'])
  const piece = fc.constantFrom('example.org', 'hf.co', 'mirror.corp', '127.0.0.1', '.', ':', '@', '%2e', '#', '?', '/', '\\', 'x', '8443', '9443', '443', '[', ']', '::1', '0x7f', ' ', '\t', 'evil')
  const input = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.array(piece, { maxLength: 8 }).map((p) => p.join('')))
  fc.assert(fc.property(input, (hostAndPort) => {
    const host = canonicalHost(hostAndPort)
    if (host === null || !list.allows(host.hostname, host.port)) return true
    const { hostname, port } = host
    return (hostname === 'example.org' && port === 443) ||
      (hostname === 'mirror.corp' && port === 8443) ||
      (hostname.endsWith('.hf.co') && port === 443 && new URL(`https://${hostname}/`).hostname === hostname) ||
      (hostname === '127.0.0.1' && port === 9443)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})
