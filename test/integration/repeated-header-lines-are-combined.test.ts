// Issue 12 item 6: an upstream may send a field on several lines (RFC 9110 §5.3). undici hands
// them over as an array, which http-cache-semantics cannot parse (`header.trim is not a
// function`), so two Cache-Control lines made a URL unfetchable (502 on every request). The
// lines are combined once, where upstream responses enter; Set-Cookie stays a list (§5.3 note).
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { responseHead, startRawUpstream } from '../helpers/raw-upstream.js'

const BODY = Buffer.from('{"labels": ["cat", "dog"]}\n')

t.test('two Cache-Control lines are read as one list, and the response is cached by it', async (t) => {
  const upstream = await startRawUpstream((socket, req) => {
    const fields: Array<[string, string]> = [
      ['Content-Type', 'application/json'],
      ['Cache-Control', 'public'],
      ['Cache-Control', 'max-age=3600'],
      ['Vary', 'Accept'],
      ['Vary', 'Accept-Language'],
      ['Content-Length', String(BODY.length)]
    ]
    if (req.path === '/with-cookies.json') fields.push(['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2; Path=/'])
    socket.write(responseHead('200 OK', fields))
    socket.write(BODY)
  })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/labels.json')

  const first = await request(url)
  t.equal(first.status, 200, 'the response is served, not 502')
  t.equal(first.body.toString(), BODY.toString())
  t.equal(first.headers['cache-status'], 'dsmirror; fwd=miss; stored')
  t.equal(first.headers['cache-control'], 'public, max-age=3600', 'the lines are combined in order, comma-separated')
  t.equal(first.headers.vary, 'Accept, Accept-Language')
  await proxy.idle()

  const second = await request(url)
  t.equal(second.status, 200)
  t.equal(second.headers['cache-status'], 'dsmirror; hit', 'max-age from the second line makes it fresh')
  t.equal(second.body.toString(), BODY.toString())
  t.equal(upstream.requests.length, 1, 'one upstream request')

  const cookies = await request(proxy.mirrorUrl(upstream.host, '/with-cookies.json'))
  t.equal(cookies.status, 200)
  t.match(cookies.headers['cache-status'], /detail="the response sets a cookie"/, 'not stored')
  t.same(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'Set-Cookie lines are never combined')
})
