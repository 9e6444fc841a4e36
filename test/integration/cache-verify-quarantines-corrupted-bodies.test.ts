// `dsmirror cache verify` (the real CLI, offline on the cache directory) re-hashes every body
// against its metadata: a body whose bytes were flipped on disk is moved to quarantine/ with a
// note, the run exits 1, and the next request fetches the file from upstream again. With a server
// answering, verify refuses with DSM_ADMIN_SERVER_RUNNING instead of touching its directory.
import { open, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, testConfig } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { runDsmirror } from '../helpers/cli.js'

t.test('a flipped body is quarantined and fetched again', async (t) => {
  const upstream = await startUpstream()
  let proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [0, 1, 2].map((i) => makeBytes(300_000 + i, 130 + i))
  bodies.forEach((body, i) => upstream.set(`/v/${i}.tar`, { body }))
  for (const i of [0, 1, 2]) await request(proxy.mirrorUrl(upstream.host, `/v/${i}.tar`))
  await proxy.idle()
  const { dataDir } = proxy
  const victim = proxy.app.dsmirror.store.list().find((m) => m.url.endsWith('/v/1.tar'))
  if (victim === undefined) throw new Error('1.tar was not cached')
  const bodyPath = proxy.app.dsmirror.store.bodyPath(victim.key)
  await proxy.close()

  // Bit rot: same length, different bytes, and (unlike an edit) no new mtime, so the size and
  // mtime stamp checked on open cannot see it; only a re-hash can. The mtime is set to a whole
  // second on the body and its stamp alike, since utimes cannot restore sub-millisecond parts.
  const handle = await open(bodyPath, 'r+')
  await handle.write(Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 1000)
  await handle.close()
  const rotAt = 1_700_000_000
  await utimes(bodyPath, rotAt, rotAt)
  const metaPath = `${bodyPath}.json`
  const stored = JSON.parse(await readFile(metaPath, 'utf8')) as { file?: { mtimeMs: number } }
  if (stored.file !== undefined) stored.file.mtimeMs = rotAt * 1000
  await writeFile(metaPath, JSON.stringify(stored))
  const configFile = join(dataDir, 'cli-config.json')
  await writeFile(configFile, JSON.stringify(await testConfig(dataDir, { allowHosts: [upstream.host] })))

  const run = await runDsmirror(['cache', 'verify', '--config', configFile])
  t.equal(run.code, 1, run.stdout + run.stderr)
  t.match(run.stdout, new RegExp(`^BAD {6}${upstream.origin.replace(/[.:/]/g, '\\$&')}/v/1\\.tar: expected sha256:${victim.sha256}, got sha256:[0-9a-f]{64}; moved to .*quarantine`, 'm'))
  t.match(run.stdout, /Verified 3 entries \(.*\): 1 bad, quarantined/)
  const quarantine = join(proxy.config.cache.dir, 'quarantine')
  const notes = (await readdir(quarantine)).filter((n) => n.endsWith('.json'))
  t.equal(notes.length, 1, 'one body in quarantine, with a note')
  t.match(JSON.parse(await readFile(join(quarantine, notes[0] ?? ''), 'utf8')), { url: `${upstream.origin}/v/1.tar`, expected: { hex: victim.sha256 }, reason: 'cache verify' })

  const again = await runDsmirror(['cache', 'verify', '--config', configFile])
  t.equal(again.code, 0, 'what is left is intact')
  t.match(again.stdout, /Verified 2 entries \(.*\): all intact\./)

  proxy = await startProxy({ allowHosts: [upstream.host], dataDir })
  const refetched = await request(proxy.mirrorUrl(upstream.host, '/v/1.tar'))
  t.match(refetched.headers['cache-status'], /fwd=miss/, 'the quarantined file is fetched again')
  t.equal(refetched.sha256, sha256(bodies[1] as Buffer), 'with the right bytes')
  t.equal(upstream.count('/v/1.tar', 'GET'), 2)
  for (const i of [0, 2]) {
    t.equal((await request(proxy.mirrorUrl(upstream.host, `/v/${i}.tar`))).headers['cache-status'], 'dsmirror; hit', `${i}.tar is still a hit`)
    t.equal(upstream.count(`/v/${i}.tar`, 'GET'), 1)
  }

  // While a server answers, verify leaves its directory alone.
  const refused = await runDsmirror(['cache', 'verify', '--config', configFile, '--server', proxy.origin])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /DSM_ADMIN_SERVER_RUNNING: A dsmirror server answers at 'http:\/\/127\.0\.0\.1:\d+' and owns the cache directory/)
})
