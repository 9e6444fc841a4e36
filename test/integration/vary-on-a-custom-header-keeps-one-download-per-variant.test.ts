// Issue #13 item 2: the client's end-to-end headers reach the upstream on a miss, so a response
// that varies on a custom header is right; while it downloads, a client with the same value joins
// the one transfer and a client with another value gets its own answer (RFC 9111 §4.1), never the
// first client's bytes. Before the fix the upstream saw no X-Shard at all.
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { responseHead, startRawUpstream } from '../helpers/raw-upstream.js'
import { waitUntil } from '../helpers/wait.js'

const HALF = 32

function bodyFor (shard: string): Buffer {
  return Buffer.from(`shard=${shard};`.padEnd(2 * HALF, '.'))
}

async function readAll (res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

t.test('Vary: X-Shard — one download per value, each client gets its own value', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const upstream = await startRawUpstream(async (socket, req, index) => {
    const body = bodyFor(req.headers['x-shard'] ?? 'none')
    socket.write(responseHead('200 OK', [
      ['Content-Length', String(body.length)], ['Cache-Control', 'max-age=3600'], ['Vary', 'X-Shard'], ['ETag', `"${index}"`]
    ]))
    if (index === 0) {
      // The first answer stalls half-way until the test has its other clients in place.
      socket.write(body.subarray(0, HALF))
      await gate
      socket.write(body.subarray(HALF))
      return
    }
    socket.write(body)
  })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { release(); await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/index.json')

  const a = await openResponse(url, { headers: { 'x-shard': 'a' } })
  await waitUntil(() => upstream.requests.length === 1, { what: 'the upstream to see the first request' })
  t.equal(upstream.requests[0]?.headers['x-shard'], 'a', 'the client header reached the upstream')

  const b = await request(url, { headers: { 'x-shard': 'b' } })
  t.equal(b.body.toString(), bodyFor('b').toString(), 'another value gets its own answer')
  t.equal(b.headers['cache-status'], 'dsmirror; fwd=vary-miss; detail=in-flight')
  t.equal(upstream.requests[1]?.headers['x-shard'], 'b')

  const c = await openResponse(url, { headers: { 'x-shard': 'a' } })
  t.equal(c.res.headers['cache-status'], 'dsmirror; hit; detail=in-flight', 'the same value joins the download')
  release()
  t.equal(await readAll(a.res), bodyFor('a').toString())
  t.equal(await readAll(c.res), bodyFor('a').toString())
  await proxy.idle()

  const d = await request(url, { headers: { 'x-shard': 'a' } })
  t.equal(d.headers['cache-status'], 'dsmirror; hit')
  t.equal(d.body.toString(), bodyFor('a').toString())
  t.equal(upstream.requests.length, 2, 'one transfer for a (shared by two clients), one for b')
})
