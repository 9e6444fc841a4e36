import t, { type Test } from 'tap'

import { normalizeAllowHost } from '../../config/allow-hosts.js'
import { parseConfig } from '../../config/load-config.js'
import { PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_CHECKSUMS } from '../../config/torchvision-checksums.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

function configErrorOf (t: Test, raw: unknown, source?: string): string {
  return configError(t, () => parseConfig(raw, { env: {}, cwd, source }))
}

function problemLines (message: string): string[] {
  return message.split('\n').filter((line) => line.startsWith('  - '))
}

t.test('every bad field is listed at once, one line each with its path and fix', async (t) => {
  const message = configErrorOf(t, {
    listen: { http: { port: 70000 } },
    tls: { mode: 'manual' },
    cache: { maxSize: '50XB' },
    upstream: { proxy: 'socks5://proxy:1080' }
  }, '/etc/dsmirror.yaml')
  t.match(message, /^Invalid configuration:\n/)
  const lines = problemLines(message)
  t.equal(lines.length, 4, 'four bad fields, four lines')
  t.same(lines, [
    '  - listen.http.port: 70000 is not a port. Use a whole number from 0 to 65535 (0 picks a free port). (in /etc/dsmirror.yaml)',
    "  - tls.mode: 'manual' is not a TLS mode. Use auto, files or off. (in /etc/dsmirror.yaml)",
    "  - upstream.proxy: 'socks5://proxy:1080' is not a proxy setting. Use env (HTTPS_PROXY/NO_PROXY), none, or a URL like http://egress:3128. (in /etc/dsmirror.yaml)",
    "  - cache.maxSize: '50XB' is not a size. Write it like 50GiB, 500MB or 1073741824. (in /etc/dsmirror.yaml)"
  ])
})

t.test('unknown keys are errors that suggest the nearest known key', async (t) => {
  const message = configErrorOf(t, { cache: { maxsize: '1GiB', dirr: '/x' }, alowHosts: [], upstream: { timeouts: { conect: '1s' } }, zzzzzz: 1 })
  const lines = problemLines(message)
  t.equal(lines.length, 5)
  t.match(message, '  - cache.maxsize: is not a known key. Did you mean cache.maxSize?')
  t.match(message, '  - cache.dirr: is not a known key. Did you mean cache.dir?')
  t.match(message, '  - alowHosts: is not a known key. Did you mean allowHosts?')
  t.match(message, '  - upstream.timeouts.conect: is not a known key. Did you mean upstream.timeouts.connect?')
  t.match(message, '  - zzzzzz: is not a known key. Remove it; the keys here are dataDir, listen, tls, upstream, cache, allowHosts, mirrors, checksums, admin, log, huggingface, forwardProxy, store, cluster.')
})

t.test('listeners: ports 0-65535, false turns one off, mappings are checked key by key', async (t) => {
  const ok = parseConfig({ listen: { http: { host: '[::1]', port: 0 }, https: false } }, { env: {}, cwd })
  t.same(ok.listen, { http: { host: '::1', port: 0 }, https: false, headersTimeout: 20_000 })

  const message = configErrorOf(t, {
    listen: { http: { host: 'not a host', port: 8.5, tls: true }, https: 'yes' }
  })
  t.match(message, "  - listen.http.host: 'not a host' is not an address to listen on.")
  t.match(message, '  - listen.http.port: 8.5 is not a port.')
  t.match(message, '  - listen.http.tls: is not a known key. Remove it; the keys here are host, port.')
  t.match(message, "  - listen.https: 'yes' is not a listener. Write { host: 127.0.0.1, port: 8443 }, or false to turn it off.")
  t.match(configErrorOf(t, { listen: { http: { port: -1 } } }), 'listen.http.port: -1 is not a port')
  t.match(configErrorOf(t, { listen: { http: { port: '8080' } } }), "listen.http.port: '8080' is not a port")
})

