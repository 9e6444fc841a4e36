// upstream.allowAddresses (server/upstream/address-policy.ts) and listen.headersTimeout
// (server/http/client-errors.ts) in the config: CIDR ranges or single addresses, canonicalised;
// every bad entry is listed at once with the fix.
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { DEFAULT_CLIENT_HEADERS_TIMEOUT_MS } from '../../config/schema.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('allowAddresses: CIDR ranges and single addresses, canonical', async (t) => {
  t.same(parseConfig(undefined, { env: {}, cwd }).upstream.allowAddresses, [], 'none by default: public addresses only')
  const config = parseConfig({ upstream: { allowAddresses: ['10.0.0.0/8', ' 172.16.0.0/12 ', 'FD00::/8', '10.1.2.3', '::1', '0.0.0.0/0'] } }, { env: {}, cwd })
  t.same(config.upstream.allowAddresses, ['10.0.0.0/8', '172.16.0.0/12', 'fd00::/8', '10.1.2.3/32', '::1/128', '0.0.0.0/0'])
  const env = parseConfig(undefined, { env: { DSMIRROR_UPSTREAM_ALLOWADDRESSES: '10.0.0.0/8,fd00::/8' }, cwd })
  t.same(env.upstream.allowAddresses, ['10.0.0.0/8', 'fd00::/8'], 'a comma list in the environment')
})

t.test('allowAddresses: every bad entry is named with the fix', async (t) => {
  const message = configError(t, () => parseConfig({ upstream: { allowAddresses: ['10.0.0.0/33', 'mirror.corp', '10/8', 'fe80::1%eth0/64', '::/129', 42] } }, { env: {}, cwd }))
  for (const [index, value] of [[0, "'10.0.0.0/33'"], [1, "'mirror.corp'"], [2, "'10/8'"], [3, "'fe80::1%eth0/64'"], [4, "'::/129'"], [5, '42']]) {
    t.match(message, `upstream.allowAddresses[${index}]: ${value} is not an address range`, `entry ${index}`)
  }
  t.match(message, 'Write a CIDR range like 10.0.0.0/8')
  t.match(configError(t, () => parseConfig({ upstream: { allowAddresses: '10.0.0.0/8' } }, { env: {}, cwd })), 'is not a list of address ranges')
})

t.test('listen.headersTimeout: a duration, 20s by default', async (t) => {
  t.equal(DEFAULT_CLIENT_HEADERS_TIMEOUT_MS, 20_000)
  t.equal(parseConfig(undefined, { env: {}, cwd }).listen.headersTimeout, 20_000)
  t.equal(parseConfig({ listen: { headersTimeout: '5s' } }, { env: {}, cwd }).listen.headersTimeout, 5000)
  t.equal(parseConfig(undefined, { env: { DSMIRROR_LISTEN_HEADERSTIMEOUT: '300ms' }, cwd }).listen.headersTimeout, 300)
  t.match(configError(t, () => parseConfig({ listen: { headersTimeout: '0s' } }, { env: {}, cwd })), 'listen.headersTimeout')
})
