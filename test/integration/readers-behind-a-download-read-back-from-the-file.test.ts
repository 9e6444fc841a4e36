// Issue 14: a client that keeps up with a download is served from the bytes still in memory
// (Download RECENT_WINDOW_BYTES); a client that falls further behind reads back from the temp
// file and catches up into memory again. Both get the exact bytes, and when the upstream breaks
// off for good neither of them sees a clean end.
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'
import { RECENT_WINDOW_BYTES } from '../../server/cache/download.js'

const SIZE = 32 * 1024 * 1024
// ~2 s for the object: the paused client falls well behind while the transfer is still going.
const RATE = 16 * 1024 * 1024

interface Reading {
  res: IncomingMessage
  chunks: Buffer[]
  received: () => number
  done: Promise<{ body: Buffer; complete: boolean }>
}

/** A client that starts paused: it reads nothing until resume(), so the proxy's pump for it stalls. */
async function pausedClient (url: string): Promise<Reading> {
  const { res } = await openResponse(url)
  res.pause()
  const chunks: Buffer[] = []
  let bytes = 0
  let error = false
  res.on('data', (chunk: Buffer) => { chunks.push(chunk); bytes += chunk.length })
  res.on('aborted', () => { error = true })
  res.on('error', () => { error = true })
  const done = new Promise<{ body: Buffer; complete: boolean }>((resolve) => {
    res.on('close', () => { resolve({ body: Buffer.concat(chunks), complete: res.complete && !error }) })
  })
  return { res, chunks, received: () => bytes, done }
}

t.test('a client far behind the download reads from the file and gets the exact bytes', async (t) => {
  const upstream = await startUpstream()
  const body = makeBytes(SIZE, 41)
  upstream.set('/data/behind.tar', { body, throttleBytesPerSec: RATE, chunkSize: 256 * 1024 })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/data/behind.tar')

  const slow = await pausedClient(url)
  const fast = request(url)
  // The download is well past the paused client (what the sockets buffer is a few MiB at most).
  await waitUntil(() => {
    const download = [...proxy.app.dsmirror.cache.downloads.values()][0]
    return download !== undefined && download.written >= slow.received() + 3 * RECENT_WINDOW_BYTES
  }, { what: 'the download to run far ahead of the paused client', timeoutMs: 20_000 })
  t.equal([...proxy.app.dsmirror.cache.downloads.values()][0]?.state, 'streaming', 'the client fell behind while the download was still streaming')
  slow.res.resume()

  const [fastRes, slowRes] = await Promise.all([fast, slow.done])
  t.equal(upstream.count('/data/behind.tar', 'GET'), 1, 'one upstream transfer')
  t.ok(fastRes.complete, 'the client that kept up ended cleanly')
  t.equal(fastRes.sha256, sha256(body), 'the client that kept up got the exact bytes')
  t.ok(slowRes.complete, 'the client that fell behind ended cleanly')
  t.equal(sha256(slowRes.body), sha256(body), 'the client that fell behind got the exact bytes')
})

t.test('an upstream that breaks off for good ends no client cleanly, behind or not', async (t) => {
  const upstream = await startUpstream()
  const body = makeBytes(SIZE, 42)
  // The first transfer stops 1 KiB before the end; every resume sends nothing.
  upstream.set('/data/cut.tar', { body, throttleBytesPerSec: RATE, chunkSize: 256 * 1024, cutAt: [SIZE - 1024, 0, 0, 0] })
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { retries: 2, retryDelay: '10ms' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const url = proxy.mirrorUrl(upstream.host, '/data/cut.tar')

  const slow = await pausedClient(url)
  const fast = request(url)
  await waitUntil(() => {
    const download = [...proxy.app.dsmirror.cache.downloads.values()][0]
    return download === undefined || download.written >= slow.received() + 3 * RECENT_WINDOW_BYTES
  }, { what: 'the download to run far ahead of the paused client', timeoutMs: 20_000 })
  slow.res.resume()

  const [fastRes, slowRes] = await Promise.all([fast, slow.done])
  t.equal(fastRes.status, 200, 'headers were already sent')
  t.equal(fastRes.complete, false, 'the client that kept up sees an aborted transfer')
  t.ok(fastRes.body.length < SIZE, 'it did not get every byte')
  t.same(sha256(fastRes.body), sha256(body.subarray(0, fastRes.body.length)), 'what it got is the body\'s prefix')
  t.equal(slowRes.complete, false, 'the client that fell behind sees an aborted transfer')
  t.ok(slowRes.body.length < SIZE, 'it did not get every byte')
  t.same(sha256(slowRes.body), sha256(body.subarray(0, slowRes.body.length)), 'what it got is the body\'s prefix')
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing committed')
})
