// Issue 12 item 3: cache.maxSize bounds the disk while downloads run. Bytes in tmp/ count as
// they are written; a body that would pass the quota is finished as an uncached pass-through.
// The bound is measured on disk (every file under tmp/ and objects/, sampled while the transfers
// run) and in the store's own accounting; every client gets the exact bytes.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024
const MAX = 2 * MiB

/** Sizes of the body files under `dir` by inode, into `sizes`. */
async function filesUnder (dir: string, sizes: Map<number, number>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) await filesUnder(path, sizes)
    else if (!entry.name.endsWith('.json')) {
      const info = await stat(path).catch(() => null)
      if (info !== null) sizes.set(info.ino, info.size)
    }
  }
}

/**
 * Bytes of the body files under `dirs`. A body committed while they are read (renamed from tmp/
 * into objects/) may be seen in both: counted by inode, it is counted once.
 */
async function bytesUnder (...dirs: string[]): Promise<number> {
  const sizes = new Map<number, number>()
  for (const dir of dirs) await filesUnder(dir, sizes)
  return [...sizes.values()].reduce((a, b) => a + b, 0)
}

/** Samples tmp/ + objects/ and the store's accounting until `work` settles; returns the peaks. */
async function peakWhile (proxy: TestProxy, work: Promise<unknown>): Promise<{ disk: number, accounted: number }> {
  const dir = proxy.config.cache.dir
  const state = { done: false }
  void work.finally(() => { state.done = true })
  const peak = { disk: 0, accounted: 0 }
  const until = Date.now() + 20_000
  while (!state.done && Date.now() < until) {
    const stats = proxy.app.dsmirror.store.stats
    peak.accounted = Math.max(peak.accounted, stats.bytes + stats.reserved)
    peak.disk = Math.max(peak.disk, await bytesUnder(join(dir, 'tmp'), join(dir, 'objects')))
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await work
  return peak
}

t.test('a length-less body larger than maxSize is passed through, never written past it', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '2MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const body = makeBytes(6 * MiB, 60)
  upstream.set('/big/chunked.tar', { body, contentLength: 'omit', throttleBytesPerSec: 12 * MiB })
  const work = request(proxy.mirrorUrl(upstream.host, '/big/chunked.tar'))
  const peak = await peakWhile(proxy, work)
  const res = await work
  t.ok(res.complete, 'complete')
  t.equal(res.sha256, sha256(body), 'exact bytes')
  await proxy.idle()
  t.ok(peak.disk <= MAX, `tmp/ + objects/ peaked at ${peak.disk} bytes, within maxSize ${MAX}`)
  t.ok(peak.accounted <= MAX, `accounted bytes peaked at ${peak.accounted}`)
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing cached')
  t.equal(await bytesUnder(join(proxy.config.cache.dir, 'tmp')), 0, 'tmp/ is empty again')
})

t.test('concurrent misses with Content-Length: those without room pass through, the disk stays within maxSize', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { cache: { maxSize: '2MiB' } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [0, 1, 2, 3].map((i) => makeBytes(1.5 * MiB, 61 + i))
  bodies.forEach((body, i) => upstream.set(`/c/${i}.tar`, { body, throttleBytesPerSec: 6 * MiB }))
  const work = Promise.all(bodies.map(async (_b, i) => await request(proxy.mirrorUrl(upstream.host, `/c/${i}.tar`))))
  const peak = await peakWhile(proxy, work)
  const responses = await work
  for (const [i, res] of responses.entries()) {
    t.ok(res.complete, `${i}: complete`)
    t.equal(res.sha256, sha256(bodies[i] as Buffer), `${i}: exact bytes`)
  }
  const statuses = responses.map((r) => String(r.headers['cache-status']))
  t.equal(statuses.filter((s) => s === 'dsmirror; fwd=miss; stored').length, 1, 'one is stored')
  t.equal(statuses.filter((s) => s === 'dsmirror; fwd=miss; detail=no-space').length, 3, 'the others pass through, marked no-space')
  await proxy.idle()
  t.ok(peak.disk <= MAX, `tmp/ + objects/ peaked at ${peak.disk} bytes, within maxSize ${MAX}`)
  t.ok(peak.accounted <= MAX, `accounted bytes peaked at ${peak.accounted}`)
  t.equal(proxy.app.dsmirror.store.stats.entries, 1)
  for (const [i] of bodies.entries()) t.equal(upstream.count(`/c/${i}.tar`, 'GET'), 1, `${i}: one upstream request`)
})
