import { join } from 'node:path'

import t from 'tap'

import { defaultConfig, loadConfig, parseConfig } from '../../config/load-config.js'
import { PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_CHECKSUMS } from '../../config/torchvision-checksums.js'
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MIN_RATE_BYTES_PER_SEC,
  DEFAULT_MIN_RATE_WINDOW_MS,
  DEFAULT_IMMUTABLE_PATTERNS,
  DEFAULT_LEAF_LIFETIME_MS,
  DEFAULT_MAX_CACHE_BYTES,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_NEGATIVE_TTL_MS,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_REVALIDATE_AFTER_MS,
  type DsmirrorConfig
} from '../../config/schema.js'
import { configError, configErrorAsync } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('no file and no env gives every default', async (t) => {
  const config = await loadConfig({ env: {}, cwd })
  const expected: DsmirrorConfig = {
    dataDir: '/srv/work/dsmirror-data',
    listen: { http: { host: '127.0.0.1', port: 8080 }, https: { host: '127.0.0.1', port: 8443 }, headersTimeout: 20_000 },
    tls: { mode: 'auto', hostnames: ['localhost', '127.0.0.1', '::1'], certFile: null, keyFile: null, leafLifetime: 7 * 24 * 3600 * 1000 },
    upstream: {
      caFiles: [],
      systemStore: true,
      proxy: 'env',
      timeouts: { connect: 10_000, headers: 30_000, idle: 60_000, minRate: 1024, minRateWindow: 30_000 },
      retries: 5,
      retryDelay: 250,
      maxRedirects: 5,
      allowAddresses: []
    },
    cache: {
      dir: '/srv/work/dsmirror-data/cache',
      maxSize: 50 * 2 ** 30,
      revalidateAfter: 24 * 3600 * 1000,
      immutable: ['*.tar.gz', '*.tgz', '*.zip', '*.gz', '*.tar', '*.pth', '*.safetensors', '*.bin', '*.parquet'],
      serveStale: true,
      negativeTtl: 60_000,
      cdnCacheControl: false,
      orphanTimeout: 5 * 60_000
    },
    allowHosts: [...new Set([...(PRESET_HOSTS['@torchvision'] ?? []), ...(PRESET_HOSTS['@huggingface'] ?? [])])],
    mirrors: { pytorch: { url: 'https://download.pytorch.org/' } },
    checksums: { ...TORCHVISION_CHECKSUMS },
    admin: { token: null, allowedHosts: [], openOnNetwork: false },
    log: { level: 'info' },
    huggingface: { mount: 'hf', endpoint: 'https://huggingface.co', revisionTtl: 60_000 },
    forwardProxy: { enabled: true, tunnelHosts: [], plainHttpHosts: [], auth: null, leafLifetime: 24 * 3600 * 1000 },
    store: { kind: 'disk', s3: { endpoint: null, region: 'us-east-1', bucket: null, prefix: 'dsmirror/', maxSize: 2 ** 40, forcePathStyle: null } },
    cluster: { peer: { host: '127.0.0.1', port: 8081 }, advertiseUrl: null, token: null, singleFlight: true, leaseTtl: 20_000 }
  }
  t.same(config, expected)
  t.same(defaultConfig(cwd), expected, 'defaultConfig() is the same')
  t.same(parseConfig(undefined, { env: {}, cwd }), expected, 'parseConfig(undefined) is the same')
  t.same(parseConfig(null, { env: {}, cwd }), expected, 'an empty file (null) is the same')

  t.equal(config.cache.maxSize, DEFAULT_MAX_CACHE_BYTES)
  t.equal(config.cache.revalidateAfter, DEFAULT_REVALIDATE_AFTER_MS)
  t.equal(config.cache.negativeTtl, DEFAULT_NEGATIVE_TTL_MS)
  t.equal(config.tls.leafLifetime, DEFAULT_LEAF_LIFETIME_MS)
  t.equal(config.upstream.retryDelay, DEFAULT_RETRY_DELAY_MS)
  t.equal(config.upstream.maxRedirects, DEFAULT_MAX_REDIRECTS)
  t.same(config.upstream.timeouts, { connect: DEFAULT_CONNECT_TIMEOUT_MS, headers: DEFAULT_HEADERS_TIMEOUT_MS, idle: DEFAULT_IDLE_TIMEOUT_MS, minRate: DEFAULT_MIN_RATE_BYTES_PER_SEC, minRateWindow: DEFAULT_MIN_RATE_WINDOW_MS })
  t.same(config.cache.immutable, DEFAULT_IMMUTABLE_PATTERNS)
})

