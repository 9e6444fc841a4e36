// Issue 12 item 11: a full or read-only cache disk must not fail misses the upstream can serve.
// Real filesystems, no mocked fs: the cache dir is a 4 MiB tmpfs (a declared length the disk
// cannot hold is passed through, before any byte is written), then a read-only bind mount of it
// (EROFS on the temp file: passed through). Cache-Status says what happened; nothing is kept.
// Needs root to mount (as here and in CI); elsewhere it is skipped with the reason.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

async function mountSmallFs (dir: string): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${4 * MiB}`, 'tmpfs', dir])
    return null
  } catch (err: unknown) {
    return `mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?): ${err instanceof Error ? err.message.trim() : String(err)}`
  }
}

const base = await mkdtemp(join(tmpdir(), 'dsmirror-nospace-'))
const cacheDir = join(base, 'cache')
await mkdir(cacheDir)
const skip = await mountSmallFs(cacheDir)
if (skip !== null) await rm(base, { recursive: true, force: true })

t.test('misses on a full or read-only cache disk are passed through', { skip: skip ?? false }, async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({
    allowHosts: [upstream.host],
    dataDir: join(base, 'data'),
    // The quota says everything fits: only the filesystem says no.
    config: { cache: { dir: cacheDir, maxSize: '1GiB' } }
  })
  let readOnly = false
  t.teardown(async () => {
    // The mounts go whatever happened to the proxy: a failing run must not leave them behind.
    await proxy.close().catch(() => {})
    await upstream.close().catch(() => {})
    if (readOnly) await run('umount', [cacheDir]).catch(async () => await run('umount', ['-l', cacheDir]))
    await run('umount', [cacheDir]).catch(async () => await run('umount', ['-l', cacheDir]))
    await rm(base, { recursive: true, force: true })
  })
  const { store } = proxy.app.dsmirror

  const big = makeBytes(6 * MiB, 70)
  upstream.set('/full/big.tar', { body: big })
  const res = await request(proxy.mirrorUrl(upstream.host, '/full/big.tar'))
  t.ok(res.complete, 'full disk: the client gets the whole body')
  t.equal(res.sha256, sha256(big), 'full disk: exact bytes')
  t.equal(res.headers['cache-status'], 'dsmirror; fwd=miss; detail=no-space', 'full disk: marked as passed through for lack of space')
  await proxy.idle()
  t.equal(store.stats.entries, 0, 'full disk: nothing kept')
  t.same(await readdir(store.tmpDir), [], 'full disk: tmp/ is empty')

  const small = makeBytes(MiB, 71)
  upstream.set('/fits.tar', { body: small })
  t.equal((await request(proxy.mirrorUrl(upstream.host, '/fits.tar'))).sha256, sha256(small))
  await proxy.idle()
  t.equal(store.stats.entries, 1, 'an object that fits is still cached')

  // Read-only: a read-only bind mount over the cache dir, as after a remount on I/O errors.
  await run('mount', ['--bind', cacheDir, cacheDir])
  readOnly = true
  await run('mount', ['-o', 'remount,bind,ro', cacheDir])
  const other = makeBytes(MiB, 72)
  upstream.set('/ro/other.tar', { body: other })
  const ro = await request(proxy.mirrorUrl(upstream.host, '/ro/other.tar'))
  t.equal(ro.status, 200, 'read-only: not a 500')
  t.ok(ro.complete, 'read-only: complete')
  t.equal(ro.sha256, sha256(other), 'read-only: exact bytes')
  t.equal(ro.headers['cache-status'], 'dsmirror; fwd=miss; detail=cache-unwritable', 'read-only: marked')
  const hit = await request(proxy.mirrorUrl(upstream.host, '/fits.tar'))
  t.equal(hit.headers['cache-status'], 'dsmirror; hit', 'read-only: entries cached before still hit')
  await proxy.idle()
})
