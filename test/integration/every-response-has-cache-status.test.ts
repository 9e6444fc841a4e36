// Every response says what the cache did in a Cache-Status header (RFC 9211, docs/design.md "Cache"):
// hits, misses, 304, 206, 416, refusals, upstream errors, pass-through and the proxy's own pages;
// every error body is JSON { statusCode, code, error }.
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { defaultEtag, startUpstream } from '../helpers/upstream.js'

/** RFC 9211 §2: `dsmirror` then `; key` or `; key=value` parameters. */
const CACHE_STATUS = /^dsmirror(?:; [a-z-]+(?:=(?:[A-Za-z0-9_./:*-]+|"[^"\\]*"))?)*$/

t.test('Cache-Status on every kind of response', async (t) => {
  const body = makeBytes(64 * 1024, 51)
  const upstream = await startUpstream()
  upstream.set('/e/file.bin', { body })
  upstream.set('/e/broken.json', { body: Buffer.from('{"error":"boom"}'), status: 500 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = (path: string): string => proxy.mirrorUrl(upstream.host, path)
  const port = Number(new URL(proxy.origin).port)

  const check = (name: string, res: ClientResponse | { status: number, headers: Record<string, string | string[] | undefined> }, status: number, pattern?: RegExp): void => {
    t.equal(res.status, status, name)
    const value = res.headers['cache-status']
    t.match(value, CACHE_STATUS, `${name}: Cache-Status '${String(value)}'`)
    if (pattern !== undefined) t.match(value, pattern, name)
  }
  const checkError = (name: string, res: ClientResponse, status: number, code: string): void => {
    check(name, res, status, new RegExp(`detail=${code}`))
    t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
    t.match(JSON.parse(res.body.toString()), { statusCode: status, code, error: String }, `${name}: error body`)
  }

  check('miss', await request(url('/e/file.bin')), 200, /fwd=miss; stored/)
  check('hit', await request(url('/e/file.bin')), 200, /^dsmirror; hit$/)
  check('HEAD hit', await request(url('/e/file.bin'), { method: 'HEAD' }), 200, /^dsmirror; hit$/)
  check('304', await request(url('/e/file.bin'), { headers: { 'if-none-match': defaultEtag(body) } }), 304, /^dsmirror; hit$/)
  check('206', await request(url('/e/file.bin'), { headers: { range: 'bytes=0-9' } }), 206, /^dsmirror; hit$/)
  checkError('416', await request(url('/e/file.bin'), { headers: { range: 'bytes=999999-' } }), 416, 'DSM_RANGE_NOT_SATISFIABLE')
  check('upstream 404', await request(url('/e/missing.bin')), 404, /fwd=miss; fwd-status=404/)
  check('negative hit', await request(url('/e/missing.bin')), 404, /hit; detail=negative/)
  check('upstream 500', await request(url('/e/broken.json')), 500, /fwd=miss; fwd-status=500/)
  check('pass-through', await request(url('/e/file.bin'), { method: 'POST', body: Buffer.from('x'), headers: { 'content-type': 'text/plain' } }), 405, /^dsmirror; fwd=method$/)
  checkError('host not allowed', await request(proxy.mirrorUrl('127.0.0.1:1', '/x.bin')), 403, 'DSM_HOST_NOT_ALLOWED')
  checkError('host not allowed, POST', await request(proxy.mirrorUrl('127.0.0.1:1', '/x'), { method: 'POST', body: Buffer.from('x') }), 403, 'DSM_HOST_NOT_ALLOWED')
  checkError('unknown mirror', await request(`${proxy.origin}/nosuchmirror/x.bin`), 404, 'DSM_MIRROR_UNKNOWN')
  checkError('own pages', await request(`${proxy.origin}/_/nothing-here`), 404, 'DSM_NOT_FOUND')
  check('health', await request(`${proxy.origin}/_/healthz`), 200)
  const raw = await rawRequest(port, ['GET /127.0.0.1/../etc/passwd HTTP/1.1', 'host: x'])
  check('bad path', raw, 400, /detail=DSM_BAD_PATH/)
  t.match(JSON.parse(raw.body), { statusCode: 400, code: 'DSM_BAD_PATH', error: String })

  await upstream.close()
  checkError('upstream down', await request(url('/e/other.bin')), 502, 'DSM_UPSTREAM_CONNECT')
  check('upstream down, HEAD', await request(url('/e/other.bin'), { method: 'HEAD' }), 502, /detail=DSM_UPSTREAM_CONNECT/)
})
