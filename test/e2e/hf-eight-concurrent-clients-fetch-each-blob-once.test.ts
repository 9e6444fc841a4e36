// Issue 11 "Show": 8 concurrent cold clients (huggingface_hub 1.33.0 snapshot_download, each its
// own process and HF_HOME) through dsmirror: every blob leaves the stand-in Hub exactly once and
// every client gets every file whole. The CDN holds the first transfer for a moment after its
// first MiB, so the clients really meet on an in-flight download rather than on a finished one.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { freshHfHome, hfClient, hfSkip, HUB1_PYTHON, startHfMirror } from '../helpers/hf-e2e.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'

const CLIENTS = 8
const SAFETENSORS_BYTES = 8 * 1024 * 1024
const skip = await hfSkip(t, { mirror: true })

t.test(`${CLIENTS} concurrent cold snapshot_download clients: each blob fetched from the Hub once`, { skip }, async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: SAFETENSORS_BYTES })] })
  t.teardown(() => hub.close())
  const mirror = await startHfMirror(t, hub)
  const files = hub.files(TINY_MODEL)
  const sha = hub.sha(TINY_MODEL)
  hub.inject({ kind: 'cdn', method: 'GET', times: 1, fault: { type: 'stall', afterBytes: 1024 * 1024, ms: 2000 } })

  const homes = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => await freshHfHome(t, `concurrent-${i}`)))
  const runs = await Promise.all(homes.map(async (home) => await hfClient(HUB1_PYTHON, ['snapshot_download', TINY_MODEL], { endpoint: mirror.endpoint, hfHome: home })))
  for (const [i, r] of runs.entries()) {
    t.equal(r.code, 0, `client ${i} exits 0`, { stderr: r.stderr.slice(-2000) })
    const home = homes[i] ?? ''
    for (const file of files) {
      t.equal(sha256(await readFile(join(home, 'hub', `models--acme--tiny-model/snapshots/${sha}`, file.path))), file.sha256, `client ${i}: ${file.path} whole and right`)
    }
  }
  for (const file of files) {
    if (file.lfs) t.equal(hub.count({ kind: 'cdn', method: 'GET', path: file.path }), 1, `${file.path}: one CDN transfer for ${CLIENTS} clients`)
    else t.equal(hub.count({ kind: 'resolve-cache', method: 'GET', path: file.path }), 1, `${file.path}: one Hub transfer for ${CLIENTS} clients`)
  }
  t.equal(hub.count({ kind: 'xet-read-token' }), 0)
})