t.test('types, ranges and enums are checked with a fix', async (t) => {
  const message = configErrorOf(t, {
    dataDir: 42,
    tls: { hostnames: 'localhost', leafLifetime: '500d' },
    upstream: { systemStore: 'yes', retries: -1, maxRedirects: 21, retryDelay: '-5s', caFiles: [''], timeouts: 'fast' },
    cache: { maxSize: 0, immutable: ['*.tar.gz', '', 'models/*.pth'], serveStale: 1 },
    admin: { token: 'two words' },
    log: { level: 'verbose' }
  })
  t.match(message, '  - dataDir: 42 is not a path.')
  t.match(message, "  - tls.hostnames: 'localhost' is not a list of host names. Write it like [localhost, mirror.corp, 10.0.0.5].")
  t.match(message, "  - tls.leafLifetime: '500d' is too long. Use at most 397d.")
  t.match(message, "  - upstream.systemStore: 'yes' is not true or false. Write true or false.")
  t.match(message, '  - upstream.retries: -1 is not a valid count. Use a whole number 0 or more.')
  t.match(message, '  - upstream.maxRedirects: 21 is not a valid count. Use a whole number from 0 to 20.')
  t.match(message, "  - upstream.retryDelay: '-5s' is not a duration.")
  t.match(message, "  - upstream.caFiles[0]: '' is not a path.")
  t.match(message, "  - upstream.timeouts: 'fast' is not a section. Write it as nested keys: connect, headers, idle, minRate, minRateWindow.")
  t.match(message, '  - cache.maxSize: 0 leaves no room to cache anything.')
  t.match(message, "  - cache.immutable[1]: '' is not a file name pattern.")
  t.match(message, "  - cache.immutable[2]: 'models/*.pth' has a '/', but patterns are matched against the file name only.")
  t.match(message, '  - cache.serveStale: 1 is not true or false.')
  t.match(message, "  - admin.token: 'two words' is not a bearer token.")
  t.match(message, "  - log.level: 'verbose' is not a log level. Use fatal, error, warn, info, debug, trace or silent.")
  t.equal(problemLines(message).length, 15)

  t.match(configErrorOf(t, { admin: { token: 12345 } }), "admin.token: 12345 was read as a number. Quote the token: '12345'.")
  t.match(configErrorOf(t, { tls: { leafLifetime: 0 } }), 'tls.leafLifetime: 0 is too short')
  t.match(configErrorOf(t, { cache: 'big' }), "  - cache: 'big' is not a section. Write it as nested keys: dir, maxSize, revalidateAfter, immutable, serveStale, negativeTtl, cdnCacheControl, orphanTimeout.")
})

t.test('upstream.proxy is env, none or an http(s) URL', async (t) => {
  for (const proxy of ['env', 'none', 'http://egress:3128', 'https://user:pw@egress.corp:8443']) {
    t.equal(parseConfig({ upstream: { proxy } }, { env: {}, cwd }).upstream.proxy, proxy)
  }
  for (const proxy of ['ENVIRONMENT', 'egress:3128', 'ftp://egress', '', 3128]) {
    t.match(configErrorOf(t, { upstream: { proxy } }), 'upstream.proxy:')
  }
})

t.test('allowHosts: exact names, name:port, *.suffix, IPv4 and bracketed IPv6, lower-cased and de-duplicated', async (t) => {
  const config = parseConfig({
    allowHosts: ['Download.PyTorch.org', 'mirror.corp:8443', '*.HF.co', '*.corp.example:8443', '10.0.0.5', '10.0.0.5:8080', '[::1]', '[2001:DB8::1]:8443', 'localhost', 'download.pytorch.org']
  }, { env: {}, cwd })
  t.same(config.allowHosts, ['download.pytorch.org', 'mirror.corp:8443', '*.hf.co', '*.corp.example:8443', '10.0.0.5', '10.0.0.5:8080', '[::1]', '[2001:db8::1]:8443', 'localhost'])
  t.same(parseConfig({ allowHosts: [] }, { env: {}, cwd }).allowHosts, [], 'an empty list is allowed')

  const bad: Array<[string, string]> = [
    ['https://download.pytorch.org/models', "is a URL; allowHosts takes the host only: write 'download.pytorch.org'."],
    ['::1', 'is an IPv6 address without brackets. Write it as [::1].'],
    ['[::zz]', 'is not a bracketed IPv6 address.'],
    ['host.example:0', 'has a bad port.'],
    ['host.example:99999', 'has a bad port.'],
    ['*.com', 'is not a usable pattern'],
    ['foo.*.example', "has a '*' that is not a leading '*.'"],
    ['host.example.', "ends with a dot. Write 'host.example'."],
    ['300.1.1.1', 'is not an IPv4 address.'],
    ['under_score.example', 'is not a host name.'],
    ['-dash.example', 'is not a host name.'],
    ['', 'is empty.']
  ]
  for (const [entry, why] of bad) {
    t.throws(() => normalizeAllowHost(entry), { message: `'${entry}' ${why}` }, entry)
  }
  const message = configErrorOf(t, { allowHosts: ['ok.example', 42, '::1'] })
  t.match(message, '  - allowHosts[1]: 42 is not a host name.')
  t.match(message, "  - allowHosts[2]: '::1' is an IPv6 address without brackets. Write it as [::1].")
  t.match(configErrorOf(t, { allowHosts: 'a.example' }), "  - allowHosts: 'a.example' is not a list of hosts.")
})

t.test('preset tokens expand in place; an unknown token lists the known ones', async (t) => {
  const config = parseConfig({ allowHosts: ['mirror.corp', '@PyTorch', 'download.pytorch.org', '@huggingface'] }, { env: {}, cwd })
  t.same(config.allowHosts, ['mirror.corp', 'download.pytorch.org', ...(PRESET_HOSTS['@huggingface'] ?? [])])

  const message = configErrorOf(t, { allowHosts: ['@torchvison', 'a.example'] })
  t.same(problemLines(message), ["  - allowHosts[0]: '@torchvison' is not a known preset. Use one of @huggingface, @pytorch, @torchvision, or list the hosts."])
})

