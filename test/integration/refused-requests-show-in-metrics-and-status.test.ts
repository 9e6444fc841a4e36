// Requests Node's parser refuses (smuggling framing, oversized heads) never reach Fastify's
// hooks, so they are counted where they are refused (server/http/client-errors.ts onRefused): an
// operator sees them in /_/metrics and among the recent errors of /_/, on both listeners.
import t from 'tap'
import { request as httpsRequest } from 'node:https'
import { MAX_HEADER_BYTES } from '../../server/http/client-errors.js'
import { request } from '../helpers/http-client.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startProxy } from '../helpers/proxy.js'

function errorCount (metricsText: string, code: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith(`dsmirror_errors_total{code="${code}"} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

t.test('parser refusals are counted and listed', async (t) => {
  const proxy = await startProxy({ https: true })
  t.teardown(async () => { await proxy.close({ remove: true }) })
  const port = Number(new URL(proxy.origin).port)

  const smuggling = await rawRequest(port, ['POST /x/y HTTP/1.1', 'host: 127.0.0.1', 'content-length: 5', 'transfer-encoding: chunked'], { body: '0\r\n\r\n' })
  t.equal(smuggling.status, 400)
  const big = await rawRequest(port, ['GET /x/y HTTP/1.1', 'host: 127.0.0.1', `x-big: ${'b'.repeat(MAX_HEADER_BYTES)}`])
  t.equal(big.status, 431)

  // The HTTPS listener shares the handler: an oversized head over TLS counts too.
  const httpsOrigin = proxy.httpsOrigin ?? ''
  const ca = await request(`${proxy.origin}/_/ca.pem`)
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${httpsOrigin}/x/y`, { ca: ca.body.toString(), headers: { 'x-big': 'b'.repeat(MAX_HEADER_BYTES) } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 431, 'HTTPS listener refuses the oversized head too')

  const metrics = (await request(`${proxy.origin}/_/metrics`)).body.toString()
  t.equal(errorCount(metrics, 'DSM_CLIENT_BAD_REQUEST'), 1, 'one bad request counted')
  t.equal(errorCount(metrics, 'DSM_CLIENT_HEADERS_TOO_LARGE'), 2, 'two oversized heads counted, one per listener')

  const statusJson = JSON.parse((await request(`${proxy.origin}/_/api/status`)).body.toString()) as { errors: Array<{ code: string; status: number | null }> }
  const codes = statusJson.errors.map((e) => `${e.code} ${String(e.status)}`)
  t.same(codes.filter((c) => c.startsWith('DSM_CLIENT_')).sort(), [
    'DSM_CLIENT_BAD_REQUEST 400', 'DSM_CLIENT_HEADERS_TOO_LARGE 431', 'DSM_CLIENT_HEADERS_TOO_LARGE 431'
  ], 'the status page lists each refusal with its status')
})
