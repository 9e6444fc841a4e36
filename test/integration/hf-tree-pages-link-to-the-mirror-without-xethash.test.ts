// Contract rules 4 and 5 (hf-protocol.md §0, §2.5, §2.6): tree pages come back with their
// `Link rel="next"` pointing at the mirror's own base (prefix kept), so a client walking the pages
// never reaches the Hub, and with `xetHash` removed, so hf_xet never asks xet-read-token.
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('walking the tree pages through the mirror lists every file once, no Link to the Hub, no xetHash', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  const sha = hub.sha(TINY_MODEL)
  let next: string | null = `${base}/api/models/${TINY_MODEL}/tree/${sha}?recursive=true&expand=false`
  const paths: string[] = []
  let pages = 0
  while (next !== null && pages < 20) {
    const res = await request(next)
    const entries = await res.body.json() as Array<Record<string, unknown>>
    t.equal(res.statusCode, 200)
    pages++
    for (const entry of entries) {
      t.notOk('xetHash' in entry, `no xetHash on ${String(entry.path)}`)
      paths.push(String(entry.path))
    }
    const link = res.headers.link
    if (typeof link !== 'string') break
    const match = /<([^>]+)>;\s*rel="next"/.exec(link)
    t.ok(match, 'a next link')
    next = match?.[1] ?? null
    t.ok(next?.startsWith(`${base}/api/models/${TINY_MODEL}/tree/${sha}?`), `the next page is on the mirror: ${next ?? ''}`)
    t.notOk(link.includes(hub.origin), 'nothing points at the Hub')
  }
  t.ok(pages > 2, `several pages (${pages})`)
  t.same(paths.sort(), hub.files(TINY_MODEL).map((f) => f.path).sort(), 'every file once')
  t.ok(hub.requests.some((r) => r.kind === 'tree' && r.url.includes('cursor=')), 'the Hub itself paged')
})
