// Issue 11: the real Hugging Face clients straight against the stand-in Hub, no dsmirror. This
// proves the stand-in is realistic enough for the through-mirror tests to mean something: both
// huggingface_hub lines download with the Hub's cache layout, the LFS bytes come from the CDN host
// name and not the Hub's (and that request is recognisably the client's, which the through-mirror
// test relies on), the tree pages are followed, a gated repo needs its token, and with Xet headers
// on (and hf_xet installed) the client leaves HTTP for xet-read-token and the CAS, which is the
// bypass dsmirror must close (hf-protocol.md §2.5). Every other client of the list (hf
// CLI, datasets, transformers, @huggingface/hub) runs directly against the stand-in as the
// reference half of hf-clients-through-mirror-match-direct.test.ts.
import { join } from 'node:path'
import t from 'tap'
import { cacheLayout, clientRequestsToCdnOrXet, freshHfHome, hfClient, hfSkip, HUB1_PYTHON, HUB2_PYTHON, spawnHfClient } from '../helpers/hf-e2e.js'
import { GATED_MODEL, GATED_TOKEN, TINY_MODEL, allFixtureRepos } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'
import { waitUntil } from '../helpers/wait.js'

const skip = await hfSkip(t)

t.test('real clients straight against the stand-in Hub', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: allFixtureRepos(), xet: false })
  t.teardown(() => hub.close())
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  for (const [name, python] of [['huggingface_hub 1.33.0', HUB1_PYTHON], ['huggingface_hub 2.0.0', HUB2_PYTHON]] as const) {
    await t.test(`${name}: hf_hub_download of an LFS file goes to the CDN host; snapshot_download pages the tree`, async (t) => {
      const home = await freshHfHome(t, 'direct')
      hub.clearLog()
      const one = await hfClient(python, ['hf_hub_download', TINY_MODEL, '--file', 'model.safetensors'], { endpoint: hub.origin, hfHome: home })
      t.equal(one.code, 0, 'exit 0', { stderr: one.stderr.slice(-2000) })
      t.equal(one.result?.sha256, model.sha256)
      t.equal(hub.count({ kind: 'cdn', method: 'GET', host: hub.cdnHost }), 1, 'the bytes came from the CDN host name')
      t.ok(clientRequestsToCdnOrXet(hub).length > 0, 'and the CDN request is recognisable as the client\'s')
      const snap = await hfClient(python, ['snapshot_download', TINY_MODEL], { endpoint: hub.origin, hfHome: home })
      t.equal(snap.code, 0, 'exit 0', { stderr: snap.stderr.slice(-2000) })
      t.equal(snap.result?.path, join(home, 'hub', `models--acme--tiny-model/snapshots/${sha}`))
      t.ok(hub.requests.filter((r) => r.kind === 'tree' && r.url.includes('cursor=')).length >= 3, 'every tree page was followed')
      const layout = await cacheLayout(join(home, 'hub'))
      const lines = layout['models--acme--tiny-model'] ?? []
      t.ok(lines.includes(`refs/main = ${sha}`))
      t.ok(lines.includes(`blobs/${model.sha256}`), 'LFS blob named by its sha256')
      t.ok(lines.includes(`blobs/${hub.file(TINY_MODEL, 'config.json').blobSha1}`), 'regular blob named by its git blob sha1')
      t.ok(lines.includes(`snapshots/${sha}/model.safetensors -> ${model.sha256}`))
    })
  }

  await t.test('a gated repo: GatedRepoError without a token, the file with it', async (t) => {
    const home = await freshHfHome(t, 'direct-gated')
    const none = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'config.json'], { endpoint: hub.origin, hfHome: home })
    t.not(none.code, 0)
    t.equal(none.error, 'GatedRepoError')
    const wrong = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'config.json', '--token', 'hf_wrong'], { endpoint: hub.origin, hfHome: home })
    t.equal(wrong.error, 'GatedRepoError')
    const right = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'model.safetensors', '--token', GATED_TOKEN], { endpoint: hub.origin, hfHome: home })
    t.equal(right.code, 0, 'exit 0', { stderr: right.stderr.slice(-2000) })
    t.equal(right.result?.sha256, hub.file(GATED_MODEL, 'model.safetensors').sha256)
    t.notOk(hub.requests.some((r) => r.kind === 'cdn' && r.authorization), 'the client sent no token to the CDN host')
  })
})

t.test('with Xet on and hf_xet installed, the client leaves HTTP for xet-read-token and the CAS', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: allFixtureRepos(), xet: true })
  t.teardown(() => hub.close())
  for (const [action, args] of [['hf_hub_download', ['--file', 'model.safetensors']], ['snapshot_download', []]] as const) {
    const home = await freshHfHome(t, 'direct-xet')
    hub.clearLog()
    // hf_xet retries the unreachable CAS for minutes: the client is stopped once it asked for the token.
    const child = spawnHfClient(HUB1_PYTHON, [action, TINY_MODEL, ...args], { endpoint: hub.origin, hfHome: home })
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
    t.teardown(async () => { child.kill('SIGKILL'); await exited })
    await waitUntil(() => hub.count({ kind: 'xet-read-token' }) >= 1, { what: `${action} to ask xet-read-token`, timeoutMs: 60_000 })
    t.pass(`${action} asked xet-read-token (and was given a CAS URL nobody can reach, ${hub.casUrl})`)
    t.equal(hub.count({ kind: 'cdn' }), 0, `${action} never used the HTTP CDN for the LFS file`)
    child.kill('SIGKILL')
    await exited
  }
})
