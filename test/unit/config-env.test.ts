import t from 'tap'

import { loadConfig, parseConfig } from '../../config/load-config.js'
import { PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_CHECKSUMS } from '../../config/torchvision-checksums.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('DSMIRROR_<PATH> sets keys case-insensitively, with YAML scalar values', async (t) => {
  const config = parseConfig(undefined, {
    cwd,
    env: {
      DSMIRROR_CACHE_MAXSIZE: '10GiB',
      DSMIRROR_LISTEN_HTTP_PORT: '9090',
      DSMIRROR_LISTEN_HTTPS: 'false',
      DSMIRROR_UPSTREAM_TIMEOUTS_CONNECT: '5s',
      DSMIRROR_UPSTREAM_SYSTEMSTORE: 'false',
      DSMIRROR_UPSTREAM_RETRIES: '0',
      DSMIRROR_ADMIN_TOKEN: 'tok-123',
      DSMIRROR_LOG_LEVEL: 'debug',
      DSMIRROR_TLS_HOSTNAMES: 'localhost, mirror.corp',
      DSMIRROR_CACHE_DIR: 'null'
    }
  })
  t.equal(config.cache.maxSize, 10 * 2 ** 30)
  t.same(config.listen, { http: { host: '127.0.0.1', port: 9090 }, https: false, headersTimeout: 20_000 })
  t.equal(config.upstream.timeouts.connect, 5000)
  t.equal(config.upstream.timeouts.headers, 30_000, 'siblings keep their defaults')
  t.equal(config.upstream.systemStore, false)
  t.equal(config.upstream.retries, 0)
  t.equal(config.admin.token, 'tok-123')
  t.equal(config.log.level, 'debug')
  t.same(config.tls.hostnames, ['localhost', 'mirror.corp'])
  t.equal(config.cache.dir, '/srv/work/dsmirror-data/cache', 'null means the default')
})

t.test('underscores may split camelCase keys', async (t) => {
  const joined = parseConfig(undefined, { cwd, env: { DSMIRROR_DATADIR: '/data' } })
  const split = parseConfig(undefined, { cwd, env: { DSMIRROR_DATA_DIR: '/data' } })
  t.equal(joined.dataDir, '/data')
  t.equal(split.dataDir, '/data')
  const config = parseConfig(undefined, {
    cwd,
    env: {
      DSMIRROR_CACHE_MAX_SIZE: '1GiB',
      DSMIRROR_CACHE_REVALIDATE_AFTER: '2h',
      DSMIRROR_CACHE_SERVE_STALE: 'false',
      DSMIRROR_CACHE_NEGATIVETTL: '5s',
      DSMIRROR_UPSTREAM_MAX_REDIRECTS: '3',
      DSMIRROR_UPSTREAM_RETRY_DELAY: '100ms',
      DSMIRROR_UPSTREAM_CA_FILES: '/etc/ssl/corp.pem',
      DSMIRROR_TLS_LEAF_LIFETIME: '2d'
    }
  })
  t.equal(config.cache.maxSize, 2 ** 30)
  t.equal(config.cache.revalidateAfter, 2 * 3600 * 1000)
  t.equal(config.cache.serveStale, false)
  t.equal(config.cache.negativeTtl, 5000)
  t.equal(config.upstream.maxRedirects, 3)
  t.equal(config.upstream.retryDelay, 100)
  t.same(config.upstream.caFiles, ['/etc/ssl/corp.pem'])
  t.equal(config.tls.leafLifetime, 2 * 24 * 3600 * 1000)
})

t.test('DSMIRROR_ALLOWHOSTS takes a comma list or a YAML flow list, with presets', async (t) => {
  const comma = parseConfig(undefined, { cwd, env: { DSMIRROR_ALLOWHOSTS: 'a.example, B.example,,' } })
  t.same(comma.allowHosts, ['a.example', 'b.example'])
  const flow = parseConfig(undefined, { cwd, env: { DSMIRROR_ALLOWHOSTS: '[a.example, "@pytorch", a.example]' } })
  t.same(flow.allowHosts, ['a.example', 'download.pytorch.org'])
  const preset = parseConfig(undefined, { cwd, env: { DSMIRROR_ALLOW_HOSTS: '@huggingface' } })
  t.same(preset.allowHosts, PRESET_HOSTS['@huggingface'])
})

t.test('env overrides win over the file', async (t) => {
  const dir = t.testdir({
    'dsmirror.yaml': 'cache:\n  maxSize: 1GiB\n  serveStale: true\nlisten:\n  http: false\n  https: { port: 9443 }\n'
  })
  const config = await loadConfig({
    file: 'dsmirror.yaml',
    cwd: dir,
    env: { DSMIRROR_CACHE_MAXSIZE: '2GiB', DSMIRROR_LISTEN_HTTP_PORT: '9090', DSMIRROR_LISTEN_HTTPS: 'false' }
  })
  t.equal(config.cache.maxSize, 2 * 2 ** 30)
  t.equal(config.cache.serveStale, true, 'file keys the env does not touch are kept')
  t.same(config.listen.http, { host: '127.0.0.1', port: 9090 }, 'a port turns a disabled listener back on')
  t.equal(config.listen.https, false)

  const back = parseConfig({ listen: { https: false } }, { cwd, env: { DSMIRROR_LISTEN_HTTPS: 'true' } })
  t.same(back.listen.https, { host: '127.0.0.1', port: 8443 }, 'true restores the default listener')
  const flowMap = parseConfig(undefined, { cwd, env: { DSMIRROR_LISTEN_HTTPS: '{ host: "::", port: 9443 }', DSMIRROR_ADMIN_OPENONNETWORK: 'true' } })
  t.same(flowMap.listen.https, { host: '::', port: 9443 })
})