t.test('defaults are fresh objects each time', async (t) => {
  const a = defaultConfig(cwd)
  a.allowHosts.push('mutated.example')
  a.cache.immutable.push('*.mutated')
  const mirror = a.mirrors.pytorch
  if (mirror !== undefined) mirror.url = 'https://mutated.example/'
  a.tls.hostnames.length = 0
  const b = defaultConfig(cwd)
  t.notOk(b.allowHosts.includes('mutated.example'))
  t.notOk(b.cache.immutable.includes('*.mutated'))
  t.equal(b.mirrors.pytorch?.url, 'https://download.pytorch.org/')
  t.equal(b.tls.hostnames.length, 3)
})

t.test('a YAML file is read, merged over the defaults, with sizes and durations converted', async (t) => {
  const dir = t.testdir({
    'dsmirror.yaml': [
      '# team server',
      'dataDir: ./state',
      'listen:',
      '  http: false',
      '  https: { host: 0.0.0.0, port: 9443 }',
      'upstream:',
      '  caFiles: [certs/corp-root.pem, /etc/ssl/extra.pem]',
      '  timeouts: { connect: 5s }',
      '  retryDelay: 1s',
      'cache:',
      '  maxSize: 500GiB',
      '  revalidateAfter: 12h',
      '  negativeTtl: 30s',
      'allowHosts: [Download.PyTorch.org, "*.corp.example", "10.0.0.5:8080", "[::1]:8443"]',
      'admin:',
      '  token: s3cret-token',
      'log: { level: debug }',
      ''
    ].join('\n')
  })
  const config = await loadConfig({ file: 'dsmirror.yaml', env: {}, cwd: dir })
  t.equal(config.dataDir, join(dir, 'state'))
  t.equal(config.cache.dir, join(dir, 'state', 'cache'), 'cache.dir defaults under the dataDir')
  t.same(config.listen, { http: false, https: { host: '0.0.0.0', port: 9443 }, headersTimeout: 20_000 })
  t.same(config.upstream.caFiles, [join(dir, 'certs/corp-root.pem'), '/etc/ssl/extra.pem'])
  t.same(config.upstream.timeouts, { connect: 5000, headers: 30_000, idle: 60_000, minRate: 1024, minRateWindow: 30_000 })
  t.equal(config.upstream.retryDelay, 1000)
  t.equal(config.cache.maxSize, 500 * 2 ** 30)
  t.equal(config.cache.revalidateAfter, 12 * 3600 * 1000)
  t.equal(config.cache.negativeTtl, 30_000)
  t.same(config.allowHosts, ['download.pytorch.org', '*.corp.example', '10.0.0.5:8080', '[::1]:8443'])
  t.equal(config.admin.token, 's3cret-token')
  t.equal(config.log.level, 'debug')
  t.equal(config.tls.mode, 'auto', 'untouched sections keep their defaults')
})

