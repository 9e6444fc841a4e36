// The stand-in Hub (test/helpers/stand-in-hub.ts) answers like huggingface.co did for the real
// clients (hf-protocol.md §6.2), seen through a plain HTTP client on real sockets. The e2e tests
// (test/e2e/hf-*.test.ts) prove the same with the real clients.
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { GATED_MODEL, GATED_TOKEN, TINY_CSV, TINY_MODEL, allFixtureRepos } from '../helpers/hub-fixtures.js'
import { getTestPki } from '../helpers/pki.js'
import { gitBlobSha1, startStandInHub } from '../helpers/stand-in-hub.js'

let clockMs = Date.parse('2026-06-01T00:00:00Z')
const hub = await startStandInHub({ repos: allFixtureRepos({ safetensorsBytes: 300_000 }), now: () => clockMs })
t.teardown(() => hub.close())
const sha = hub.sha(TINY_MODEL)

t.test('a regular file: relative 307 to resolve-cache, then 200 with the git blob sha1 as ETag', async (t) => {
  const config = hub.file(TINY_MODEL, 'config.json')
  t.equal(config.gitSha1, gitBlobSha1(config.body))
  const head = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })
  t.equal(head.status, 307)
  t.equal(head.headers['x-repo-commit'], sha)
  const location = String(head.headers.location)
  t.match(location, new RegExp(`^/api/resolve-cache/models/${TINY_MODEL}/${sha}/config\\.json\\?`), 'relative, pinned to the commit')
  t.match(location, `etag=%22${config.gitSha1}%22`)
  const res = await request(`${hub.origin}${location}`)
  t.equal(res.status, 200)
  t.equal(res.headers.etag, `"${config.gitSha1}"`)
  t.equal(res.headers['x-repo-commit'], sha)
  t.equal(res.headers['content-length'], String(config.size))
  t.equal(res.sha256, config.sha256)
})

t.test('an LFS file: 302 with X-Linked-* to a signed URL on the CDN host name; Range, 416 and expiry there', async (t) => {
  const model = hub.file(TINY_MODEL, 'model.safetensors')
  const head = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  t.equal(head.status, 302)
  t.equal(head.headers['x-repo-commit'], sha)
  t.equal(head.headers['x-linked-etag'], `"${model.sha256}"`)
  t.equal(head.headers['x-linked-size'], String(model.size))
  t.equal(head.headers.etag, `"${model.gitSha1}"`, 'the pointer blob sha1')
  const location = String(head.headers.location)
  t.ok(location.startsWith(`${hub.cdnOrigin}/repos/`), 'another host name than the Hub')
  t.not(hub.cdnHost, hub.host)
  t.match(location, /Expires=\d+&Signature=[0-9a-f]{64}/)

  const full = await request(location)
  t.equal(full.status, 200)
  t.equal(full.sha256, model.sha256)
  const ranged = await request(location, { headers: { range: 'bytes=100-199' } })
  t.equal(ranged.status, 206)
  t.equal(ranged.headers['content-range'], `bytes 100-199/${model.size}`)
  t.same(ranged.body, model.body.subarray(100, 200))
  const probe = await request(location, { headers: { range: 'bytes=0-0' } })
  t.equal(probe.headers['content-range'], `bytes 0-0/${model.size}`)
  const past = await request(location, { headers: { range: `bytes=${model.size}-` } })
  t.equal(past.status, 416)
  t.equal(past.headers['content-range'], `bytes */${model.size}`)

  const onHubHost = await request(location.replace(hub.cdnHost, hub.host))
  t.equal(onHubHost.status, 404, 'the CDN route lives on the CDN host only')
  const tampered = await request(location.replace(/Signature=[0-9a-f]/, 'Signature=x'))
  t.equal(tampered.status, 403)
  clockMs += 2 * 60 * 60 * 1000
  t.teardown(() => { clockMs -= 2 * 60 * 60 * 1000 })
  t.equal((await request(location)).status, 403, 'expired')
})

