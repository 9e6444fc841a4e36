// Issue 12 item 4: requests inside a tunnel to the host of huggingface.endpoint get the Hugging
// Face mode (issue 11), not the generic mirror route: a branch resolve redirects to the commit on
// the Hub's own path, the commit resolve answers with the bytes (no signed CDN URL, so the client
// never CONNECTs to the CDN host), Xet is stripped, tree Links stay on the Hub's origin, and the
// bytes share the cache with the mirror form `/<mount>/...`.
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'
import { createTestResolver, testName } from '../helpers/test-resolver.js'

t.test('huggingface_hub requests through the forward proxy get the Hub mode', async (t) => {
  const names = { hub: testName('hub.test'), cdn: testName('cdn.hub.test') }
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: 200_000 })], tls: await issueTestLeaf({ names: [names.hub, names.cdn] }), names })
  t.teardown(() => hub.close())
  const resolver = createTestResolver({ [names.hub]: ['127.0.0.1'], [names.cdn]: ['127.0.0.1'] })
  const proxy = await startProxy({
    allowHosts: [`*.hub.test:${hub.port}`],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.0/8'] }, huggingface: { endpoint: hub.origin } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const connects: string[] = []
  proxy.app.server.on('connect', (req: IncomingMessage) => { connects.push(req.url ?? '') })
  const agent = new ProxyAgent({ uri: proxy.origin, requestTls: { ca: fp.ca.certPem } })
  t.teardown(() => agent.close())
  const via = async (url: string, init: { method?: 'GET' | 'HEAD' } = {}): Promise<{ status: number, headers: Record<string, unknown>, body: Buffer }> => {
    const res = await request(url, { dispatcher: agent, method: init.method ?? 'GET', headers: { 'accept-encoding': 'identity' } })
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
  }
  const sha = hub.sha(TINY_MODEL)
  const file = hub.file(TINY_MODEL, 'model.safetensors')

  const info = await via(`${hub.origin}/api/models/${TINY_MODEL}/revision/main`)
  t.equal(info.status, 200, 'repo info through the proxy')
  const siblings = (JSON.parse(info.body.toString()) as { siblings?: Array<Record<string, unknown>> }).siblings ?? []
  t.ok(siblings.length > 0, 'siblings listed')
  t.notOk(siblings.some((s) => 'xetHash' in s), 'no xetHash in the siblings')

  const branch = await via(`${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  t.equal(branch.status, 307, 'a branch resolves to its commit')
  t.equal(branch.headers.location, `/${TINY_MODEL}/resolve/${sha}/model.safetensors`, 'on the Hub\'s own path, no mount prefix (the client resolves it against the Hub)')
  t.equal(branch.headers['x-repo-commit'], sha)

  const url = `${hub.origin}/${TINY_MODEL}/resolve/${sha}/model.safetensors`
  const first = await via(url)
  t.equal(first.status, 200, 'the commit resolve answers with the bytes, not a CDN redirect')
  t.equal(first.headers.location, undefined)
  t.equal(first.headers['x-linked-etag'], `"${file.sha256}"`)
  t.notOk(first.headers['x-xet-hash'], 'no Xet header')
  t.equal(sha256(first.body), file.sha256, 'the file bytes')
  const second = await via(url)
  t.match(second.headers['cache-status'], /; hit/, 'the second GET is a hit')
  t.equal(sha256(second.body), file.sha256)

  let next: string | null = `${hub.origin}/api/models/${TINY_MODEL}/tree/${sha}?recursive=true&expand=false`
  let pages = 0
  const paths: string[] = []
  while (next !== null && pages < 20) {
    const page = await via(next)
    t.equal(page.status, 200)
    pages++
    const entries = JSON.parse(page.body.toString()) as Array<Record<string, unknown>>
    for (const entry of entries) {
      t.notOk('xetHash' in entry, `no xetHash on ${String(entry.path)}`)
      paths.push(String(entry.path))
    }
    const link = page.headers.link
    if (typeof link !== 'string') break
    next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] ?? null
    t.ok(next?.startsWith(`${hub.origin}/api/models/${TINY_MODEL}/tree/${sha}?`), `the next page is the Hub's own URL, no mount: ${next ?? ''}`)
  }
  t.ok(pages > 1, `tree pages followed through the proxy (${pages})`)
  t.same(paths.sort(), hub.files(TINY_MODEL).map((f) => f.path).sort(), 'every file once')

  await proxy.idle()
  const mirror = await request(`${proxy.origin}/hf/${TINY_MODEL}/resolve/${sha}/model.safetensors`)
  const mirrorBody = Buffer.from(await mirror.body.arrayBuffer())
  t.equal(mirror.statusCode, 200)
  t.match(mirror.headers['cache-status'], /; hit/, 'the mirror form /hf/... hits the blob the proxy fetched')
  t.equal(sha256(mirrorBody), file.sha256)

  t.equal(hub.count({ kind: 'cdn' }), 1, 'the CDN served the file once')
  t.equal(hub.count({ kind: 'xet-read-token' }), 0)
  t.same([...new Set(connects)], [`${names.hub}:${hub.port}`], 'the client CONNECTed to the Hub host only, never to the CDN host')
})

t.test('a tunnel to another allowed host on the same machine keeps the generic mirror route', async (t) => {
  const names = { hub: testName('hub.test'), cdn: testName('cdn.hub.test') }
  const hub = await startStandInHub({ repos: [tinyModelRepo({ safetensorsBytes: 10_000 })], tls: await issueTestLeaf({ names: [names.hub, names.cdn] }), names })
  t.teardown(() => hub.close())
  const resolver = createTestResolver({ [names.hub]: ['127.0.0.1'], [names.cdn]: ['127.0.0.1'] })
  const proxy = await startProxy({
    allowHosts: [`*.hub.test:${hub.port}`],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.0/8'] }, huggingface: { endpoint: hub.origin } },
    lookup: resolver.lookup
  })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const agent = new ProxyAgent({ uri: proxy.origin, requestTls: { ca: fp.ca.certPem } })
  t.teardown(() => agent.close())
  // The CDN host is an ordinary allowed host: its path is not a Hub path, and no /hf prefix is added.
  const cdn = await request(`${hub.cdnOrigin}/no-such-object`, { dispatcher: agent })
  await cdn.body.dump()
  t.equal(cdn.statusCode, 404, 'the CDN host is fetched as is (its own 404)')
  t.ok(hub.requests.some((r) => r.host === hub.cdnHost && r.url === '/no-such-object'), 'the request reached the CDN host at its own path')
})
