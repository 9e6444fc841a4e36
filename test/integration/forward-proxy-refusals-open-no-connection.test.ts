// Issue 12 items 2 and 3: what the forward proxy refuses, each with its code, and with no
// connection to anything: CONNECT to a host or port outside allowHosts, to an IP literal (even an
// allowed one: the interception CA excludes every address), malformed authorities, absolute-form
// requests for hosts outside allowHosts; an allowed name that resolves to a forbidden address is
// intercepted (nothing is resolved at CONNECT time) and then refused by the upstream address
// guard like any mirror request. Blind tunnels (tunnelHosts) go through the same guard.
import t from 'tap'
import { startCanary } from '../helpers/canary.js'
import { httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'

t.test('refused CONNECTs and forward requests: a code each, no connection', async (t) => {
  const canary = await startCanary(t)
  const P = canary.port
  const canaryName = testName('canary.test')
  const tunnelName = testName('tunnel.test')
  const resolver = createTestResolver({ [canaryName]: ['127.0.0.2'], [tunnelName]: ['127.0.0.2'] })
  const proxy = await startProxy({
    allowHosts: [`*.canary.test:${P}`, `127.0.0.2:${P}`, 'allowed.example'],
    config: { forwardProxy: { enabled: true, tunnelHosts: [`*.tunnel.test:${P}`, `127.0.0.2:${P}`] } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const port = Number(new URL(proxy.origin).port)

  const rows: Array<[string, string, number, string]> = [
    ['a host outside allowHosts', 'evil.example:443', 403, 'DSM_HOST_NOT_ALLOWED'],
    ['an allowed host on another port', 'allowed.example:8443', 403, 'DSM_HOST_NOT_ALLOWED'],
    ['an allowed host on port 22', 'allowed.example:22', 403, 'DSM_HOST_NOT_ALLOWED'],
    ['an IP literal in allowHosts and tunnelHosts', `127.0.0.2:${P}`, 403, 'DSM_HOST_NOT_ALLOWED'],
    ['an IPv6 literal', `[::1]:${P}`, 403, 'DSM_HOST_NOT_ALLOWED'],
    ['a decimal IPv4 spelling', `2130706434:${P}`, 403, 'DSM_HOST_NOT_ALLOWED'],
    ['the metadata address', '169.254.169.254:443', 403, 'DSM_HOST_NOT_ALLOWED'],
    ['no port', 'allowed.example', 400, 'DSM_BAD_PATH'],
    ['userinfo', `user@${canaryName}:${P}`, 400, 'DSM_BAD_PATH'],
    ['percent-encoding', 'allowed%2eexample:443', 400, 'DSM_BAD_PATH'],
    ['a path', 'allowed.example:443/x', 400, 'DSM_BAD_PATH'],
    ['a suffix trick', 'allowed.example.evil.example:443', 403, 'DSM_HOST_NOT_ALLOWED']
  ]
  for (const [name, authority, status, code] of rows) {
    const answer = await sendConnect(t, port, authority)
    t.equal(answer.status, status, `${name}: ${status}`)
    t.match(answer.body, `"code":"${code}"`, `${name}: ${code}`)
    t.match(answer.headers['cache-status'], `detail=${code}`, `${name}: Cache-Status names the code`)
    t.equal(answer.headers.connection, 'close')
  }
  t.equal(resolver.calls.length, 0, 'no name was even resolved')

  // Absolute-form plain HTTP outside allowHosts: refused like the mirror form.
  const absolute = await rawRequest(port, ['GET http://evil.example/x HTTP/1.1', 'host: evil.example'])
  t.equal(absolute.status, 403)
  t.match(absolute.body, '"code":"DSM_HOST_NOT_ALLOWED"')

  // Allowed name, forbidden address: the tunnel opens (no DNS, no connection yet); the request
  // inside is refused by the same guard as the mirror form.
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const tunnel = await sendConnect(t, port, `${canaryName}:${P}`)
  t.equal(tunnel.status, 200, 'an allowed name is intercepted')
  const secure = await tlsInTunnel(tunnel.socket, { ca: fp.ca.certPem, servername: canaryName, host: canaryName })
  const inside = await httpOver(secure, ['GET /x.bin HTTP/1.1', `host: ${canaryName}:${P}`])
  t.equal(inside.status, 502)
  t.match(inside.body.toString(), '"code":"DSM_UPSTREAM_FORBIDDEN_ADDRESS"', 'refused on the resolved address')
  secure.destroy()

  // A blind tunnel to a name resolving to a forbidden address: refused before the 200.
  const blind = await sendConnect(t, port, `${tunnelName}:${P}`)
  t.equal(blind.status, 502)
  t.match(blind.body, '"code":"DSM_UPSTREAM_FORBIDDEN_ADDRESS"')

  t.equal(canary.connections, 0, 'the canary saw no connection')
})

t.test('positive control: an allowed blind tunnel reaches the canary', async (t) => {
  const canary = await startCanary(t)
  const name = testName('tunnel.test')
  const resolver = createTestResolver({ [name]: ['127.0.0.2'] })
  const proxy = await startProxy({
    config: { forwardProxy: { enabled: true, tunnelHosts: [`*.tunnel.test:${canary.port}`] }, upstream: { allowAddresses: ['127.0.0.2/32'] } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const answer = await sendConnect(t, Number(new URL(proxy.origin).port), `${name}:${canary.port}`)
  t.equal(answer.status, 200, 'tunnelled')
  t.equal(canary.connections, 1, 'the canary counts the tunnel: a zero above means something')
})
