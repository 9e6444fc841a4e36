// Issue 11 item 5 across a restart: file metadata at a commit, EntryNotFound answers and the last
// branch resolution are kept in the store beside the bytes, so a dsmirror restarted while the Hub
// is unreachable still serves branch and pinned downloads of what it had cached.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'
import { createTestResolver } from '../helpers/test-resolver.js'

t.test('restarted with the Hub down: main, the commit and the 404 probe answer as before', async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: 100_000 })] })
  t.teardown(() => hub.close())
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-hf-restart-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  let clock = Date.parse('2026-06-01T00:00:00Z')
  const start = async (): Promise<TestProxy> => await startProxy({
    dataDir,
    now: () => clock,
    lookup: createTestResolver({ localhost: ['127.0.0.1'] }).lookup,
    allowHosts: [hub.cdnHost],
    config: { upstream: { allowAddresses: ['127.0.0.0/8'] }, huggingface: { endpoint: hub.origin } }
  })
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  const first = await start()
  const head = await request(`${first.origin}/hf/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  await head.body.dump()
  const warm = await request(`${first.origin}${String(head.headers.location)}`)
  await warm.body.dump()
  const probe = await request(`${first.origin}/hf/${TINY_MODEL}/resolve/${sha}/tiny-model.py`, { method: 'HEAD' })
  await probe.body.dump()
  t.equal(probe.statusCode, 404)
  await first.close()

  await hub.down()
  clock += 60 * 60_000
  const second = await start()
  t.teardown(() => second.close())

  const branch = await request(`${second.origin}/hf/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  await branch.body.dump()
  t.equal(branch.statusCode, 307, 'the last resolution of main, from before the restart')
  t.equal(branch.headers['x-repo-commit'], sha)
  t.match(String(branch.headers['cache-status']), /fwd=stale/)

  const pinned = await request(`${second.origin}/hf/${TINY_MODEL}/resolve/${sha}/model.safetensors`)
  t.equal(sha256(Buffer.from(await pinned.body.arrayBuffer())), model.sha256)
  t.equal(pinned.headers['x-linked-etag'], `"${model.sha256}"`)

  const again = await request(`${second.origin}/hf/${TINY_MODEL}/resolve/${sha}/tiny-model.py`, { method: 'HEAD' })
  await again.body.dump()
  t.equal(again.statusCode, 404, 'the EntryNotFound at the commit is remembered')
  t.equal(again.headers['x-error-code'], 'EntryNotFound')
  t.equal(again.headers['x-repo-commit'], sha)
})
