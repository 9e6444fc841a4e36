// Issue 11 item 7: `dsmirror prefetch hf://[datasets/]{repo}[@rev]` warms every file of one
// snapshot through a running server's Hugging Face mode (tree pages followed), so a client's
// snapshot_download afterwards is all hits: no byte comes from the Hub again.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { runDsmirror } from '../helpers/cli.js'
import { TINY_CSV, TINY_MODEL, tinyCsvRepo, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('hf://acme/tiny-model and hf://datasets/acme/tiny-csv@refs/convert/parquet: every file cached once', async (t) => {
  const { hub, base, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 100_000 }), tinyCsvRepo()] } })
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-hf-prefetch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: false } }))

  const run = await runDsmirror(['prefetch', `hf://${TINY_MODEL}`, `hf://datasets/${TINY_CSV}@refs/convert/parquet`, '--server', proxy.origin, '--config', file])
  const files = hub.files(TINY_MODEL)
  const parquetFiles = hub.files(TINY_CSV, 'refs/convert/parquet', 'dataset')
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, new RegExp(`${files.length + parquetFiles.length} of ${files.length + parquetFiles.length} file\\(s\\) cached\\.`))

  const sha = hub.sha(TINY_MODEL)
  for (const f of files) {
    const res = await request(`${base}/${TINY_MODEL}/resolve/${sha}/${f.path}`)
    await res.body.dump()
    t.equal(res.headers['cache-status'], 'dsmirror; hit', `${f.path} is a hit`)
  }
  t.equal(hub.count({ kind: 'cdn', method: 'GET' }), 2, 'the two LFS files, once each')
})

t.test('hf:// with --pin is refused with a reason', async (t) => {
  const { proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-hf-prefetch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: false } }))
  const run = await runDsmirror(['prefetch', `hf://${TINY_MODEL}`, '--pin', '--server', proxy.origin, '--config', file])
  t.not(run.code, 0)
  t.match(run.stderr + run.stdout, /--pin does not apply to hf:\/\/ snapshots/)
})
