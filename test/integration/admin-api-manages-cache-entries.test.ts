// The admin API over a running cache: POST /_/api/prefetch fills the cache without a client
// (mirror-form URLs, checked against allowHosts before anything starts), GET /_/api/downloads
// shows a prefetch in flight, GET /_/api/entries lists by URL prefix a page at a time, and
// DELETE /_/api/entries/:key drops an entry so the next request fetches it again.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

interface Entry { key: string; url: string; size: number; sha256: string; pinned: boolean }
interface Page { entries: Entry[]; next: string | null; total: number }

async function json<T> (url: string, opts: Parameters<typeof request>[1] = {}): Promise<{ status: number; body: T }> {
  const res = await request(url, opts)
  return { status: res.status, body: JSON.parse(res.body.toString()) as T }
}

function post (body: unknown): Parameters<typeof request>[1] {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) }
}

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('prefetch, list by prefix in pages, watch downloads, delete', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const bodies = new Map(['/a/1.bin', '/a/2.bin', '/a/3.bin', '/b/1.bin', '/b/2.bin'].map((p, i) => [p, makeBytes(64 * 1024 + i, 90 + i)]))
  for (const [path, body] of bodies) upstream.set(path, { body })
  upstream.set('/slow.bin', { body: makeBytes(1024 * 1024, 99), throttleBytesPerSec: 4 * 1024 * 1024 })
  const api = `${proxy.origin}/_/api`
  const path = (p: string): string => `/${upstream.host}${p}`

  const refused = await json<{ code: string }>(`${api}/prefetch`, post({ urls: [path('/a/1.bin'), '/elsewhere.example/x.bin'] }))
  t.equal(refused.status, 403)
  t.equal(refused.body.code, 'DSM_HOST_NOT_ALLOWED', 'the allowlist applies to prefetched URLs')
  t.equal(upstream.count(), 0, 'one refused URL refuses the whole request: nothing started')

  const started = await json<{ results: Array<{ url: string; key: string; state: string; upstream: string }> }>(
    `${api}/prefetch`, post({ urls: [path('/a/1.bin'), path('/a/2.bin'), path('/a/3.bin'), proxy.mirrorUrl(upstream.host, '/b/1.bin')] }))
  t.equal(started.status, 202)
  t.same(started.body.results.map((r) => r.state), ['started', 'started', 'started', 'started'])
  t.equal(started.body.results[3]?.upstream, `${upstream.origin}/b/1.bin`, 'a whole dsmirror URL is taken by its path')
  await proxy.idle()

  const firstPage = await json<Page>(`${api}/entries?prefix=${encodeURIComponent(path('/a/'))}&limit=2`)
  t.equal(firstPage.body.total, 3, 'three entries under /a/')
  t.same(firstPage.body.entries.map((e) => e.url), [`${upstream.origin}/a/1.bin`, `${upstream.origin}/a/2.bin`])
  t.equal(firstPage.body.entries[0]?.sha256, sha256(bodies.get('/a/1.bin') as Buffer))
  const secondPage = await json<Page>(`${api}/entries?prefix=${encodeURIComponent(path('/a/'))}&limit=2&cursor=${encodeURIComponent(firstPage.body.next ?? '')}`)
  t.same(secondPage.body.entries.map((e) => e.url), [`${upstream.origin}/a/3.bin`])
  t.equal(secondPage.body.next, null, 'the last page says so')
  const byUpstreamUrl = await json<Page>(`${api}/entries?prefix=${encodeURIComponent(`${upstream.origin}/b/`)}`)
  t.equal(byUpstreamUrl.body.total, 1, 'an upstream URL works as a prefix too')
  const badLimit = await json<{ code: string }>(`${api}/entries?limit=0`)
  t.equal(badLimit.body.code, 'DSM_ADMIN_BAD_REQUEST')

  for (const p of ['/a/1.bin', '/a/2.bin', '/a/3.bin', '/b/1.bin']) {
    const res = await request(proxy.mirrorUrl(upstream.host, p))
    t.equal(res.headers['cache-status'], 'dsmirror; hit', `${p} is a hit after prefetch`)
    t.equal(res.sha256, sha256(bodies.get(p) as Buffer))
    t.equal(upstream.count(p, 'GET'), 1, `${p} fetched once`)
  }
  const again = await json<{ results: Array<{ state: string }> }>(`${api}/prefetch`, post({ urls: [path('/a/1.bin')] }))
  t.equal(again.body.results[0]?.state, 'cached', 'a cached entry is left alone')

  // A prefetch in flight is listed with its progress, and a pin asked for with it lands at the end.
  const slow = await json<{ results: Array<{ key: string }> }>(`${api}/prefetch`, post({ urls: [path('/slow.bin')], pin: true }))
  const slowKey = slow.body.results[0]?.key
  await until('the slow download to be listed', async () => {
    const { body } = await json<{ downloads: Array<{ key: string; url: string; size: number | null; written: number }> }>(`${api}/downloads`)
    const d = body.downloads.find((x) => x.key === slowKey)
    return d !== undefined && d.url === `${upstream.origin}/slow.bin` && d.size === 1024 * 1024
  })
  await proxy.idle()
  await until('the prefetched entry to be pinned', async () => (await json<Page>(`${api}/entries?prefix=${encodeURIComponent(path('/slow.bin'))}`)).body.entries[0]?.pinned === true)
  t.same((await json<{ downloads: unknown[] }>(`${api}/downloads`)).body.downloads, [], 'nothing in flight afterwards')

  const [b1] = byUpstreamUrl.body.entries
  const deleted = await json<Entry & { deleted: boolean }>(`${api}/entries/${b1?.key ?? ''}`, { method: 'DELETE' })
  t.match(deleted, { status: 200, body: { key: b1?.key, deleted: true } })
  t.equal((await json<{ code: string }>(`${api}/entries/${b1?.key ?? ''}`, { method: 'DELETE' })).body.code, 'DSM_ADMIN_NOT_FOUND', 'gone')
  const refetched = await request(proxy.mirrorUrl(upstream.host, '/b/1.bin'))
  t.match(refetched.headers['cache-status'], /fwd=miss/, 'a deleted entry is fetched again')
  t.equal(upstream.count('/b/1.bin', 'GET'), 2)
})