t.test('mirrors: names without dots, absolute http(s) URLs normalised to end with /', async (t) => {
  const config = parseConfig({
    mirrors: {
      pytorch: { url: 'https://Download.PyTorch.org' },
      'hf-datasets_2': { url: 'http://mirror.corp:8080/hf/datasets' },
      team: { url: 'https://mirror.corp:443/base/' }
    }
  }, { env: {}, cwd })
  t.same(config.mirrors, {
    pytorch: { url: 'https://download.pytorch.org/' },
    'hf-datasets_2': { url: 'http://mirror.corp:8080/hf/datasets/' },
    team: { url: 'https://mirror.corp/base/' }
  })
  t.same(parseConfig({ mirrors: {} }, { env: {}, cwd }).mirrors, {}, 'an empty set drops the default mirror')

  const message = configErrorOf(t, {
    mirrors: {
      'download.pytorch.org': { url: 'https://download.pytorch.org/' },
      _: { url: 'https://x.example/' },
      Upper: { url: 'https://x.example/' },
      ftp: { url: 'ftp://files.example/pub/' },
      relative: { url: '/models/' },
      query: { url: 'https://x.example/a?b=c' },
      extra: { url: 'https://x.example/', auth: 'basic' },
      bare: 'https://x.example/'
    }
  })
  t.match(message, "  - mirrors[\"download.pytorch.org\"]: 'download.pytorch.org' is not a mirror name.")
  t.match(message, "  - mirrors._: '_' is not a mirror name.")
  t.match(message, "  - mirrors.Upper: 'Upper' is not a mirror name.")
  t.match(message, "  - mirrors.ftp.url: 'ftp://files.example/pub/' is not an absolute http(s) URL. Write it like https://download.pytorch.org/.")
  t.match(message, "  - mirrors.relative.url: '/models/' is not an absolute http(s) URL.")
  t.match(message, "  - mirrors.query.url: 'https://x.example/a?b=c' has a query or fragment")
  t.match(message, '  - mirrors.extra.auth: is not a known key. Remove it; the keys here are url.')
  t.match(message, "  - mirrors.bare: 'https://x.example/' is not a mirror. Write it as { url: https://download.pytorch.org/ }.")
  t.equal(problemLines(message).length, 8)
})

t.test('checksums: absolute URL keys, md5/sha256 values with lower-case hex', async (t) => {
  const md5 = 'C58F30108F718F92721AF3B95E74349A'
  const sha = 'ab'.repeat(32)
  const config = parseConfig({
    checksums: {
      'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz': `MD5:${md5}`,
      'https://Download.PyTorch.org:443/models/resnet18-f37072fd.pth': `sha256:${sha}`
    }
  }, { env: {}, cwd })
  t.same(config.checksums, {
    ...TORCHVISION_CHECKSUMS,
    'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz': `md5:${md5.toLowerCase()}`,
    'https://download.pytorch.org/models/resnet18-f37072fd.pth': `sha256:${sha}`
  })

  const message = configErrorOf(t, {
    checksums: {
      'cifar-10-python.tar.gz': 'md5:c58f30108f718f92721af3b95e74349a',
      'ftp://files.example/a.tgz': 'md5:c58f30108f718f92721af3b95e74349a',
      'https://a.example/short': 'md5:abc',
      'https://a.example/sha1': `sha1:${'a'.repeat(40)}`,
      'https://a.example/none': 'c58f30108f718f92721af3b95e74349a',
      'https://a.example/num': 42
    }
  })
  t.match(message, "  - checksums[\"cifar-10-python.tar.gz\"]: 'cifar-10-python.tar.gz' is not an absolute http(s) URL.")
  t.match(message, "  - checksums[\"ftp://files.example/a.tgz\"]: 'ftp://files.example/a.tgz' is not an absolute http(s) URL.")
  t.match(message, "  - checksums[\"https://a.example/short\"]: 'md5:abc' is not a digest. Write md5:<32 hex digits> or sha256:<64 hex digits>.")
  t.match(message, '  - checksums["https://a.example/sha1"]: \'sha1:')
  t.match(message, "  - checksums[\"https://a.example/none\"]: 'c58f30108f718f92721af3b95e74349a' is not a digest.")
  t.match(message, '  - checksums["https://a.example/num"]: 42 is not a digest.')
  t.equal(problemLines(message).length, 6)
})

t.test('cache.dir defaults under dataDir, and follows a dataDir override', async (t) => {
  t.equal(parseConfig({ dataDir: '/var/lib/dsmirror' }, { env: {}, cwd }).cache.dir, '/var/lib/dsmirror/cache')
  t.equal(parseConfig({ dataDir: 'state', cache: { dir: null } }, { env: {}, cwd }).cache.dir, '/srv/work/state/cache')
  t.equal(parseConfig(undefined, { env: { DSMIRROR_DATA_DIR: '/data' }, cwd }).cache.dir, '/data/cache')
  t.equal(parseConfig({ cache: { dir: '/mnt/big/cache' } }, { env: {}, cwd }).cache.dir, '/mnt/big/cache')
})
