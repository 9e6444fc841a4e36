// Contract rule 6 (hf-protocol.md §2.3): the Hub's statuses and X-Error-Code come through as they
// are; an EntryNotFound 404 carries X-Repo-Commit (clients write `.no_exist/{sha}/{path}` from it)
// and, at a commit, is kept: optional-file probes are not asked again.
import t from 'tap'
import { request } from 'undici'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('EntryNotFound, RevisionNotFound, RepoNotFound, 429 and 5xx as the Hub said them', async (t) => {
  const { hub, base, proxy } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 10_000 })] } })
  const sha = hub.sha(TINY_MODEL)

  const branch = await request(`${base}/${TINY_MODEL}/resolve/main/tiny-model.py`, { method: 'HEAD' })
  await branch.body.dump()
  t.equal(branch.statusCode, 307, 'a missing file at main still resolves main first')
  for (let i = 0; i < 2; i++) {
    const missing = await request(`${proxy.origin}${String(branch.headers.location)}`, { method: 'HEAD' })
    await missing.body.dump()
    t.equal(missing.statusCode, 404)
    t.equal(missing.headers['x-error-code'], 'EntryNotFound')
    t.equal(missing.headers['x-repo-commit'], sha)
  }
  t.equal(hub.requests.filter((r) => r.kind === 'resolve' && r.url.endsWith('/tiny-model.py')).length, 1, 'the 404 at a commit was kept')

  const revision = await request(`${base}/${TINY_MODEL}/resolve/v9.9/config.json`, { method: 'HEAD' })
  await revision.body.dump()
  t.equal(revision.statusCode, 404)
  t.equal(revision.headers['x-error-code'], 'RevisionNotFound')

  const repo = await request(`${base}/acme/no-such-repo/resolve/main/config.json`, { method: 'HEAD' })
  await repo.body.dump()
  t.equal(repo.statusCode, 401)
  t.equal(repo.headers['x-error-code'], 'RepoNotFound')

  hub.inject({ kind: 'api-info', fault: { type: 'status', status: 429, headers: { 'retry-after': '7', ratelimit: '"resolvers";r=0;t=7' } } })
  const limited = await request(`${base}/acme/other/resolve/main/config.json`, { method: 'HEAD' })
  await limited.body.dump()
  t.equal(limited.statusCode, 429, 'nothing known: the Hub\'s 429 itself')
  t.equal(limited.headers['retry-after'], '7')
  t.equal(limited.headers.ratelimit, '"resolvers";r=0;t=7')
  hub.clearFaults()

  hub.inject({ kind: 'resolve', path: 'README.md', fault: { type: 'status', status: 503 } })
  const failing = await request(`${base}/${TINY_MODEL}/resolve/${sha}/README.md`, { method: 'HEAD' })
  await failing.body.dump()
  t.equal(failing.statusCode, 503, 'a Hub 5xx stays a 5xx, never a 404')
})