t.test('values that read as other YAML types stay strings where the key wants a string', async (t) => {
  const config = parseConfig(undefined, { cwd, env: { DSMIRROR_ADMIN_TOKEN: '12345', DSMIRROR_UPSTREAM_PROXY: 'http://egress:3128' } })
  t.equal(config.admin.token, '12345')
  t.equal(config.upstream.proxy, 'http://egress:3128')
  const token = parseConfig(undefined, { cwd, env: { DSMIRROR_ADMIN_TOKEN: '@weird:token' } })
  t.equal(token.admin.token, '@weird:token', 'text YAML cannot read is kept as is')
})

t.test('empty variables count as unset; DSMIRROR_CONFIG and DSMIRROR_TEST_* are not settings', async (t) => {
  const config = parseConfig(undefined, { cwd, env: { DSMIRROR_CACHE_MAXSIZE: '', DSMIRROR_CONFIG: '/x.yaml', DSMIRROR_TEST_LOG: 'debug', DSMIRRORX: '1', PATH: '/bin' } })
  t.equal(config.cache.maxSize, 50 * 2 ** 30)
})

t.test('mirrors can be added by name from the environment', async (t) => {
  const config = parseConfig({ mirrors: { pytorch: { url: 'https://download.pytorch.org/' } } }, {
    cwd,
    env: { DSMIRROR_MIRRORS_TEAM_HF_URL: 'https://mirror.corp/hf', DSMIRROR_MIRRORS_CIFAR: '{ url: "https://mirror.corp/cifar/" }' }
  })
  t.same(config.mirrors, {
    pytorch: { url: 'https://download.pytorch.org/' },
    team_hf: { url: 'https://mirror.corp/hf/' },
    cifar: { url: 'https://mirror.corp/cifar/' }
  })
})

t.test('maps are set whole from a YAML flow map', async (t) => {
  const digest = 'md5:c58f30108f718f92721af3b95e74349a'
  const config = parseConfig(undefined, { cwd, env: { DSMIRROR_CHECKSUMS: `{ "https://a.example/x.tgz": "${digest}" }` } })
  t.same(config.checksums, { ...TORCHVISION_CHECKSUMS, 'https://a.example/x.tgz': digest })
  const message = configError(t, () => parseConfig(undefined, { cwd, env: { DSMIRROR_CHECKSUMS_X: digest } }))
  t.match(message, '  - DSMIRROR_CHECKSUMS_X: is not a dsmirror setting. Did you mean DSMIRROR_CHECKSUMS (checksums)?')
})

t.test('an unknown DSMIRROR_ variable is an error naming the closest setting', async (t) => {
  const message = configError(t, () => parseConfig(undefined, {
    cwd,
    env: { DSMIRROR_CACHE_MAXSIZ: '10GiB', DSMIRROR_ALOWHOSTS: 'a.example', DSMIRROR_CACHE_MAXSIZE_BYTES: '1' }
  }))
  t.match(message, '  - DSMIRROR_CACHE_MAXSIZ: is not a dsmirror setting. Did you mean DSMIRROR_CACHE_MAXSIZE (cache.maxSize)?')
  t.match(message, '  - DSMIRROR_ALOWHOSTS: is not a dsmirror setting. Did you mean DSMIRROR_ALLOWHOSTS (allowHosts)?')
  t.match(message, '  - DSMIRROR_CACHE_MAXSIZE_BYTES: is not a dsmirror setting. Did you mean DSMIRROR_CACHE_MAXSIZE (cache.maxSize)?')
})

t.test('a bad env value names the variable it came from', async (t) => {
  const message = configError(t, () => parseConfig(undefined, {
    cwd,
    env: { DSMIRROR_LISTEN_HTTP_PORT: '99999', DSMIRROR_CACHE_MAXSIZE: 'lots', DSMIRROR_ALLOWHOSTS: 'good.example,bad host' }
  }))
  t.match(message, '  - listen.http.port: 99999 is not a port. Use a whole number from 0 to 65535 (0 picks a free port). (from DSMIRROR_LISTEN_HTTP_PORT)')
  t.match(message, "  - cache.maxSize: 'lots' is not a size. Write it like 50GiB, 500MB or 1073741824. (from DSMIRROR_CACHE_MAXSIZE)")
  t.match(message, "  - allowHosts[1]: 'bad host' is not a host name.")
  t.match(message, '(from DSMIRROR_ALLOWHOSTS)')
})

t.test('two variables for the same key must agree', async (t) => {
  const same = parseConfig(undefined, { cwd, env: { DSMIRROR_DATADIR: '/d', DSMIRROR_DATA_DIR: '/d' } })
  t.equal(same.dataDir, '/d')
  const message = configError(t, () => parseConfig(undefined, { cwd, env: { DSMIRROR_DATADIR: '/a', DSMIRROR_DATA_DIR: '/b' } }))
  t.match(message, 'DSMIRROR_DATA_DIR: sets dataDir like DSMIRROR_DATADIR does, to a different value')
})
