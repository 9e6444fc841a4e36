// Issue 12 item 6: Proxy-Authorization (a client's credentials for dsmirror), Proxy-Connection
// and every other Proxy-* header are for the hop to dsmirror only and never reach an upstream: on
// the pass-through path (reply-from, which forwarded them), on the cached path, in mirror form
// and through the forward proxy's absolute-form alike.
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startUpstream } from '../helpers/upstream.js'

const PROXY_HEADERS = { 'proxy-authorization': 'Basic dXNlcjpzZWNyZXQ=', 'proxy-connection': 'keep-alive', 'proxy-x-custom': 'leak' }

t.test('no Proxy-* header reaches the upstream', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/api', { body: Buffer.from('{}') })
  upstream.set('/file.bin', { body: Buffer.from('bytes') })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(() => proxy.close({ remove: true }))

  const post = await request(proxy.mirrorUrl(upstream.host, '/api'), { method: 'POST', body: Buffer.from('{}'), headers: { ...PROXY_HEADERS, 'x-kept': 'yes' } })
  t.equal(post.status, 405, 'passed through to the upstream (which allows GET and HEAD only)')
  const get = await request(proxy.mirrorUrl(upstream.host, '/file.bin'), { headers: PROXY_HEADERS })
  t.equal(get.status, 200)

  t.equal(upstream.requests.length, 2)
  for (const seen of upstream.requests) {
    const names = Object.keys(seen.headers).filter((name) => name.startsWith('proxy-'))
    t.same(names, [], `${seen.method} ${seen.path}: no Proxy-* header upstream`)
  }
  t.equal(upstream.requests[0]?.headers['x-kept'], 'yes', 'other end-to-end headers still pass through')
})

t.test('a refused absolute-form POST with credentials reaches nothing', async (t) => {
  // Absolute-form requests become mirror-form (routes/forward-proxy.ts) and take the same
  // pass-through route as the POST above, so that one covers their headers too.
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { forwardProxy: { enabled: true } } })
  t.teardown(() => proxy.close({ remove: true }))
  const res = await rawRequest(Number(new URL(proxy.origin).port), ['POST http://evil.example/api HTTP/1.1', 'host: evil.example', `proxy-authorization: ${PROXY_HEADERS['proxy-authorization']}`, 'content-length: 0'])
  t.equal(res.status, 403)
  t.equal(upstream.connections, 0)
})
