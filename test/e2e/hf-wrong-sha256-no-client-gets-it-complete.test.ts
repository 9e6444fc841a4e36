// Issue 11 "Show": a blob whose bytes do not match its digest (the stand-in's CDN flips one byte
// of model.safetensors, same length, so only a digest check can tell; the Hub's resolve-cache
// does the same to a regular file's git blob sha1). Concurrent real clients through dsmirror:
// none ends with the file in its cache. Once the Hub serves the right bytes, the next client
// gets them: dsmirror kept nothing of the wrong ones.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { freshHfHome, hfClient, hfSkip, HUB1_PYTHON, startHfMirror } from '../helpers/hf-e2e.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'

const CLIENTS = 3
const skip = await hfSkip(t, { mirror: true })

t.test('wrong bytes for a digest: no client gets the file complete', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: 2 * 1024 * 1024 })] })
  t.teardown(() => hub.close())
  const mirror = await startHfMirror(t, hub)

  for (const [path, kind] of [['model.safetensors', 'cdn'], ['config.json', 'resolve-cache']] as const) {
    await t.test(`${path} (${kind === 'cdn' ? 'LFS sha256' : 'git blob sha1'})`, async (t) => {
      const file = hub.file(TINY_MODEL, path)
      hub.inject({ kind, method: 'GET', path, fault: { type: 'corrupt' } })
      const homes = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => await freshHfHome(t, `wrong-${i}`)))
      const runs = await Promise.all(homes.map(async (home) => await hfClient(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', path], { endpoint: mirror.endpoint, hfHome: home })))
      for (const [i, r] of runs.entries()) {
        t.not(r.code, 0, `client ${i} fails`)
        t.equal(r.result, undefined, 'and reports no file')
        const blobs = await readdir(join(homes[i] ?? '', 'hub', 'models--acme--tiny-model', 'blobs')).catch((): string[] => [])
        t.notOk(blobs.includes(file.lfs ? file.sha256 : file.blobSha1), `client ${i} has no such blob`)
      }
      t.ok(hub.count({ kind, method: 'GET', path }) >= 1, 'the Hub did send the wrong bytes')

      hub.clearFaults()
      const after = await hfClient(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', path], { endpoint: mirror.endpoint, hfHome: await freshHfHome(t, 'wrong-after') })
      t.equal(after.code, 0, 'with the right bytes upstream, the next client succeeds', { stderr: after.stderr.slice(-2000) })
      t.equal(after.result?.sha256, file.sha256, 'and gets the right bytes')
    })
  }
})
