// Issue 12 item 8: an upstream that sends one byte now and then never trips the idle timeout,
// so it held the download (its socket, its reservation, every joined client) for ever. Below
// upstream.timeouts.minRate over upstream.timeouts.minRateWindow the transfer counts as
// dropped: it is resumed with Range + If-Range, and an upstream that only ever trickles fails
// the download after upstream.retries. Window and rate are tiny here so the test takes seconds.
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { captureLog } from '../helpers/log-capture.js'
import { startProxy } from '../helpers/proxy.js'
import { responseHead, startRawUpstream, type RawUpstreamRequest } from '../helpers/raw-upstream.js'

const SIZE = 256 * 1024
const HEAD_START = 64 * 1024
const TRICKLE_EVERY_MS = 20
const ETAG = '"v1"'
// 1 KiB/s over 200 ms: a trickle of 1 byte per 20 ms (50 B/s) is far below it; the idle
// timeout (5 s in the test proxy) never fires, since a byte arrives every 20 ms.
/** Each request gives up after this, so a proxy that never drops the trickle fails the test instead of hanging it. */
const CLIENT_LIMIT_MS = 15_000
const CONFIG = { upstream: { timeouts: { minRate: '1KiB', minRateWindow: '200ms' } } }

/** Sends HEAD_START bytes at once, then one byte every TRICKLE_EVERY_MS until the socket is gone. */
async function trickle (socket: Socket, body: Buffer): Promise<void> {
  socket.write(responseHead('200 OK', [['Content-Length', String(body.length)], ['ETag', ETAG], ['Accept-Ranges', 'bytes']]))
  socket.write(body.subarray(0, HEAD_START))
  for (let i = HEAD_START; i < body.length && !socket.destroyed; i++) {
    socket.write(body.subarray(i, i + 1))
    await sleep(TRICKLE_EVERY_MS)
  }
}

function rangeStart (req: RawUpstreamRequest): number | null {
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
  return match === null || req.headers['if-range'] !== ETAG ? null : Number(match[1])
}

t.test('a trickle is dropped and resumed at full speed', async (t) => {
  const body = makeBytes(SIZE, 81)
  const upstream = await startRawUpstream(async (socket, req) => {
    const from = rangeStart(req)
    if (from === null) return await trickle(socket, body)
    socket.write(responseHead('206 Partial Content', [['Content-Length', String(SIZE - from)], ['Content-Range', `bytes ${from}-${SIZE - 1}/${SIZE}`], ['ETag', ETAG]]))
    socket.write(body.subarray(from))
  })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: CONFIG })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  const res = await request(proxy.mirrorUrl(upstream.host, '/slow/data.bin'), { signal: AbortSignal.timeout(CLIENT_LIMIT_MS) })
  t.equal(res.status, 200)
  t.equal(res.complete, true, 'the client gets the whole body')
  t.equal(res.sha256, sha256(body), 'byte for byte')
  t.equal(upstream.requests.length, 2, 'one drop, one resume')
  t.ok((rangeStart(upstream.requests[1] as RawUpstreamRequest) ?? -1) >= 0, 'the second request resumed with Range + If-Range')
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.list().length, 1, 'and the body is cached')
})

t.test('an upstream that only trickles fails the download after upstream.retries', async (t) => {
  const body = makeBytes(SIZE, 82)
  const upstream = await startRawUpstream(async (socket, req) => {
    const from = rangeStart(req)
    if (from === null) return await trickle(socket, body)
    socket.write(responseHead('206 Partial Content', [['Content-Length', String(SIZE - from)], ['Content-Range', `bytes ${from}-${SIZE - 1}/${SIZE}`], ['ETag', ETAG]]))
    for (let i = from; i < SIZE && !socket.destroyed; i++) {
      socket.write(body.subarray(i, i + 1))
      await sleep(TRICKLE_EVERY_MS)
    }
  })
  const log = captureLog()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { ...CONFIG, upstream: { ...CONFIG.upstream, retries: 2 }, log: { level: 'info' } }, logStream: log.stream })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  const res = await request(proxy.mirrorUrl(upstream.host, '/slow/always.bin'), { signal: AbortSignal.timeout(CLIENT_LIMIT_MS) })
  t.equal(res.status, 200, 'the headers went out before the trickle began')
  t.equal(res.complete, false, 'the client is aborted, never ended cleanly')
  t.not(res.error, 'AbortError: The operation was aborted', 'by the proxy, not by the test\'s time limit')
  const settled = await Promise.race([proxy.idle().then(() => true), sleep(CLIENT_LIMIT_MS).then(() => false)])
  t.ok(settled, 'the download ended by itself')
  t.equal(proxy.app.dsmirror.cache.downloads.size, 0, 'the download is over')
  t.equal(proxy.app.dsmirror.store.list().length, 0, 'nothing cached')
  t.equal(upstream.requests.length, 3, 'the first request and upstream.retries resumes, each dropped')
  const drops = log.lines().filter((l) => l.msg === 'upstream transfer dropped; resuming')
  t.ok(drops.length > 0 && drops.every((l) => (l.err as { code?: string } | undefined)?.code === 'DSM_UPSTREAM_TOO_SLOW'), 'each drop is DSM_UPSTREAM_TOO_SLOW')
  const failed = log.lines().find((l) => l.msg === 'download failed; nothing cached')
  t.equal(failed?.code, 'DSM_UPSTREAM_INCOMPLETE')
  t.match((failed?.err as { message?: string } | undefined)?.message, /too slow/, 'the failure says why')
})
