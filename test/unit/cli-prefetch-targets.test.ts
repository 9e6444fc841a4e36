// What `dsmirror prefetch` asks the server for: the path of each URL as given (mirror paths,
// whole dsmirror URLs, upstream URLs), the lines of a list file, and which server by default.
import t from 'tap'
import { defaultServer, errorOf } from '../../server/cli/admin-client.js'
import { mirrorPath, parseList } from '../../server/cli/cli-prefetch.js'
import { formatBytes } from '../../server/format-bytes.js'

t.test('mirrorPath: every spelling becomes the path to GET on the server', async (t) => {
  const server = 'http://127.0.0.1:8080'
  t.equal(mirrorPath('/download.pytorch.org/models/r.pth', server), '/download.pytorch.org/models/r.pth', 'a mirror path as is')
  t.equal(mirrorPath('/pytorch/models/r.pth', server), '/pytorch/models/r.pth', 'a named mirror as is')
  t.equal(mirrorPath('http://127.0.0.1:8080/download.pytorch.org/a%20b.pth?x=1', server), '/download.pytorch.org/a%20b.pth?x=1', 'a dsmirror URL by its raw path')
  t.equal(mirrorPath('http://127.0.0.1:8080/h.example/../x', server), '/h.example/../x', 'dot-segments are left for the server to refuse')
  t.equal(mirrorPath('https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz', server), '/www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz', 'an upstream URL in the host form')
  t.equal(mirrorPath('https://files.example:8443/a/b.bin?v=2', server), '/files.example:8443/a/b.bin?v=2', 'with its port and query')
  t.equal(mirrorPath('https://files.example:443/a', server), '/files.example/a', 'the default port dropped')
})

t.test('parseList: one URL a line, blank lines and # comments skipped', async (t) => {
  t.same(parseList('# datasets\n/a/b.tar\n\n  https://x.example/c.gz  # weights\r\n#/skipped\n/d/e#f.bin\n'), ['/a/b.tar', 'https://x.example/c.gz', '/d/e#f.bin'])
})

t.test('defaultServer: --server, else listen.http asked on loopback when it is a wildcard', async (t) => {
  const listen = (http: false | { host: string; port: number }): Parameters<typeof defaultServer>[0] => ({ listen: { http, https: false } } as unknown as Parameters<typeof defaultServer>[0])
  t.equal(defaultServer(listen(false), 'https://mirror.corp:8443/'), 'https://mirror.corp:8443')
  t.equal(defaultServer(listen({ host: '127.0.0.1', port: 8080 }), undefined), 'http://127.0.0.1:8080')
  t.equal(defaultServer(listen({ host: '0.0.0.0', port: 9000 }), undefined), 'http://127.0.0.1:9000')
  t.equal(defaultServer(listen({ host: '::', port: 9000 }), undefined), 'http://[::1]:9000')
  t.equal(defaultServer(listen({ host: '::1', port: 9000 }), undefined), 'http://[::1]:9000')
  t.equal(defaultServer(listen(false), undefined), null, 'no HTTP listener')
  t.equal(defaultServer(listen({ host: '127.0.0.1', port: 0 }), undefined), null, 'a port chosen at start cannot be known')
})

t.test('errorOf: the DSM code of dsmirror errors, the HTTP status of anything else', async (t) => {
  t.same(errorOf(403, '{"statusCode":403,"code":"DSM_HOST_NOT_ALLOWED","error":"no"}'), { code: 'DSM_HOST_NOT_ALLOWED', message: 'no' })
  t.same(errorOf(404, '<html>Not Found</html>'), { code: 'HTTP 404', message: 'the upstream has no such file' })
  t.same(errorOf(500, '{"code":"E_OTHER"}'), { code: 'HTTP 500', message: 'the server answered 500' })
})

t.test('formatBytes', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1023), '1023 B')
  t.equal(formatBytes(1536), '1.50 KiB', 'two decimals below 10')
  t.equal(formatBytes(3 * 1024 ** 3), '3.00 GiB')
  t.equal(formatBytes(12.5 * 1024 ** 2), '12.5 MiB', 'one decimal from 10 on')
})
