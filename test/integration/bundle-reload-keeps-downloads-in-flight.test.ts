// The upstream CA bundle is reloaded when a caFiles directory changes, without a restart and
// without breaking a download in flight (docs/design.md "Trust"; certs/bundle-reload.ts +
// upstream.setCa): a throttled download runs while a corporate root is copied into the watched
// directory; the upstream signed by that root, refused before, is then served, and the
// download completes with the right bytes. <dataDir>/upstream-ca.pem is rewritten too.
import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { request, sha256 } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const RELOAD_WAIT_MS = 5000
const POLL_MS = 25

t.test('adding a root to a caFiles directory trusts it at once; a download in flight finishes intact', async (t) => {
  const pki = await getTestPki()
  const caDir = await mkdtemp(join(tmpdir(), 'dsmirror-cafiles-'))
  t.teardown(() => rm(caDir, { recursive: true, force: true }))
  await copyFile(pki.files.rootCa, join(caDir, 'test-root.pem'))

  const public_ = await startUpstream()
  const corporate = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(async () => { await public_.close(); await corporate.close() })
  // About 1.5 s of transfer at 1 MiB/s, so the reload happens in the middle of it.
  const body = randomBytes(1536 * 1024)
  public_.set('/big.tar', { body, throttleBytesPerSec: 1024 * 1024, chunkSize: 32 * 1024 })
  corporate.set('/model.pth', { body: Buffer.from('corporate weights') })

  const proxy = await startProxy({ allowHosts: [public_.host, corporate.host], config: { upstream: { caFiles: [caDir] } } })
  t.teardown(() => proxy.close({ remove: true }))

  let downloadDone = false
  const download = request(proxy.mirrorUrl(public_.host, '/big.tar')).finally(() => { downloadDone = true })

  const refused = await request(proxy.mirrorUrl(corporate.host, '/model.pth'))
  t.equal(refused.status, 502)
  t.match(refused.body.toString(), /"code":"DSM_UPSTREAM_TLS"/)

  // Wait until the download is really under way before the trust store changes.
  await waitUntil(() => public_.count('/big.tar') > 0, { what: 'the upstream to see /big.tar', pollMs: POLL_MS })
  const bundleBefore = proxy.app.dsmirror.caBundle
  await copyFile(pki.files.otherCa, join(caDir, 'corporate-root.pem'))
  const deadline = Date.now() + RELOAD_WAIT_MS
  while (proxy.app.dsmirror.caBundle === bundleBefore && Date.now() < deadline) await sleep(POLL_MS)
  t.not(proxy.app.dsmirror.caBundle, bundleBefore, 'the bundle was rebuilt after the directory changed')
  t.equal(downloadDone, false, 'the reload happened while the download was in flight')

  const bundle = proxy.app.dsmirror.caBundle
  t.ok(bundle.entries.some((e) => e.source === join(caDir, 'corporate-root.pem') && e.status === 'added'), 'the corporate root is trusted')
  t.ok(bundle.entries.some((e) => e.source === 'node' && e.status === 'added'), "Node's public roots are still in the bundle")
  t.match(await readFile(join(proxy.dataDir, 'upstream-ca.pem'), 'utf8'), /# CN=dsmirror test corporate root \(from .*corporate-root\.pem\)/, 'upstream-ca.pem was rewritten')

  const trusted = await request(proxy.mirrorUrl(corporate.host, '/model.pth'))
  t.equal(trusted.status, 200, 'the previously refused upstream works without a restart')
  t.equal(trusted.body.toString(), 'corporate weights')

  const done = await download
  t.equal(done.status, 200)
  t.equal(done.complete, true, 'the download in flight was not cut by the reload')
  t.equal(done.sha256, sha256(body))
  t.equal(public_.count('/big.tar', 'GET'), 1, 'and it was not restarted')
})

t.test('a broken caFiles edit keeps the current bundle; reload() (the SIGHUP path) picks up the fixed file', async (t) => {
  const pki = await getTestPki()
  const caDir = await mkdtemp(join(tmpdir(), 'dsmirror-cafiles-'))
  t.teardown(() => rm(caDir, { recursive: true, force: true }))
  await copyFile(pki.files.rootCa, join(caDir, 'test-root.pem'))
  const upstream = await startUpstream()
  upstream.set('/x.bin', { body: Buffer.from('x') })
  t.teardown(() => upstream.close())
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [caDir] } } })
  t.teardown(() => proxy.close({ remove: true }))
  const before = proxy.app.dsmirror.caBundle

  await writeFile(join(caDir, 'half-written.pem'), '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n')
  t.equal(await proxy.app.dsmirror.caWatcher.reload('SIGHUP'), undefined, 'the broken file is refused')
  t.equal(proxy.app.dsmirror.caBundle, before, 'the current bundle stays')
  const still = await request(proxy.mirrorUrl(upstream.host, '/x.bin'))
  t.equal(still.status, 200, 'and upstreams keep working')

  await copyFile(pki.files.otherCa, join(caDir, 'half-written.pem'))
  const fixed = await proxy.app.dsmirror.caWatcher.reload('SIGHUP')
  t.ok(fixed?.entries.some((e) => e.subject.includes('dsmirror test corporate root') && e.status === 'added'))
  t.equal(proxy.app.dsmirror.caBundle, fixed)
})
