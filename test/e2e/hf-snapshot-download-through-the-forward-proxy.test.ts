// Issue 12 item 4 "Show": huggingface_hub 1.33.0 (httpx, hf_xet installed) with only HTTPS_PROXY
// and SSL_CERT_FILE set runs snapshot_download through the forward proxy. The Hub host's requests
// get the Hugging Face mode inside the tunnel: Xet stripped (else hf_xet would reach for the CAS),
// bytes served at the resolve URL, so the client never CONNECTs to the CDN host; a second client
// is served from cache and the mirror form `/hf/...` then hits the same blob.
// HF_ENDPOINT names the stand-in Hub (a loopback server cannot be huggingface.co:443); dsmirror's
// resolver answers its name, and the client itself resolves nothing (it CONNECTs by name).
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { executable, skipUnless } from '../helpers/e2e-clients.js'
import { cacheLayout, freshHfHome, hfClient, hfModeMissing, HUB1_PYTHON } from '../helpers/hf-e2e.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { sha256 } from '../helpers/bytes.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'
import { createTestResolver } from '../helpers/test-resolver.js'

const missing = await executable(HUB1_PYTHON) ? [] : [`huggingface_hub 1.33.0 venv (${HUB1_PYTHON}; build it with scripts/hf-clients-venv.sh)`]
const mode = hfModeMissing()
if (mode !== undefined) missing.push(mode)

// Short, sendable names: they appear only in CONNECT lines and in dsmirror's test resolver.
const names = { hub: 'hub.dsmirror-e2e.test', cdn: 'cdn.dsmirror-e2e.test' }

t.test('snapshot_download with HTTPS_PROXY: once upstream, then from cache, then the mirror form hits', { skip: skipUnless(t, missing) }, async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: 300_000 })], tls: await issueTestLeaf({ names: [names.hub, names.cdn] }), names })
  t.teardown(() => hub.close())
  const resolver = createTestResolver({ [names.hub]: ['127.0.0.1'], [names.cdn]: ['127.0.0.1'] })
  const proxy = await startProxy({
    allowHosts: [hub.cdnHost],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'] }, huggingface: { mount: 'hf', endpoint: hub.origin } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const connects: string[] = []
  proxy.app.server.on('connect', (req: IncomingMessage) => { connects.push(req.url ?? '') })
  const caFile = join(proxy.dataDir, 'interception-ca', 'ca.pem')
  const env = { HTTPS_PROXY: proxy.origin, https_proxy: proxy.origin, NO_PROXY: '', no_proxy: '', SSL_CERT_FILE: caFile }
  const sha = hub.sha(TINY_MODEL)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  for (const run of ['first', 'second']) {
    const home = await freshHfHome(t, `fp-${run}`)
    const snap = await hfClient(HUB1_PYTHON, ['snapshot_download', TINY_MODEL], { endpoint: hub.origin, hfHome: home, env })
    t.equal(snap.code, 0, `${run} client: exit 0`, { stderr: snap.stderr.slice(-2000) })
    t.equal(snap.result?.path, join(home, 'hub', `models--acme--tiny-model/snapshots/${sha}`))
    const lines = (await cacheLayout(join(home, 'hub')))['models--acme--tiny-model'] ?? []
    t.ok(lines.includes(`snapshots/${sha}/model.safetensors -> ${model.sha256}`), `${run} client: the LFS file, named by its sha256`)
    t.ok(lines.includes(`refs/main = ${sha}`))
    for (const file of hub.files(TINY_MODEL)) t.ok(lines.some((l) => l.startsWith(`snapshots/${sha}/${file.path} -> `)), `${run} client has ${file.path}`)
  }
  await proxy.idle()

  t.equal(hub.count({ kind: 'cdn', method: 'GET' }), 1, 'the LFS bytes reached dsmirror from the CDN once')
  t.equal(hub.count({ kind: 'xet-read-token' }), 0, 'nobody asked for a Xet token (Xet stripped)')
  t.same([...new Set(connects)], [`${names.hub}:${hub.port}`], 'the clients CONNECTed to the Hub host only: 0 client requests to the CDN host')
  t.notOk(hub.requests.some((r) => r.headers['proxy-authorization'] !== undefined), 'no Proxy-* header reached the Hub')

  const mirror = await request(`${proxy.origin}/hf/${TINY_MODEL}/resolve/${sha}/model.safetensors`)
  const body = Buffer.from(await mirror.body.arrayBuffer())
  t.equal(mirror.statusCode, 200)
  t.match(mirror.headers['cache-status'], /; hit/, 'the mirror form hits the blob the proxy fetched')
  t.equal(sha256(body), model.sha256)
  t.equal(hub.count({ kind: 'cdn', method: 'GET' }), 1, 'still once')
})
