// Issue 6: the status page (/_/) in a real browser (Debian's chromium through playwright-core).
// The page is opened once and never reloaded: it must update itself while a hit lands, a
// throttled download is in flight (bytes of total, rate, clients) and an upstream fails (an error
// row with its DSM code). It must fit a phone's width without sideways scrolling. Screenshots go
// to test/artifacts/ (not committed) for a person to look at.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { executable, skipUnless } from '../helpers/e2e-clients.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const CHROMIUM = '/usr/bin/chromium'
/** Without the background-networking flags chromium tries to reach the (closed) network. */
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))
const BIG_BYTES = 2 * 1024 * 1024
/** Slow enough that the download is still running after several page refreshes. */
const BIG_BYTES_PER_SEC = 128 * 1024
const UI_TIMEOUT_MS = 15_000

/**
 * The few DOM members the browser-side predicates use: the test compiles without lib.dom. They
 * are passed as functions, not strings, because the page's CSP forbids eval.
 */
interface El { textContent: string | null, getAttribute: (name: string) => string | null, querySelector: (selector: string) => El | null }
interface BrowserGlobals { document: { getElementById: (id: string) => El | null, querySelector: (selector: string) => El | null, documentElement: { scrollWidth: number } }, innerWidth: number }

async function launch (t: Test): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'dsmirror-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 }
  })
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

async function text (page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent() ?? '').trim()
}

const missing = await executable(CHROMIUM) ? [] : [`${CHROMIUM} (apt-get install chromium)`]

t.test('the status page follows a hit, a download in flight and a failed upstream without a reload', { skip: skipUnless(t, missing) }, async (t) => {
  const upstream = await startUpstream()
  const gone = await startUpstream()
  await gone.close()
  upstream.set('/d/small.bin', { body: makeBytes(48 * 1024, 81) })
  upstream.set('/d/big.tar.gz', { body: makeBytes(BIG_BYTES, 82), throttleBytesPerSec: BIG_BYTES_PER_SEC, chunkSize: 16 * 1024 })
  // HTTPS on, so the local CA exists and the page has a fingerprint to show.
  const proxy = await startProxy({ allowHosts: [upstream.host, gone.host], https: true })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  await mkdir(ARTIFACTS, { recursive: true })

  const context = await launch(t)
  const page = context.pages()[0] ?? await context.newPage()
  const consoleErrors: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()) })
  page.on('pageerror', (err) => { consoleErrors.push(err.message) })
  await page.goto(`${proxy.origin}/_/`)
  t.equal(await text(page, '#hit-ratio'), '–', 'no requests yet')
  t.equal(await text(page, '#downloads'), 'none')
  t.equal(await text(page, '#errors'), 'none')
  t.match(await text(page, '#ca-fingerprint'), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'the CA fingerprint')
  t.match(await text(page, '#snippet-curl'), `curl -fO ${proxy.origin}/download.pytorch.org/`, 'snippets use the URL the page was opened at')

  // One miss, then two hits: two of three requests came from the cache.
  const small = proxy.mirrorUrl(upstream.host, '/d/small.bin')
  t.equal((await request(small)).status, 200)
  await proxy.idle()
  t.equal((await request(small)).headers['cache-status'], 'dsmirror; hit')
  t.equal((await request(small)).headers['cache-status'], 'dsmirror; hit')
  await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).document.getElementById('hit-ratio')?.textContent === '66.7%', undefined, { timeout: UI_TIMEOUT_MS })
  t.pass('hit ratio 66.7% after a miss and two hits')

  // A throttled download: its row shows bytes of the total, a rate and its one client.
  const { req, res } = await openResponse(proxy.mirrorUrl(upstream.host, '/d/big.tar.gz'))
  res.resume()
  t.teardown(() => { req.destroy() })
  await page.waitForFunction(() => {
    const row = (globalThis as unknown as BrowserGlobals).document.querySelector('#downloads tr.download')
    const progress = row?.querySelector('progress') ?? null
    return progress !== null && Number(progress.getAttribute('value')) > 0 && row?.querySelector('.rate')?.textContent !== '0 B/s'
  }, undefined, { timeout: UI_TIMEOUT_MS })
  const row = page.locator('#downloads tr.download').first()
  t.match(await row.locator('.url').textContent(), `${upstream.origin}/d/big.tar.gz`)
  t.match(await row.locator('.progress-text').textContent(), /^[\d.]+ (B|KiB|MiB) \/ 2\.00 MiB$/, 'bytes of the total')
  t.match(await row.locator('.rate').textContent(), /^[\d.]+ (B|KiB|MiB)\/s$/, 'a transfer rate')
  t.equal(await row.locator('.clients').textContent(), '1', 'one client attached')
  t.equal(await row.locator('progress').getAttribute('max'), String(BIG_BYTES))
  await page.screenshot({ path: join(ARTIFACTS, 'status-page-download.png'), fullPage: true, caret: 'initial' })

  // An upstream that cannot be reached: a row with its code and status.
  t.equal((await request(proxy.mirrorUrl(gone.host, '/d/nothing.bin'))).status, 502)
  await page.waitForSelector('#errors tr.error', { timeout: UI_TIMEOUT_MS })
  const error = page.locator('#errors tr.error').first()
  t.equal(await error.locator('.code').textContent(), 'DSM_UPSTREAM_CONNECT')
  t.match(await error.textContent(), /502/)
  t.match(await error.textContent(), `/${gone.host}/d/nothing.bin`)
  await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true, caret: 'initial' })

  // A phone: everything wraps or scrolls inside its table, the page itself never sideways.
  await page.setViewportSize({ width: 390, height: 844 })
  t.ok(await page.evaluate(() => {
    const w = globalThis as unknown as BrowserGlobals
    return w.document.documentElement.scrollWidth <= w.innerWidth
  }), 'no horizontal scrolling at 390 px')
  await page.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true, caret: 'initial' })
  t.same(consoleErrors, [], 'no script or CSP errors in the console')
})
