// Contract rules 1, 2, 4, 8 (hf-protocol.md §0, §2.1, §2.2): the commit URL answers 200 itself with
// X-Repo-Commit, the ETag the Hub gives (sha256 for LFS, with X-Linked-Etag/X-Linked-Size; the
// git blob sha1 for a regular file), Content-Length and Accept-Ranges, and no Location,
// Content-Encoding, X-Xet-* or Xet Link; the bytes are the file's, Range exact.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('LFS and regular files at a commit: Hub metadata, own bytes, no Xet', async (t) => {
  const { hub, base } = await startHfMode(t, { hub: { repos: [tinyModelRepo({ safetensorsBytes: 200_000 })] } })
  const sha = hub.sha(TINY_MODEL)
  const lfs = hub.file(TINY_MODEL, 'model.safetensors')
  const git = hub.file(TINY_MODEL, 'config.json')

  for (const [file, headers] of [
    [lfs, { etag: `"${lfs.sha256}"`, 'x-linked-etag': `"${lfs.sha256}"`, 'x-linked-size': String(lfs.size) }],
    [git, { etag: `"${git.blobSha1}"` }]
  ] as const) {
    const url = `${base}/${TINY_MODEL}/resolve/${sha}/${file.path}`
    const head = await request(url, { method: 'HEAD', headers: { 'accept-encoding': 'identity' } })
    await head.body.dump()
    t.equal(head.statusCode, 200, `HEAD ${file.path}`)
    t.equal(head.headers['x-repo-commit'], sha)
    t.match(head.headers, headers)
    t.equal(head.headers['content-length'], String(file.size))
    t.equal(head.headers['accept-ranges'], 'bytes')
    for (const absent of ['location', 'content-encoding', 'x-xet-hash', 'x-xet-refresh-route', 'link']) t.notOk(head.headers[absent], `no ${absent}`)

    const get = await request(url, { headers: { 'accept-encoding': 'gzip, deflate', accept: 'application/vnd.xet-fileinfo+json, */*' } })
    const body = Buffer.from(await get.body.arrayBuffer())
    t.equal(get.statusCode, 200, `GET ${file.path}`)
    t.match(get.headers, { ...headers, 'x-repo-commit': sha, 'content-length': String(file.size) })
    t.notOk(get.headers['content-encoding'])
    t.notOk(get.headers['x-xet-hash'])
    t.equal(sha256(body), file.sha256, 'the file bytes')

    for (const [range, start, end] of [['bytes=0-0', 0, 0], ['bytes=100-199', 100, 199], [`bytes=${file.size - 10}-`, file.size - 10, file.size - 1]] as const) {
      const part = await request(url, { headers: { range } })
      const bytes = Buffer.from(await part.body.arrayBuffer())
      t.equal(part.statusCode, 206, range)
      t.equal(part.headers['content-range'], `bytes ${start}-${end}/${file.size}`)
      t.same(bytes, file.body.subarray(start, end + 1))
    }
    const past = await request(url, { headers: { range: `bytes=${file.size}-` } })
    await past.body.dump()
    t.equal(past.statusCode, 416, 'a start past the end')
    t.equal(past.headers['content-range'], `bytes */${file.size}`)
  }
  t.equal(hub.count({ kind: 'xet-read-token' }), 0)
  t.ok(hub.requests.every((r) => r.headers['accept-encoding'] === 'identity'), 'every Hub and CDN request asked for identity encoding')
  t.notOk(hub.requests.some((r) => r.kind !== 'cdn' && r.accept?.includes('xet') === true), 'the Xet Accept never reached the Hub')
})
