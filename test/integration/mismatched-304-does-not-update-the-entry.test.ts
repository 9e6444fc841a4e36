// RFC 9111 §4.3.4: a 304 whose validator does not select the stored response must not refresh
// it. dsmirror then fetches the representation again, unconditionally, and serves that.
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'

t.test('a 304 for another ETag leads to a fresh unconditional GET', async (t) => {
  const pki = await getTestPki()
  let version = 'one'
  const seen: Array<{ conditional: boolean }> = []
  // A server the shared helper cannot play: it answers every conditional request 304 with the
  // ETag of its *current* version, even when that is not the one asked about.
  const server = https.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem }, (req, res) => {
    const conditional = req.headers['if-none-match'] !== undefined
    seen.push({ conditional })
    const headers = { etag: `"${version}"`, 'cache-control': 'no-cache', 'content-type': 'text/plain' }
    if (conditional) {
      res.writeHead(304, headers).end()
      return
    }
    res.writeHead(200, { ...headers, 'content-length': String(version.length) }).end(version)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  const proxy = await startProxy({ allowHosts: [host] })
  t.teardown(async () => {
    await proxy.close({ remove: true })
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const url = proxy.mirrorUrl(host, '/api/state.txt')

  t.equal((await request(url)).body.toString(), 'one')
  version = 'two'
  const second = await request(url)
  t.equal(second.body.toString(), 'two', 'the stored "one" was not served on the strength of a 304 for "two"')
  t.same(seen.map((s) => s.conditional), [false, true, false], 'conditional 304 for another ETag, then an unconditional GET')
  t.equal(second.headers.etag, '"two"')

  // The same rule for a HEAD, which revalidates with a conditional HEAD and never downloads.
  version = 'three'
  const head = await request(url, { method: 'HEAD' })
  t.equal(head.headers.etag, '"three"', 'a HEAD is not answered with the stored "two" on the strength of a 304 for "three"')
  t.same(seen.slice(3).map((s) => s.conditional), [true, false], 'conditional HEAD, then a plain HEAD')
  t.equal((await request(url)).body.toString(), 'three', 'and the next GET fetches the new version')
})
