// Issue 11 item 4: POST paths-info is forwarded with the body it came with, a form (Python
// huggingface_hub) or JSON (@huggingface/hub, with expand=true for lastCommit), and answered
// without xetHash (hf-protocol.md §1.6, §1.7, §2.5); the same answer at a commit is kept.
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('form and JSON bodies both answer, without xetHash; repeated at a commit, the Hub is asked once', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  const form = await request(`${base}/api/models/${TINY_MODEL}/paths-info/${sha}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'paths=config.json&paths=model.safetensors&expand=false'
  })
  const formEntries = await form.body.json() as Array<Record<string, unknown>>
  t.equal(form.statusCode, 200)
  t.same(formEntries.map((e) => e.path).sort(), ['config.json', 'model.safetensors'])
  t.same((formEntries.find((e) => e.path === 'model.safetensors')?.lfs as Record<string, unknown>).oid, model.sha256)
  for (const entry of formEntries) t.notOk('xetHash' in entry)

  for (let i = 0; i < 2; i++) {
    const json = await request(`${base}/api/models/${TINY_MODEL}/paths-info/${sha}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ paths: ['model.safetensors'], expand: true })
    })
    const entries = await json.body.json() as Array<Record<string, unknown>>
    t.equal(json.statusCode, 200)
    t.equal(entries.length, 1)
    t.ok((entries[0]?.lastCommit as Record<string, unknown> | undefined)?.id, 'expand=true reached the Hub: lastCommit')
    t.notOk('xetHash' in (entries[0] ?? {}))
  }
  t.equal(hub.count({ kind: 'paths-info' }), 2, 'one Hub call per distinct body; the repeat was kept')
})
