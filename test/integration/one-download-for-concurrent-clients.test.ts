// 32 clients ask for the same cold 64 MiB object while a throttled upstream sends it: the
// upstream is asked exactly once, every client receives the exact bytes, and the first client's
// first byte arrives while the upstream is still sending.
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 64 * 1024 * 1024
const CLIENTS = 32

t.test('32 concurrent clients share one upstream transfer', async (t) => {
  const body = makeBytes(SIZE, 7)
  const upstream = await startUpstream()
  // ~2 s for the whole object: slow enough that clients overlap, fast enough for CI.
  upstream.set('/data/big.tar.gz', { body, throttleBytesPerSec: 32 * 1024 * 1024, chunkSize: 256 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/data/big.tar.gz')

  let upstreamDoneAt = 0
  const firstByte = (async () => {
    const { res } = await openResponse(url)
    const at = await new Promise<number>((resolve) => res.once('data', () => resolve(Date.now())))
    const rest: Buffer[] = []
    res.on('data', (c: Buffer) => rest.push(c))
    await new Promise((resolve) => res.once('end', resolve))
    return at
  })()
  const results = await Promise.all(Array.from({ length: CLIENTS - 1 }, () => request(url)))
  const firstByteAt = await firstByte
  upstreamDoneAt = Date.now()

  t.equal(upstream.count('/data/big.tar.gz', 'GET'), 1, 'exactly one upstream request')
  const expected = sha256(body)
  for (const [i, res] of results.entries()) {
    t.equal(res.status, 200, `client ${i} status`)
    t.ok(res.complete, `client ${i} body ended cleanly`)
    t.equal(res.sha256, expected, `client ${i} got the exact bytes`)
  }
  t.match(results.map((r) => r.headers['cache-status']), Array(CLIENTS - 1).fill(/^dsmirror; (fwd=miss; stored|hit; detail=in-flight)$/))
  t.equal(results.filter((r) => r.headers['content-length'] === String(SIZE)).length, CLIENTS - 1, 'every response carries Content-Length')
  t.ok(firstByteAt < upstreamDoneAt - 500, 'the first byte arrived well before the upstream finished')

  const hit = await request(url)
  t.equal(hit.headers['cache-status'], 'dsmirror; hit')
  t.equal(hit.sha256, expected)
  t.equal(upstream.count('/data/big.tar.gz', 'GET'), 1, 'the hit did not go upstream')
})
