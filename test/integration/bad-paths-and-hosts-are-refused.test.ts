// Traversal, smuggling and disallowed hosts are refused with DSM_BAD_PATH / DSM_HOST_NOT_ALLOWED
// before any connection is opened: the upstream (the only listener that could be reached) counts 0.
import t from 'tap'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('refused request targets open no upstream connection', async (t) => {
  const upstream = await startUpstream()
  upstream.set('/ok.bin', { body: Buffer.from('fine') })
  upstream.set('/secret', { body: Buffer.from('must never be served') })
  const h = upstream.host
  const proxy = await startProxy({ allowHosts: [h], config: { mirrors: { local: { url: `${upstream.origin}/files/` } } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const port = Number(new URL(proxy.origin).port)

  const badPath: Array<[string, string]> = [
    ['dot-dot', `/${h}/a/../secret`],
    ['encoded dot-dot', `/${h}/a/%2e%2e/secret`],
    ['mixed encoded dot-dot', `/${h}/a/.%2E/secret`],
    ['single dot', `/${h}/./secret`],
    ['encoded slash', `/${h}/a%2f..%2fsecret`],
    ['encoded backslash', `/${h}/a%5csecret`],
    ['raw backslash', `/${h}/a\\..\\secret`],
    ['encoded NUL', `/${h}/ok.bin%00.png`],
    ['userinfo', `/user:pw@${h}/ok.bin`],
    ['userinfo at', `/evil.example@${h}/ok.bin`],
    ['percent-encoded host', `/127.0.0.1%3a${upstream.port}/ok.bin`],
    ['malformed percent', `/${h}/%zz`],
    ['empty first segment', `//${h}/ok.bin`],
    ['mirror escape via empty segment', '/local//evil.example/x'],
    ['mirror escape via dot-dot', '/local/../secret'],
    ['absolute-form', `http://${h}/ok.bin`],
    ['absolute-form https', `https://${h}/ok.bin`]
  ]
  for (const [name, target] of badPath) {
    const res = await rawRequest(port, [`GET ${target} HTTP/1.1`, 'host: 127.0.0.1'])
    t.equal(res.status, 400, `${name}: 400`)
    t.match(res.body, /"code":"DSM_BAD_PATH"/, `${name}: DSM_BAD_PATH`)
  }

  const notAllowed: Array<[string, string]> = [
    ['other host', '/evil.example/x'],
    ['allowed name, other port', `/127.0.0.1:${upstream.port + 1}/ok.bin`],
    ['port-less loopback', '/127.0.0.1/ok.bin'],
    ['IPv6 loopback', `/[::1]:${upstream.port}/ok.bin`],
    ['localhost spelling', `/localhost:${upstream.port}/ok.bin`],
    ['decimal IPv4 of a forbidden address', '/2852039166:443/latest/meta-data'],
    ['metadata address', '/169.254.169.254/latest/meta-data'],
    ['suffix trick', `/127.0.0.1:${upstream.port}.evil.example/x`]
  ]
  for (const [name, target] of notAllowed) {
    const res = await rawRequest(port, [`GET ${target} HTTP/1.1`, 'host: 127.0.0.1'])
    t.match(res.status, /^(400|403)$/, `${name}: refused`)
    t.match(res.body, /"code":"DSM_(HOST_NOT_ALLOWED|BAD_PATH)"/, `${name}: code`)
  }
  const unknownMirror = await rawRequest(port, ['GET /nosuchmirror/x HTTP/1.1', 'host: 127.0.0.1'])
  t.equal(unknownMirror.status, 404)
  t.match(unknownMirror.body, /DSM_MIRROR_UNKNOWN/)
  const ownPages = await rawRequest(port, ['GET /_/nothing-here HTTP/1.1', 'host: 127.0.0.1'])
  t.equal(ownPages.status, 404)
  t.match(ownPages.body, /DSM_NOT_FOUND/)

  t.equal(upstream.connections, 0, 'no refused request reached the upstream')

  // The same proxy still serves a good request: the refusals above were not a broken listener.
  const good = await rawRequest(port, [`GET /${h}/ok.bin HTTP/1.1`, 'host: 127.0.0.1'])
  t.equal(good.status, 200)
  t.equal(good.body, 'fine')
  t.match(good.headers['cache-status'], /^dsmirror; fwd=miss/)
})
