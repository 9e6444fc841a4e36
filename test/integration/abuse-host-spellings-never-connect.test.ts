// Every spelling of a host outside allowHosts is refused with its status and code before any
// name is resolved or any connection opened: case, trailing dots, IPv6 literals, IPv4 in
// decimal/octal/hex/short form, IPv4-mapped IPv6, userinfo '@', percent-encoded host characters,
// backslashes, absolute-form and CONNECT targets, and the Host header (which never picks the
// upstream). The forbidden target is a canary on 127.0.0.2 listening at the same port as the one
// allowed upstream (127.0.0.1), plus one on [::1] at that port when this machine has IPv6
// loopback; the test resolver counts every name lookup. All must count 0.
import { connect } from 'node:net'
import t from 'tap'
import { startCanary, type Canary } from '../helpers/canary.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

type Row = [name: string, target: string, status: number, code: string]

t.test('no spelling of a host outside allowHosts reaches a listener', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/ok.bin', { body: Buffer.from('fine') })
  const P = upstream.port
  const canaries: Canary[] = [await startCanary(t, { port: P })]
  try {
    canaries.push(await startCanary(t, { host: '::1', port: P }))
  } catch {
    t.comment('no IPv6 loopback here: the [::1] canary is left out')
  }
  const resolver = createTestResolver({})
  const proxy = await startProxy({ allowHosts: [`127.0.0.1:${P}`], lookup: resolver.lookup, config: { mirrors: { local: { url: `https://127.0.0.1:${P}/files/` } } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)

  const NOT_ALLOWED = 'DSM_HOST_NOT_ALLOWED'
  const BAD_PATH = 'DSM_BAD_PATH'
  const rows: Row[] = [
    ['the canary itself', `/127.0.0.2:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['canary with a trailing dot', `/127.0.0.2.:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['decimal IPv4', `/2130706434:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['octal IPv4', `/0177.0.0.2:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['hex IPv4 by octet', `/0x7f.0.0.2:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['hex IPv4 whole', `/0x7f000002:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['short IPv4 (a.b)', `/127.2:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['short IPv4 (a.b.c)', `/127.0.2:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['mixed octal and hex', `/0177.0x0.0.02:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv4-mapped IPv6 of the canary', `/[::ffff:127.0.0.2]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv4-mapped IPv6, hex', `/[::ffff:7f00:2]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv4-mapped IPv6 of the allowed address', `/[::ffff:127.0.0.1]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv6 loopback', `/[::1]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv6 loopback, uncompressed', `/[0:0:0:0:0:0:0:1]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv6 unspecified', `/[::]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv4 unspecified', `/0.0.0.0:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv4 unspecified, one number', `/0:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['NAT64 of the canary', `/[64:ff9b::7f00:2]:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['IPv6 link-local with a zone', `/[fe80::1%25lo]:${P}/ok.bin`, 400, BAD_PATH],
    ['localhost', `/localhost:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['LOCALHOST upper-case', `/LOCALHOST:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['localhost with a trailing dot', `/localhost.:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['another name', `/evil.test:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['another name, mixed case and trailing dot', `/EVIL.Test.:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['the allowed address as a name prefix', `/127.0.0.1.evil.test:${P}/ok.bin`, 403, NOT_ALLOWED],
    ['the allowed host:port as a name prefix', `/127.0.0.1:${P}.evil.test/ok.bin`, 400, BAD_PATH],
    ['the allowed address on another port', `/127.0.0.1:${P + 1}/ok.bin`, 403, NOT_ALLOWED],
    ['the allowed address without a port (443)', '/127.0.0.1/ok.bin', 403, NOT_ALLOWED],
    ['userinfo: allowed@canary', `/127.0.0.1:${P}@127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['userinfo: empty user', `/@127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['userinfo: user:password', `/u:p@127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['userinfo: percent-encoded @', `/127.0.0.1:${P}%40127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['userinfo in a mirror name', `/local@127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['percent-encoded digit', `/127.0.0.%32:${P}/ok.bin`, 400, BAD_PATH],
    ['percent-encoded whole host', `/%31%32%37.%30.%30.%32:${P}/ok.bin`, 400, BAD_PATH],
    ['percent-encoded dot', `/evil%2etest:${P}/ok.bin`, 400, BAD_PATH],
    ['percent-encoded colon', `/127.0.0.2%3a${P}/ok.bin`, 400, BAD_PATH],
    ['percent-encoded fullwidth digits (IDNA maps them to ASCII)', `/%EF%BC%91%EF%BC%92%EF%BC%97.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['backslash before @', `/127.0.0.1:${P}\\@127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['encoded backslash in host', `/127.0.0.2%5c:${P}/ok.bin`, 400, BAD_PATH],
    ['protocol-relative (//host)', `//127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['absolute-form http', `http://127.0.0.2:${P}/ok.bin`, 400, BAD_PATH],
    ['absolute-form https with allowed-looking path', `https://127.0.0.2:${P}/127.0.0.1:${P}/ok.bin`, 400, BAD_PATH],
    ['encoded tab in host', `/127.0.0.2%09:${P}/ok.bin`, 400, BAD_PATH],
    ['encoded NUL after the allowed host', `/127.0.0.1:${P}%00.127.0.0.2/ok.bin`, 400, BAD_PATH]
  ]
  for (const [name, target, status, code] of rows) {
    const res = await rawRequest(port, [`GET ${target} HTTP/1.1`, 'host: 127.0.0.1'])
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.body, `"code":"${code}"`, `${name}: ${code}`)
  }

  // The Host header and friends never choose the upstream: the path does.
  const hostHeader: Array<[string, string[], number, string]> = [
    ['Host: canary, path names a mirror that does not exist', ['GET /x HTTP/1.1', `host: 127.0.0.2:${P}`], 404, 'DSM_MIRROR_UNKNOWN'],
    ['Host: canary, path is a file name', ['GET /ok.bin HTTP/1.1', `host: 127.0.0.2:${P}`], 403, NOT_ALLOWED],
    ['X-Forwarded-Host: canary', ['GET /ok.bin HTTP/1.1', 'host: 127.0.0.1', `x-forwarded-host: 127.0.0.2:${P}`], 403, NOT_ALLOWED]
  ]
  for (const [name, lines, status, code] of hostHeader) {
    const res = await rawRequest(port, lines)
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.body, `"code":"${code}"`, `${name}: ${code}`)
  }
  // CONNECT asks for a tunnel: the forward proxy (on by default) refuses an IP literal before
  // anything is connected (routes/forward-proxy.ts).
  const tunnel = await rawRequest(port, [`CONNECT 127.0.0.2:${P} HTTP/1.1`, `host: 127.0.0.2:${P}`], { timeoutMs: 2000 })
  t.equal(tunnel.status, 403, 'CONNECT: 403')
  t.match(tunnel.body, `"code":"${NOT_ALLOWED}"`, `CONNECT: ${NOT_ALLOWED}`)

  const attempts = rows.length + hostHeader.length + 1
  t.equal(resolver.calls.length, 0, 'no name was even resolved')
  for (const canary of canaries) t.equal(canary.connections, 0, `the canary on ${canary.authority} saw no connection`)
  t.equal(upstream.connections, 0, 'nor did the allowed upstream')
  t.comment(`${attempts} host spellings refused`)

  // Positive controls: the allowed upstream is served through the same proxy, and each canary
  // counts a connection when one is made.
  const good = await rawRequest(port, [`GET /127.0.0.1:${P}/ok.bin HTTP/1.1`, 'host: 127.0.0.1'])
  t.equal(good.status, 200)
  t.equal(good.body, 'fine')
  for (const canary of canaries) {
    await new Promise<void>((resolve) => {
      const socket = connect({ host: canary.host, port: canary.port })
      socket.on('error', () => {})
      socket.on('close', () => { resolve() })
    })
    t.equal(canary.connections, 1, `the canary on ${canary.authority} counts a direct connection`)
  }
})
