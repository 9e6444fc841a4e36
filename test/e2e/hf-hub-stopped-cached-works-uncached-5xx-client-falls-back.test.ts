// Issue 11 "Show": the stand-in Hub stopped. Through a warm dsmirror, pinned and branch downloads
// of cached content still work for a client with an empty cache; content dsmirror never saw is a
// 5xx (never a 404, which clients would record in `.no_exist` as "file absent", hf-protocol.md
// §2.3); and a client that has the files in its own cache falls back to it when dsmirror can only
// answer 5xx.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { freshHfHome, hfClient, hfSkip, HUB1_PYTHON, HUB2_PYTHON, startHfMirror } from '../helpers/hf-e2e.js'
import { TINY_MODEL, TINY_PARQUET, tinyModelRepo, tinyParquetRepo } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'

const skip = await hfSkip(t, { mirror: true })

t.test('Hub stopped: cached content served, uncached 5xx, the client falls back to its own cache', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo(), tinyParquetRepo()] })
  t.teardown(() => hub.close())
  const mirror = await startHfMirror(t, hub)
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  const warmHome = await freshHfHome(t, 'down-warm')
  const warm = await hfClient(HUB1_PYTHON, ['snapshot_download', TINY_MODEL], { endpoint: mirror.endpoint, hfHome: warmHome })
  t.equal(warm.code, 0, 'the mirror is warmed while the Hub is up', { stderr: warm.stderr.slice(-2000) })

  await hub.down()
  hub.clearLog()

  const pinned = await hfClient(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', 'model.safetensors', '--revision', sha], { endpoint: mirror.endpoint, hfHome: await freshHfHome(t, 'down-pinned') })
  t.equal(pinned.code, 0, 'pinned to the commit: works', { stderr: pinned.stderr.slice(-2000) })
  t.equal(pinned.result?.sha256, model.sha256)
  const branch = await hfClient(HUB2_PYTHON, ['snapshot_download', TINY_MODEL], { endpoint: mirror.endpoint, hfHome: await freshHfHome(t, 'down-branch') })
  t.equal(branch.code, 0, 'at main (the last known resolution): works', { stderr: branch.stderr.slice(-2000) })
  t.equal(branch.result?.path?.endsWith(`/snapshots/${sha}`), true)

  const uncached = await request(`${mirror.endpoint}/datasets/${TINY_PARQUET}/resolve/main/README.md`, { method: 'HEAD' })
  await uncached.body.dump()
  t.ok(uncached.statusCode >= 500 && uncached.statusCode < 600, `content never seen: ${uncached.statusCode}, a 5xx`)
  t.not(uncached.statusCode, 404)

  // A second dsmirror with an empty cache: it knows nothing and the Hub is gone, so it can only
  // answer 5xx; the client that has the files in its own HF_HOME must use them.
  const empty = await startHfMirror(t, hub)
  const fallback = await hfClient(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', 'config.json'], { endpoint: empty.endpoint, hfHome: warmHome })
  t.equal(fallback.code, 0, 'the client falls back to its own cache', { stderr: fallback.stderr.slice(-2000) })
  t.equal(fallback.result?.path, join(warmHome, 'hub', `models--acme--tiny-model/snapshots/${sha}/config.json`))
  const noExist = await readdir(join(warmHome, 'hub', 'models--acme--tiny-model', '.no_exist', sha)).catch((): string[] => [])
  t.notOk(noExist.includes('config.json'), 'nothing recorded as absent')
  t.equal(hub.requests.length, 0, 'the stopped Hub saw nothing')
})