t.test('errors: EntryNotFound with X-Repo-Commit, RevisionNotFound, RepoNotFound', async (t) => {
  const missing = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/generation_config.json`, { method: 'HEAD' })
  t.equal(missing.status, 404)
  t.equal(missing.headers['x-error-code'], 'EntryNotFound')
  t.equal(missing.headers['x-repo-commit'], sha)
  const rev = await request(`${hub.origin}/${TINY_MODEL}/resolve/nope/config.json`, { method: 'HEAD' })
  t.equal(rev.status, 404)
  t.equal(rev.headers['x-error-code'], 'RevisionNotFound')
  const repo = await request(`${hub.origin}/acme/absent/resolve/main/config.json`, { method: 'HEAD' })
  t.equal(repo.status, 401)
  t.equal(repo.headers['x-error-code'], 'RepoNotFound')
  const api = await request(`${hub.origin}/api/models/acme/absent`)
  t.equal(api.status, 401)
})

t.test('a gated repo: 401 without a token, 403 with a wrong one, the file with the right one', async (t) => {
  const url = `${hub.origin}/${GATED_MODEL}/resolve/main/config.json`
  const none = await request(url, { method: 'HEAD' })
  t.equal(none.status, 401)
  t.equal(none.headers['x-error-code'], 'GatedRepo')
  const wrong = await request(url, { method: 'HEAD', headers: { authorization: 'Bearer hf_wrong' } })
  t.equal(wrong.status, 403)
  t.equal(wrong.headers['x-error-code'], 'GatedRepo')
  const right = await request(url, { method: 'HEAD', headers: { authorization: `Bearer ${GATED_TOKEN}` } })
  t.equal(right.status, 307)
  const info = await request(`${hub.origin}/api/models/${GATED_MODEL}`)
  t.equal(info.status, 200, 'repo info of a gated repo is public')
  t.equal(JSON.parse(info.body.toString()).gated, 'manual')
})

t.test('repo info, with a raw %2F revision', async (t) => {
  const main = JSON.parse((await request(`${hub.origin}/api/models/${TINY_MODEL}/revision/main`)).body.toString())
  t.equal(main.id, TINY_MODEL)
  t.equal(main.sha, sha)
  t.ok(main.siblings.some((s: { rfilename: string }) => s.rfilename === 'model.safetensors'))
  const parquet = await request(`${hub.origin}/api/datasets/${TINY_CSV}/revision/refs%2Fconvert%2Fparquet`)
  t.equal(parquet.status, 200)
  t.equal(JSON.parse(parquet.body.toString()).sha, hub.sha(TINY_CSV, 'refs/convert/parquet', 'dataset'))
  const file = await request(`${hub.origin}/datasets/${TINY_CSV}/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet`, { method: 'HEAD' })
  t.equal(file.status, 302)
  t.equal(file.headers['x-repo-commit'], hub.sha(TINY_CSV, 'refs/convert/parquet', 'dataset'))
})

t.test('tree: pages of two with an absolute Link rel="next" on the stand-in', async (t) => {
  let url: string | undefined = `${hub.origin}/api/models/${TINY_MODEL}/tree/${sha}?recursive=true&expand=false`
  const paths: string[] = []
  let pages = 0
  while (url !== undefined && pages < 20) {
    const res = await request(url)
    t.equal(res.status, 200)
    const page = JSON.parse(res.body.toString()) as Array<{ path: string }>
    t.ok(page.length <= 2)
    paths.push(...page.map((e) => e.path))
    const link = res.headers.link
    const next = typeof link === 'string' ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined
    if (next !== undefined) t.ok(next.startsWith(`${hub.origin}/api/models/${TINY_MODEL}/tree/${sha}?`), 'absolute, on the Hub origin')
    url = next
    pages++
  }
  t.same(paths.sort(), hub.files(TINY_MODEL).map((f) => f.path).sort())
  t.ok(pages > 2)
})

t.test('paths-info: a form body and a JSON body; Xet fields; the xet-fileinfo answer; the read token', async (t) => {
  const model = hub.file(TINY_MODEL, 'model.safetensors')
  const form = await request(`${hub.origin}/api/models/${TINY_MODEL}/paths-info/main`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('paths=model.safetensors&paths=absent.txt&expand=false')
  })
  const formEntries = JSON.parse(form.body.toString())
  t.equal(formEntries.length, 1, 'a missing path is left out')
  t.equal(formEntries[0].lfs.oid, model.sha256)
  t.equal(formEntries[0].xetHash, model.xetHash)
  t.notOk('lastCommit' in formEntries[0])
  const json = await request(`${hub.origin}/api/models/${TINY_MODEL}/paths-info/main`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ paths: ['config.json'], expand: true }))
  })
  const jsonEntries = JSON.parse(json.body.toString())
  t.equal(jsonEntries[0].lastCommit.id, sha)
  t.notOk('xetHash' in jsonEntries[0], 'regular files have no Xet hash')

  const head = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  t.equal(head.headers['x-xet-hash'], model.xetHash)
  t.match(String(head.headers.link), /rel="xet-auth"/)
  t.match(String(head.headers.link), /rel="xet-reconstruction-info"/)
  const info = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { headers: { range: 'bytes=0-0', accept: 'application/vnd.xet-fileinfo+json, */*' } })
  t.equal(info.status, 200)
  t.match(String(info.headers['content-type']), 'application/vnd.xet-fileinfo+json')
  const token = await request(`${hub.origin}/api/models/${TINY_MODEL}/xet-read-token/${sha}`)
  t.equal(token.headers['x-xet-cas-url'], hub.casUrl)
  t.match(hub.casUrl, /\.invalid$/)
  t.equal(hub.count({ kind: 'xet-read-token' }), 1)
})

t.test('with Xet off: no Xet header, no xetHash', async (t) => {
  hub.xet = false
  t.teardown(() => { hub.xet = true })
  const head = await request(`${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD' })
  t.notOk('x-xet-hash' in head.headers)
  t.notOk('link' in head.headers)
  const entries = JSON.parse((await request(`${hub.origin}/api/models/${TINY_MODEL}/paths-info/main`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ paths: ['model.safetensors'] }))
  })).body.toString()) as Array<Record<string, unknown>>
  t.equal(entries.length, 1)
  t.notOk(entries.some((e) => 'xetHash' in e))
})

