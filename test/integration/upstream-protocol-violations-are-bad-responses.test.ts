// Issue 12 item 13: an upstream that breaks HTTP framing (two Content-Length values, a response
// head larger than undici accepts, a status line that is not one) was reported as
// `DSM_UPSTREAM_CONNECT "Could not reach upstream"`, which sends the operator to check the
// network. undici's response errors (UND_ERR_RES_*, UND_ERR_HEADERS_OVERFLOW, llhttp's HPE_*)
// are a bad response: 502 DSM_UPSTREAM_BAD_RESPONSE, naming what was wrong, nothing cached.
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { responseHead, startRawUpstream } from '../helpers/raw-upstream.js'

const BODY = Buffer.from('0123456789')
const HUGE_HEADER_BYTES = 64 * 1024

t.test('framing errors from the upstream are DSM_UPSTREAM_BAD_RESPONSE, not a connect failure', async (t) => {
  const upstream = await startRawUpstream((socket, req) => {
    if (req.path === '/two-lengths.bin') {
      socket.end(responseHead('200 OK', [['Content-Length', '10'], ['Content-Length', '20']]) + BODY.toString())
    } else if (req.path === '/huge-head.bin') {
      socket.end(responseHead('200 OK', [['X-Padding', 'a'.repeat(HUGE_HEADER_BYTES)], ['Content-Length', '10']]) + BODY.toString())
    } else if (req.path === '/bad-status.bin') {
      socket.end('HTTP/1.1 two hundred OK\r\nContent-Length: 10\r\n\r\n' + BODY.toString())
    } else {
      socket.end(responseHead('200 OK', [['Content-Length', '10']]) + BODY.toString())
    }
  })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  const control = await request(proxy.mirrorUrl(upstream.host, '/good.bin'))
  t.equal(control.status, 200, 'control: a well-formed response is served')

  for (const [path, words] of [
    ['/two-lengths.bin', /content-length/i],
    ['/huge-head.bin', /header/i],
    ['/bad-status.bin', /status|HPE_/i]
  ] as const) {
    const res = await request(proxy.mirrorUrl(upstream.host, path))
    t.equal(res.status, 502, `${path}: 502`)
    const error = JSON.parse(res.body.toString()) as { code: string, error: string }
    t.equal(error.code, 'DSM_UPSTREAM_BAD_RESPONSE', `${path}: a bad response`)
    t.match(error.error, words, `${path}: the message says what was wrong`)
    t.notMatch(error.error, /Could not reach/, `${path}: not reported as unreachable`)
    t.match(res.headers['cache-status'], /detail=DSM_UPSTREAM_BAD_RESPONSE/, `${path}: Cache-Status says so`)
  }
  t.equal(proxy.app.dsmirror.store.list().length, 1, 'only the control was cached')
})
