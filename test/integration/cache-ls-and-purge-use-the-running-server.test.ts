// `dsmirror cache ls` and `cache purge` (the real CLI): while a server answers at --server they
// go through its admin API, so the server's index sees the change (a purged file is fetched again);
// with the server stopped they work on cache.dir. purge without a prefix needs --all.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy, testConfig } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { runDsmirror } from '../helpers/cli.js'

t.test('ls and purge through a running server, then on the directory', async (t) => {
  const upstream = await startUpstream()
  let proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  for (const p of ['/k/a/1.bin', '/k/a/2.bin', '/k/b/1.bin']) {
    upstream.set(p, { body: makeBytes(50_000, 140) })
    await request(proxy.mirrorUrl(upstream.host, p))
  }
  await proxy.idle()
  const configFile = join(proxy.dataDir, 'cli-config.json')
  await writeFile(configFile, JSON.stringify(await testConfig(proxy.dataDir, { allowHosts: [upstream.host] })))
  const online = ['--config', configFile, '--server', proxy.origin]

  const ls = await runDsmirror(['cache', 'ls', `/${upstream.host}/k/a/`, ...online])
  t.equal(ls.code, 0, ls.stderr)
  t.equal(ls.stdout.split('\n').filter((l) => /^[0-9a-f]{12} /.test(l)).length, 2, 'two entries under /k/a/')
  t.match(ls.stdout, /2 entries, 97\.7 KiB .*from http:\/\/127\.0\.0\.1:\d+\)/)

  const refused = await runDsmirror(['cache', 'purge', ...online])
  t.equal(refused.code, 1, 'purge without a prefix needs --all')
  t.match(refused.stderr, /give a prefix .* or --all/)

  const purged = await runDsmirror(['cache', 'purge', `/${upstream.host}/k/a/`, ...online])
  t.equal(purged.code, 0, purged.stderr)
  t.match(purged.stdout, /Deleted 2 entries through http:\/\/127\.0\.0\.1:\d+\./)
  t.equal(proxy.app.dsmirror.store.stats.entries, 1, 'the server index saw the purge')
  t.match((await request(proxy.mirrorUrl(upstream.host, '/k/a/1.bin'))).headers['cache-status'], /fwd=miss/, 'a purged file is fetched again')
  t.equal(upstream.count('/k/a/1.bin', 'GET'), 2)
  await proxy.idle()

  // Stopped: the same commands read and change the directory itself.
  const dataDir = proxy.dataDir
  await proxy.close()
  const offline = await runDsmirror(['cache', 'ls', '--config', configFile, '--json'])
  t.equal(offline.code, 0, offline.stderr)
  t.same((JSON.parse(offline.stdout) as Array<{ url: string }>).map((e) => e.url), [`${upstream.origin}/k/a/1.bin`, `${upstream.origin}/k/b/1.bin`])
  const all = await runDsmirror(['cache', 'purge', '--all', '--config', configFile])
  t.equal(all.code, 0, all.stderr)
  t.match(all.stdout, /Deleted 2 entries in /)
  proxy = await startProxy({ allowHosts: [upstream.host], dataDir })
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing left after a restart')
})
