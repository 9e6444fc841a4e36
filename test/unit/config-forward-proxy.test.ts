// forwardProxy in the config (issue 12 items 6 and 8): defaults, and the refusal to serve the
// proxy on a listener other machines reach without Basic credentials or an explicit opt-out.
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { DEFAULT_FORWARD_PROXY_LEAF_LIFETIME_MS } from '../../config/schema.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('defaults: on, no tunnels, no plain http, no auth, 24h leaves', async (t) => {
  t.same(parseConfig(undefined, { env: {}, cwd }).forwardProxy, { enabled: true, tunnelHosts: [], plainHttpHosts: [], auth: null, leafLifetime: 24 * 3600 * 1000 })
  t.equal(DEFAULT_FORWARD_PROXY_LEAF_LIFETIME_MS, 24 * 3600 * 1000)
  const config = parseConfig({ forwardProxy: { tunnelHosts: ['Pypi.org', '*.corp.example:8443'], plainHttpHosts: ['yann.lecun.com'], leafLifetime: '2h' } }, { env: {}, cwd })
  t.same(config.forwardProxy.tunnelHosts, ['pypi.org', '*.corp.example:8443'])
  t.same(config.forwardProxy.plainHttpHosts, ['yann.lecun.com'])
  t.equal(config.forwardProxy.leafLifetime, 2 * 3600 * 1000)
  t.equal(parseConfig(undefined, { env: { DSMIRROR_FORWARDPROXY_ENABLED: 'false' }, cwd }).forwardProxy.enabled, false, 'env override')
})

t.test('a non-loopback listener needs auth or auth: false; the message names each fix', async (t) => {
  // admin.token: an open listener needs it too (issue 17), apart from the proxy's credentials.
  const open = { listen: { http: { host: '0.0.0.0', port: 8080 } }, admin: { token: 'an-admin-token' } }
  const message = configError(t, () => parseConfig(open, { env: {}, cwd }))
  t.match(message, 'forwardProxy.auth: is not set, but listen.http (0.0.0.0) is reachable from other machines')
  for (const fix of ['forwardProxy.auth: { users:', 'forwardProxy.auth: false', 'forwardProxy.enabled: false', 'bind listen.http to 127.0.0.1']) t.match(message, fix)

  t.same(parseConfig({ ...open, forwardProxy: { auth: { users: { alice: 's3cret' } } } }, { env: {}, cwd }).forwardProxy.auth, { users: { alice: 's3cret' } })
  t.equal(parseConfig({ ...open, forwardProxy: { auth: false } }, { env: {}, cwd }).forwardProxy.auth, false, 'explicit opt-out')
  t.equal(parseConfig({ ...open, forwardProxy: { enabled: false } }, { env: {}, cwd }).forwardProxy.enabled, false, 'or the mode off')
  t.equal(parseConfig({ listen: { http: { host: '127.0.0.1', port: 8080 } } }, { env: {}, cwd }).forwardProxy.auth, null, 'loopback: no auth needed')
  t.equal(parseConfig({ listen: { http: false } }, { env: {}, cwd }).forwardProxy.auth, null, 'no HTTP listener: nothing to protect')
})

t.test('bad auth is named with the fix', async (t) => {
  t.match(configError(t, () => parseConfig({ forwardProxy: { auth: 'secret' } }, { env: {}, cwd })), "forwardProxy.auth: 'secret' is not proxy credentials")
  t.match(configError(t, () => parseConfig({ forwardProxy: { auth: { users: {} } } }, { env: {}, cwd })), 'has no users')
  t.match(configError(t, () => parseConfig({ forwardProxy: { auth: { users: { 'a:b': 'x' } } } }, { env: {}, cwd })), "user 'a:b' is not a user name")
  t.match(configError(t, () => parseConfig({ forwardProxy: { auth: { users: { alice: 42 } } } }, { env: {}, cwd })), "the password of user 'alice'")
})
