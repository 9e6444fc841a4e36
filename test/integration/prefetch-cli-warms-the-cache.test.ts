// The real CLI (`node bin/dsmirror.js prefetch`, built by `npm test`) against a running server:
// every file it reports ok is a hit afterwards (fetched from upstream once), one line per file
// when stdout is not a terminal, exit 0; any file that fails makes it exit 1 with the file's DSM
// code (or HTTP status) on its line; --pin pins what it fetched; no server is DSM_ADMIN_SERVER_UNREACHABLE.
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { runDsmirror } from '../helpers/cli.js'

/** A config file for the CLI itself: only its dataDir (never read here) and admin.token matter. */
async function cliConfig (t: Test): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-prefetch-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: false } }))
  return { file, dir }
}

t.test('three URLs: three ok lines, exit 0, three hits afterwards', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = [1, 2, 3].map((i) => makeBytes(512 * 1024 + i, 110 + i))
  bodies.forEach((body, i) => upstream.set(`/d/f${i}.tar`, { body }))
  const { file, dir } = await cliConfig(t)
  // Each spelling the CLI takes: a mirror path, a whole dsmirror URL, an upstream URL from a list file.
  const list = join(dir, 'list.txt')
  await writeFile(list, `# upstream URLs work too\n${upstream.origin}/d/f2.tar\n\n`)
  const run = await runDsmirror(['prefetch', `/${upstream.host}/d/f0.tar`, proxy.mirrorUrl(upstream.host, '/d/f1.tar'), '--file', list, '--server', proxy.origin, '--config', file])
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.equal(run.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, 3, 'one line per file')
  t.match(run.stdout, /^ok {4}\/127\.0\.0\.1:\d+\/d\/f0\.tar {2}512\.0 KiB {2}dsmirror; fwd=miss; stored$/m)
  t.match(run.stdout, /3 of 3 file\(s\) cached\./)
  for (const [i, body] of bodies.entries()) {
    const res = await request(proxy.mirrorUrl(upstream.host, `/d/f${i}.tar`))
    t.equal(res.headers['cache-status'], 'dsmirror; hit', `f${i} is a hit`)
    t.equal(res.sha256, sha256(body))
    t.equal(upstream.count(`/d/f${i}.tar`, 'GET'), 1, `f${i} was fetched from upstream once`)
  }
})

t.test('a bad URL among good ones: exit 1, its DSM code on its line, the good ones cached', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  upstream.set('/d/good.tar', { body: makeBytes(100_000, 120) })
  const { file } = await cliConfig(t)
  const run = await runDsmirror(['prefetch', `/${upstream.host}/d/good.tar`, '/not-allowed.example/x.tar', `/${upstream.host}/d/missing.tar`, '--server', proxy.origin, '--config', file])
  t.equal(run.code, 1, run.stdout + run.stderr)
  t.match(run.stdout, /^FAIL {2}\/not-allowed\.example\/x\.tar {2}DSM_HOST_NOT_ALLOWED: Upstream host 'not-allowed\.example' is not in allowHosts/m)
  t.match(run.stdout, /^FAIL {2}\/127\.0\.0\.1:\d+\/d\/missing\.tar {2}HTTP 404: the upstream has no such file$/m)
  t.match(run.stdout, /^ok {4}\/127\.0\.0\.1:\d+\/d\/good\.tar/m)
  t.match(run.stdout, /1 of 3 file\(s\) cached, 2 failed\./)
  t.equal((await request(proxy.mirrorUrl(upstream.host, '/d/good.tar'))).headers['cache-status'], 'dsmirror; hit')
})

t.test('--pin pins what was fetched, with admin.token when the server has one', async (t) => {
  const token = 'c0ffee00c0ffee00c0ffee00c0ffee00'
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { admin: { token } } })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  upstream.set('/d/keep.tar', { body: makeBytes(200_000, 121) })
  const { file, dir } = await cliConfig(t)
  const args = ['prefetch', `/${upstream.host}/d/keep.tar`, '--pin', '--server', proxy.origin]
  const withoutToken = await runDsmirror([...args, '--config', file])
  t.equal(withoutToken.code, 1, 'pinning without the token fails the run')
  t.match(withoutToken.stdout, /FAIL {2}pinning: DSM_ADMIN_UNAUTHORIZED/)
  const tokenFile = join(dir, 'with-token.json')
  await writeFile(tokenFile, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: false }, admin: { token } }))
  const run = await runDsmirror([...args, '--config', tokenFile])
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, /pinned 1 file\(s\)/)
  t.notMatch(run.stdout + run.stderr, token, 'the token is never printed')
  await proxy.idle()
  const entries = proxy.app.dsmirror.store.list()
  t.equal(entries.length, 1)
  t.equal(entries[0]?.pinned, true, 'the entry is pinned')
})

t.test('no server at --server: DSM_ADMIN_SERVER_UNREACHABLE, exit 1', async (t) => {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  await new Promise((resolve) => server.close(resolve))
  const { file } = await cliConfig(t)
  const run = await runDsmirror(['prefetch', '/example.org/x.tar', '--server', `http://127.0.0.1:${address.port}`, '--config', file])
  t.equal(run.code, 1)
  t.match(run.stderr, /DSM_ADMIN_SERVER_UNREACHABLE: No dsmirror server answered at 'http:\/\/127\.0\.0\.1:\d+'/)
})
