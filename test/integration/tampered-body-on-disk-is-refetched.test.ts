// Issue #5, faults: a committed body truncated, extended or bit-flipped on disk between requests
// is never served. Every open compares the body file with the size and mtime recorded when it
// was published (disk-store.ts BodyStamp), and so does the index rebuild at start: a changed body
// drops its entry and the request fetches the object again. Offsets are seeded
// (DSMIRROR_TEST_SEED replays a run).
import t from 'tap'
import { open, readdir, truncate } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { seeded, testSeed } from '../helpers/seeded.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 1024 * 1024
/** ext4 stamps mtimes from a coarse clock (a few ms): leave a tick between publish and tamper. */
const MTIME_TICK_MS = 20

const seed = testSeed()
const rng = seeded(seed)
t.comment(`seed ${seed} (replay with DSMIRROR_TEST_SEED=${seed})`)

type Tamper = (path: string) => Promise<string>

const flipBit: Tamper = async (path) => {
  const offset = rng.int(0, SIZE - 1)
  const bit = rng.int(0, 7)
  const handle = await open(path, 'r+')
  try {
    const byte = Buffer.alloc(1)
    await handle.read(byte, 0, 1, offset)
    byte[0] = (byte[0] ?? 0) ^ (1 << bit)
    await handle.write(byte, 0, 1, offset)
  } finally {
    await handle.close()
  }
  return `bit ${bit} of byte ${offset} flipped`
}
const truncateBody: Tamper = async (path) => {
  const length = rng.int(0, SIZE - 1)
  await truncate(path, length)
  return `truncated to ${length}`
}
const appendByte: Tamper = async (path) => {
  const handle = await open(path, 'a')
  await handle.write(Buffer.from([rng.int(0, 255)]))
  await handle.close()
  return 'one byte appended'
}

/** Caches `path`, tampers with its body file, and returns what was done. */
async function cacheThenTamper (proxy: TestProxy, url: string, body: Buffer, tamper: Tamper): Promise<string> {
  const first = await request(url)
  if (first.sha256 !== sha256(body)) throw new Error('the first fetch was already wrong')
  await proxy.idle()
  const [meta] = proxy.app.dsmirror.store.list().filter((m) => url.endsWith(new URL(m.url).pathname))
  if (meta === undefined) throw new Error(`${url} was not cached`)
  await sleep(MTIME_TICK_MS)
  return await tamper(proxy.app.dsmirror.store.bodyPath(meta.key))
}

t.test('a body changed between requests is refetched, never served', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  for (const [i, tamper] of [flipBit, truncateBody, appendByte, flipBit, truncateBody].entries()) {
    const body = makeBytes(SIZE, 40 + i)
    const path = `/tamper/${i}.tar`
    upstream.set(path, { body })
    const url = proxy.mirrorUrl(upstream.host, path)
    const what = await cacheThenTamper(proxy, url, body, tamper)
    const again = await request(url)
    t.ok(again.complete, `${what}: complete`)
    t.equal(again.sha256, sha256(body), `${what}: the exact body, not the changed file`)
    t.equal(again.headers['cache-status'], 'dsmirror; fwd=miss; stored', `${what}: fetched again`)
    t.equal(upstream.count(path, 'GET'), 2, `${what}: one more upstream request`)
    await proxy.idle()
    const hit = await request(url)
    t.equal(hit.headers['cache-status'], 'dsmirror; hit', `${what}: the refetched body is a hit again`)
    t.equal(hit.sha256, sha256(body))
  }
})

t.test('a body changed while the proxy was stopped is dropped at start', async (t) => {
  const upstream = await startUpstream()
  const first = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await upstream.close() })
  const tampers = [flipBit, truncateBody, appendByte]
  const bodies = tampers.map((_, i) => makeBytes(SIZE, 80 + i))
  const done: string[] = []
  for (const [i, tamper] of tampers.entries()) {
    upstream.set(`/stopped/${i}.tar`, { body: bodies[i] ?? Buffer.alloc(0) })
    done.push(await cacheThenTamper(first, first.mirrorUrl(upstream.host, `/stopped/${i}.tar`), bodies[i] ?? Buffer.alloc(0), tamper))
  }
  upstream.set('/stopped/untouched.tar', { body: bodies[0] ?? Buffer.alloc(0) })
  await request(first.mirrorUrl(upstream.host, '/stopped/untouched.tar'))
  await first.close()

  const second = await startProxy({ allowHosts: [upstream.host], dataDir: first.dataDir })
  t.teardown(async () => { await second.close({ remove: true }) })
  t.equal(second.app.dsmirror.store.stats.entries, 1, 'only the untouched entry survived the rebuild')
  for (const [i, what] of done.entries()) {
    const res = await request(second.mirrorUrl(upstream.host, `/stopped/${i}.tar`))
    t.ok(res.complete, `${what}: complete`)
    t.equal(res.sha256, sha256(bodies[i] ?? Buffer.alloc(0)), `${what}: the exact body after restart`)
    t.equal(res.headers['cache-status'], 'dsmirror; fwd=miss; stored', `${what}: fetched again`)
  }
  const untouched = await request(second.mirrorUrl(upstream.host, '/stopped/untouched.tar'))
  t.equal(untouched.headers['cache-status'], 'dsmirror; hit', 'an untouched body is still a hit after restart')
  t.same((await readdir(second.app.dsmirror.store.quarantineDir)).length, 0, 'nothing quarantined: a changed body is just dropped')
})
