// Issue 17: the status page says what a setup exposes, from the config alone.
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { exposureOf } from '../../server/routes/status-page.js'

const cwd = '/srv/work'

t.test('loopback, open with a token, open by choice', async (t) => {
  t.equal(exposureOf(parseConfig(undefined, { env: {}, cwd })), 'loopback', 'the defaults')
  t.equal(exposureOf(parseConfig({ listen: { http: { host: 'localhost', port: 8080 }, https: { host: '::1', port: 8443 } } }, { env: {}, cwd })), 'loopback')
  t.equal(exposureOf(parseConfig({ listen: { https: { host: '0.0.0.0', port: 8443 } }, admin: { token: 'a-token' } }, { env: {}, cwd })), 'network-with-token')
  t.equal(exposureOf(parseConfig({ listen: { http: { host: '10.0.0.5', port: 8080 } }, admin: { openOnNetwork: true }, forwardProxy: { enabled: false } }, { env: {}, cwd })), 'network-open')
  t.equal(exposureOf(parseConfig({ tls: { mode: 'off' }, listen: { https: false } }, { env: {}, cwd })), 'loopback', 'HTTPS off')
})
