// Issue 12 item 6: with forwardProxy.auth, every CONNECT and every absolute-form request needs
// Basic credentials in Proxy-Authorization: missing or wrong → 407 DSM_PROXY_AUTH_REQUIRED with
// `Proxy-Authenticate: Basic realm="dsmirror"` and nothing connected or minted; right → served.
// Requests inside an authenticated tunnel need none (clients send them on the CONNECT only).
// Mirror-form requests are not proxy requests and are not asked. (A non-loopback listener
// without auth is refused by the config: test/unit/config-forward-proxy.test.ts.)
import t from 'tap'
import { startCanary } from '../helpers/canary.js'
import { httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'

const basic = (user: string, password: string): string => `proxy-authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

t.test('407 without the right credentials, 200 with them', async (t) => {
  const canary = await startCanary(t)
  const host = testName('canary.test')
  const resolver = createTestResolver({ [host]: ['127.0.0.2'] })
  const proxy = await startProxy({
    allowHosts: [`*.canary.test:${canary.port}`],
    config: { forwardProxy: { enabled: true, auth: { users: { alice: 'correct horse', bob: 'battery staple' } } }, upstream: { allowAddresses: ['127.0.0.2/32'] } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const port = Number(new URL(proxy.origin).port)
  const authority = `${host}:${canary.port}`

  const refused: Array<[string, string[]]> = [
    ['no credentials', []],
    ['a wrong password', [basic('alice', 'wrong')]],
    ['a known password for another user', [basic('alice', 'battery staple')]],
    ['a prefix of the password', [basic('alice', 'correct')]],
    ['another scheme', ['proxy-authorization: Bearer correct horse']]
  ]
  for (const [name, headers] of refused) {
    const answer = await sendConnect(t, port, authority, { headers })
    t.equal(answer.status, 407, `CONNECT, ${name}: 407`)
    t.equal(answer.headers['proxy-authenticate'], 'Basic realm="dsmirror", charset="UTF-8"', `CONNECT, ${name}: the challenge`)
    t.match(answer.body, '"code":"DSM_PROXY_AUTH_REQUIRED"')
    const absolute = await rawRequest(port, [`GET http://${host}/x.bin HTTP/1.1`, `host: ${host}`, ...headers])
    t.equal(absolute.status, 407, `absolute-form, ${name}: 407`)
    t.equal(absolute.headers['proxy-authenticate'], 'Basic realm="dsmirror", charset="UTF-8"')
    t.match(absolute.body, '"code":"DSM_PROXY_AUTH_REQUIRED"')
  }
  t.equal(fp.leaves.minted, 0, 'no leaf minted for a refused CONNECT')
  t.equal(resolver.calls.length, 0, 'nothing resolved')
  t.equal(canary.connections, 0, 'nothing connected')

  const ok = await sendConnect(t, port, authority, { headers: [basic('bob', 'battery staple')] })
  t.equal(ok.status, 200, 'the right credentials open the tunnel')
  const secure = await tlsInTunnel(ok.socket, { ca: fp.ca.certPem, servername: host, host })
  const inside = await httpOver(secure, ['GET /x.bin HTTP/1.1', `host: ${authority}`])
  t.not(inside.status, 407, 'requests inside the tunnel need no credentials of their own')
  secure.destroy()
  t.equal(canary.connections >= 1, true, 'and reach the upstream (the canary plays it)')

  const mirror = await rawRequest(port, ['GET /_/healthz HTTP/1.1', 'host: 127.0.0.1'])
  t.equal(mirror.status, 200, 'the listener\'s own pages are not proxy requests')
})
