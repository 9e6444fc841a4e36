// Issue 11 item 7: /_/api/status, /_/ and /_/metrics show the Hub traffic (repos, resolves
// answered here vs asked of the Hub), and the status page's Hugging Face snippet is this mode's
// (`HF_ENDPOINT=<base>/hf`, `hf download`), not the generic /huggingface.co/ route.
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('status and metrics count resolves; the snippet is HF_ENDPOINT=<base>/hf', async (t) => {
  const { base, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  for (let i = 0; i < 3; i++) {
    const res = await request(`${base}/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
    await res.body.dump()
  }
  const status = await request(`${proxy.origin}/_/api/status`)
  const snapshot = await status.body.json() as { huggingface: { repos: number, resolvesLocal: number, resolvesUpstream: number }, snippets: { huggingface: string } }
  t.equal(snapshot.huggingface.repos, 1)
  t.equal(snapshot.huggingface.resolvesUpstream, 1)
  t.equal(snapshot.huggingface.resolvesLocal, 2)
  t.equal(snapshot.snippets.huggingface, `export HF_ENDPOINT=${proxy.origin}/hf\nhf download bert-base-uncased config.json`)

  const page = await request(`${proxy.origin}/_/`)
  const html = await page.body.text()
  t.match(html, /<td class="num" id="hf-local">2<\/td>/)
  t.match(html, `export HF_ENDPOINT=${proxy.origin}/hf`)
  t.notMatch(html, 'huggingface-cli')

  const metrics = await request(`${proxy.origin}/_/metrics`)
  const text = await metrics.body.text()
  t.match(text, /dsmirror_hf_resolves_total\{answered="local"\} 2/)
  t.match(text, /dsmirror_hf_resolves_total\{answered="upstream"\} 1/)
  t.match(text, /dsmirror_hf_repos 1/)
})