t.test('faults: 429, cut, wrong bytes, stall, branch moved, down and up; the request log', async (t) => {
  t.teardown(() => { hub.clearFaults() })
  const model = hub.file(TINY_MODEL, 'model.safetensors')
  const resolveUrl = `${hub.origin}/${TINY_MODEL}/resolve/main/model.safetensors`
  const location = String((await request(resolveUrl, { method: 'HEAD' })).headers.location)

  hub.inject({ kind: 'resolve', times: 1, fault: { type: 'status', status: 429 } })
  const limited = await request(resolveUrl, { method: 'HEAD' })
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '1')
  t.match(String(limited.headers.ratelimit), /resolvers/)
  t.equal((await request(resolveUrl, { method: 'HEAD' })).status, 302, 'times: 1')

  hub.inject({ kind: 'cdn', path: 'model.safetensors', times: 1, fault: { type: 'cut', afterBytes: 70_000 } })
  const cut = await request(location)
  t.notOk(cut.complete)
  t.equal(cut.body.length, 70_000)

  hub.inject({ kind: 'cdn', times: 1, fault: { type: 'corrupt' } })
  const wrong = await request(location)
  t.ok(wrong.complete)
  t.equal(wrong.body.length, model.size)
  t.not(wrong.sha256, model.sha256)
  t.equal(sha256(model.body), model.sha256, 'the stored file is untouched')

  hub.inject({ kind: 'cdn', times: 1, fault: { type: 'stall', afterBytes: 1000, ms: 50 } })
  const slow = await request(location)
  t.equal(slow.sha256, model.sha256, 'a stall with ms resumes')

  const moved = hub.commit(TINY_MODEL, [{ path: 'config.json', body: '{"model_type":"bert"}\n' }])
  t.teardown(() => { hub.moveRef(TINY_MODEL, 'main', sha) })
  t.equal((await request(`${hub.origin}/${TINY_MODEL}/resolve/main/config.json`, { method: 'HEAD' })).headers['x-repo-commit'], moved)
  t.equal((await request(`${hub.origin}/${TINY_MODEL}/resolve/${sha}/config.json`, { method: 'HEAD' })).status, 307, 'the old commit stays')
  hub.moveRef(TINY_MODEL, 'main', sha)

  await hub.down()
  await t.rejects(request(resolveUrl, { method: 'HEAD' }), { code: 'ECONNREFUSED' })
  await hub.up()
  t.equal((await request(resolveUrl, { method: 'HEAD' })).status, 302)

  const last = hub.requests.at(-1)
  t.equal(last?.method, 'HEAD')
  t.equal(last?.kind, 'resolve')
  t.equal(last?.file?.path, 'model.safetensors')
  t.equal(last?.authorization, false)
  t.ok(hub.count({ kind: 'cdn', host: hub.cdnHost }) >= 4)
})

t.test('HTTPS with the per-run CA; a client that does not trust it fails', async (t) => {
  const pki = await getTestPki()
  const secure = await startStandInHub({ repos: allFixtureRepos({ safetensorsBytes: 1000 }), tls: true })
  t.teardown(() => secure.close())
  t.ok(secure.origin.startsWith('https://127.0.0.1:'))
  const head = await request(`${secure.origin}/${TINY_MODEL}/resolve/main/model.safetensors`, { method: 'HEAD', ca: pki.rootCa.certPem })
  t.equal(head.status, 302)
  const location = String(head.headers.location)
  t.ok(location.startsWith(`https://localhost:${secure.port}/`))
  t.equal((await request(location, { ca: pki.rootCa.certPem })).status, 200, 'the leaf names localhost too')
  await t.rejects(request(`${secure.origin}/api/models/${TINY_MODEL}`, { ca: pki.otherCa.certPem }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
})