t.test('a JSON file is read, and DSMIRROR_CONFIG names the file when no file option is given', async (t) => {
  const dir = t.testdir({
    'config.json': JSON.stringify({ cache: { maxSize: 10737418240, dir: '/var/cache/dsmirror' }, mirrors: { hub: { url: 'https://huggingface.co' } } }, null, 2)
  })
  const config = await loadConfig({ env: { DSMIRROR_CONFIG: 'config.json' }, cwd: dir })
  t.equal(config.cache.maxSize, 10 * 2 ** 30)
  t.equal(config.cache.dir, '/var/cache/dsmirror', 'an explicit cache.dir is kept')
  t.same(config.mirrors, { hub: { url: 'https://huggingface.co/' } }, 'mirror URLs end with /')

  const fromOption = await loadConfig({ file: join(dir, 'config.json'), env: { DSMIRROR_CONFIG: 'elsewhere.yaml' }, cwd: '/' })
  t.equal(fromOption.cache.maxSize, 10 * 2 ** 30, 'the file option wins over DSMIRROR_CONFIG')
})

t.test('relative paths resolve against cwd, and ~ against env.HOME', async (t) => {
  const config = parseConfig({
    dataDir: '../data',
    tls: { mode: 'files', certFile: 'tls/chain.pem', keyFile: '~/keys/tls.key' },
    cache: { dir: 'cache-here' },
    upstream: { caFiles: ['./roots'] }
  }, { env: { HOME: '/home/ops' }, cwd: '/srv/work' })
  t.equal(config.dataDir, '/srv/data')
  t.equal(config.tls.certFile, '/srv/work/tls/chain.pem')
  t.equal(config.tls.keyFile, '/home/ops/keys/tls.key')
  t.equal(config.cache.dir, '/srv/work/cache-here')
  t.same(config.upstream.caFiles, ['/srv/work/roots'])
})

t.test('a missing file is an error naming its path', async (t) => {
  const dir = t.testdir({})
  const message = await configErrorAsync(t, loadConfig({ file: 'nope.yaml', env: {}, cwd: dir }))
  t.match(message, `${join(dir, 'nope.yaml')}: the config file does not exist`)

  const fromEnv = await configErrorAsync(t, loadConfig({ env: { DSMIRROR_CONFIG: '/no/such/dsmirror.yaml' }, cwd: dir }))
  t.match(fromEnv, '/no/such/dsmirror.yaml: the config file (named by DSMIRROR_CONFIG) does not exist')

  const directory = await configErrorAsync(t, loadConfig({ file: '.', env: {}, cwd: dir }))
  t.match(directory, 'is a directory, not a file')
})

t.test('YAML and JSON syntax errors name the file, line and column', async (t) => {
  const dir = t.testdir({
    'bad.yaml': 'cache:\n  maxSize: 1GiB\n  maxSize: 2GiB\n',
    'bad.json': '{\n  "cache": {\n    "maxSize": 1GiB\n  }\n}\n',
    'tabs.yaml': 'cache:\n\tmaxSize: 1GiB\n'
  })
  const yaml = await configErrorAsync(t, loadConfig({ file: 'bad.yaml', env: {}, cwd: dir }))
  t.match(yaml, `${join(dir, 'bad.yaml')}:3:3: not valid YAML (Map keys must be unique)`)

  const json = await configErrorAsync(t, loadConfig({ file: 'bad.json', env: {}, cwd: dir }))
  t.match(json, new RegExp(`${join(dir, 'bad.json')}:3:\\d+: not valid JSON`))

  const tabs = await configErrorAsync(t, loadConfig({ file: 'tabs.yaml', env: {}, cwd: dir }))
  t.match(tabs, `${join(dir, 'tabs.yaml')}:2:`)
})

t.test('flow-style YAML that looks like JSON is still read', async (t) => {
  const dir = t.testdir({ 'flow.yaml': '{ cache: { maxSize: 2GiB }, log: { level: warn } }\n' })
  const config = await loadConfig({ file: 'flow.yaml', env: {}, cwd: dir })
  t.equal(config.cache.maxSize, 2 * 2 ** 30)
  t.equal(config.log.level, 'warn')
})

t.test('a file that is not a mapping is refused', async (t) => {
  const dir = t.testdir({ 'list.yaml': '- a\n- b\n' })
  const message = await configErrorAsync(t, loadConfig({ file: 'list.yaml', env: {}, cwd: dir }))
  t.match(message, '(top level): ["a","b"] is not a mapping of settings')
})

