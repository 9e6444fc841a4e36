// An allowed upstream that redirects to a forbidden target gets 502 and opens no connection to
// it: targets outside allowHosts in every spelling (decimal, hex, IPv4-mapped, userinfo,
// protocol-relative, backslashes, other schemes, an http downgrade) are DSM_UPSTREAM_REDIRECT,
// checked before connecting; an allowed name that resolves to a forbidden address is
// DSM_UPSTREAM_FORBIDDEN_ADDRESS, checked at connect time on every hop, the second and later
// hops included. The forbidden target is a canary on 127.0.0.2 at the upstream's port.
import t from 'tap'
import { startCanary } from '../helpers/canary.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

type Row = [name: string, location: string, code: string]

t.test('redirects to forbidden targets are refused before connecting', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const P = upstream.port
  const canary = await startCanary(t, { port: P })
  const canaryName = testName('canary.test')
  const resolver = createTestResolver({ [canaryName]: ['127.0.0.2'], [testName('mapped.test')]: ['::ffff:127.0.0.2'] })
  const proxy = await startProxy({
    allowHosts: [`127.0.0.1:${P}`, `*.canary.test:${P}`, `*.mapped.test:${P}`],
    lookup: resolver.lookup,
    config: { upstream: { retries: 0 } }
  })
  t.teardown(() => proxy.close({ remove: true }))

  const REDIRECT = 'DSM_UPSTREAM_REDIRECT'
  const FORBIDDEN = 'DSM_UPSTREAM_FORBIDDEN_ADDRESS'
  const rows: Row[] = [
    ['the canary', `https://127.0.0.2:${P}/x`, REDIRECT],
    ['the canary, decimal', `https://2130706434:${P}/x`, REDIRECT],
    ['the canary, hex', `https://0x7f000002:${P}/x`, REDIRECT],
    ['the canary, octal', `https://0177.0.0.2:${P}/x`, REDIRECT],
    ['the canary, IPv4-mapped', `https://[::ffff:127.0.0.2]:${P}/x`, REDIRECT],
    ['IPv6 loopback', `https://[::1]:${P}/x`, REDIRECT],
    ['0.0.0.0', `https://0.0.0.0:${P}/x`, REDIRECT],
    ['localhost', `https://localhost:${P}/x`, REDIRECT],
    ['metadata address (refused by the allowlist, never dialled)', 'https://169.254.169.254/latest/meta-data/', REDIRECT],
    ['userinfo: allowed@canary', `https://127.0.0.1:${P}@127.0.0.2:${P}/x`, REDIRECT],
    ['userinfo on the allowed host', `https://user:pw@127.0.0.1:${P}/x`, REDIRECT],
    ['protocol-relative', `//127.0.0.2:${P}/x`, REDIRECT],
    ['backslashes (WHATWG reads them as slashes)', `\\\\127.0.0.2:${P}/x`, REDIRECT],
    ['backslash before @', `https://127.0.0.2:${P}\\@127.0.0.1:${P}/x`, REDIRECT],
    ['tab inside the host (WHATWG strips it)', `https://127.0.0.\t2:${P}/x`, REDIRECT],
    ['downgrade to http, allowed host', `http://127.0.0.1:${P}/x`, REDIRECT],
    ['file:', 'file:///etc/passwd', REDIRECT],
    ['ftp:', `ftp://127.0.0.2:${P}/x`, REDIRECT],
    ['data:', 'data:text/plain,owned', REDIRECT],
    ['allowed name resolving to the canary', `https://${canaryName}:${P}/x`, FORBIDDEN],
    ['same, trailing dot', `https://${canaryName}.:${P}/x`, FORBIDDEN],
    ['same, upper-case', `https://${canaryName.toUpperCase()}:${P}/x`, FORBIDDEN],
    ['allowed name resolving to IPv4-mapped canary', `https://${testName('mapped.test')}:${P}/x`, FORBIDDEN]
  ]
  rows.forEach(([, location], i) => { upstream.set(`/r/${i}`, { body: Buffer.alloc(0), redirectTo: location }) })
  // Two allowed hops first, then the forbidden one: every hop is checked, not just the first.
  upstream.set('/hop/0', { body: Buffer.alloc(0), redirectTo: '/hop/1' })
  upstream.set('/hop/1', { body: Buffer.alloc(0), redirectTo: `https://127.0.0.1:${P}/hop/2` })
  upstream.set('/hop/2', { body: Buffer.alloc(0), redirectTo: `https://${canaryName}:${P}/x` })
  rows.push(['third hop to an allowed name resolving to the canary', '/hop/0', FORBIDDEN])

  for (const [i, [name, , code]] of rows.entries()) {
    const path = name.startsWith('third hop') ? '/hop/0' : `/r/${i}`
    const res = await request(proxy.mirrorUrl(upstream.host, path))
    t.equal(res.status, 502, `${name}: 502`)
    t.equal(JSON.parse(res.body.toString()).code, code, `${name}: ${code}`)
  }
  t.equal(upstream.count('/hop/2'), 1, 'the chain was followed up to the forbidden hop')
  t.equal(canary.connections, 0, 'the canary saw no connection')
  t.comment(`${rows.length} redirects refused`)

  // Nothing was cached: asking again goes upstream again.
  const before = upstream.count('/r/0')
  await request(proxy.mirrorUrl(upstream.host, '/r/0'))
  t.equal(upstream.count('/r/0'), before + 1, 'a refused redirect is not cached')
})