t.test('bad fields in a file are located by line and column', async (t) => {
  const dir = t.testdir({
    'dsmirror.yaml': 'cache:\n  maxSize: 50XB\nallowHosts:\n  - ok.example\n  - "bad host"\n'
  })
  const file = join(dir, 'dsmirror.yaml')
  const message = await configErrorAsync(t, loadConfig({ file: 'dsmirror.yaml', env: {}, cwd: dir }))
  t.match(message, `  - cache.maxSize: '50XB' is not a size. Write it like 50GiB, 500MB or 1073741824. (in ${file}:2:3)`)
  t.match(message, '  - allowHosts[1]: \'bad host\' is not a host name.')
  t.match(message, `(in ${file}:5:5)`)
})

t.test('empty sections (every line commented out) count as absent', async (t) => {
  const dir = t.testdir({ 'dsmirror.yaml': 'cache:\n  # maxSize: 1GiB\nupstream:\nmirrors:\n' })
  const config = await loadConfig({ file: 'dsmirror.yaml', env: {}, cwd: dir })
  t.equal(config.cache.maxSize, DEFAULT_MAX_CACHE_BYTES)
  t.same(config.mirrors, { pytorch: { url: 'https://download.pytorch.org/' } })
})

t.test('tls.mode off drops the default HTTPS listener, but refuses an explicit one', async (t) => {
  const config = parseConfig({ tls: { mode: 'off' } }, { env: {}, cwd })
  t.equal(config.listen.https, false)
  t.same(config.listen.http, { host: '127.0.0.1', port: 8080 })

  const message = configError(t, () => parseConfig({ tls: { mode: 'off' }, listen: { https: { port: 9443 } } }, { env: {}, cwd }))
  t.match(message, '  - listen.https: is set, but tls.mode is off')
})

t.test('tls.mode files needs both certFile and keyFile', async (t) => {
  const message = configError(t, () => parseConfig({ tls: { mode: 'files', hostnames: [] } }, { env: {}, cwd, source: '/etc/dsmirror.yaml' }))
  t.match(message, '  - tls.certFile: is not set, but tls.mode is files. Set it to the PEM certificate chain file')
  t.match(message, '  - tls.keyFile: is not set, but tls.mode is files. Set it to the PEM private key file')
  t.match(message, '  - tls.hostnames: is empty', 'a second bad key in tls is listed too')
  t.match(message, '(in /etc/dsmirror.yaml)', 'the source is named')

  const ok = parseConfig({ tls: { mode: 'FILES', certFile: '/etc/tls/chain.pem', keyFile: '/etc/tls/key.pem' } }, { env: {}, cwd })
  t.equal(ok.tls.mode, 'files')
})

t.test('huggingface: mount, endpoint and revisionTtl are checked, and a mirror may not take the mount', async (t) => {
  const config = parseConfig({ huggingface: { mount: '/hub/', endpoint: 'http://127.0.0.1:9000/', revisionTtl: '30s' } }, { env: {}, cwd })
  t.same(config.huggingface, { mount: 'hub', endpoint: 'http://127.0.0.1:9000', revisionTtl: 30_000 })
  t.equal(parseConfig({ huggingface: { mount: false } }, { env: {}, cwd }).huggingface.mount, false)
  const message = configError(t, () => parseConfig({ huggingface: { mount: 'a.b', endpoint: 'https://huggingface.co/x' }, mirrors: { hf: { url: 'https://example.org/' } } }, { env: {}, cwd }))
  t.match(message, /huggingface\.mount.*not a mount/)
  t.match(message, /huggingface\.endpoint.*not a Hub origin/)
  const clash = configError(t, () => parseConfig({ mirrors: { hf: { url: 'https://example.org/' } } }, { env: {}, cwd }))
  t.match(clash, /mirrors\.hf.*huggingface\.mount/)
})
