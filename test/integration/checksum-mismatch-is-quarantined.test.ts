// A body whose digest does not match `checksums` is never handed out complete: every client is
// aborted before its last byte, the body is moved to quarantine/ with a note of both digests, and
// nothing is cached. A matching digest (md5 or sha256) is committed as usual.
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 3 * 1024 * 1024

t.test('a wrong digest aborts every client and quarantines the body', async (t) => {
  const body = makeBytes(SIZE, 60)
  const upstream = await startUpstream()
  upstream.set('/cifar/cifar-10-python.tar.gz', { body, throttleBytesPerSec: 12 * 1024 * 1024 })
  upstream.set('/mnist/good.gz', { body })
  upstream.set('/mnist/good-sha.gz', { body })
  const md5 = createHash('md5').update(body).digest('hex')
  const proxy = await startProxy({
    allowHosts: [upstream.host],
    config: {
      checksums: {
        [`${upstream.origin}/cifar/cifar-10-python.tar.gz`]: 'md5:c58f30108f718f92721af3b95e74349a',
        [`${upstream.origin}/mnist/good.gz`]: `md5:${md5}`,
        [`${upstream.origin}/mnist/good-sha.gz`]: `sha256:${sha256(body)}`
      }
    }
  })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

  const url = proxy.mirrorUrl(upstream.host, '/cifar/cifar-10-python.tar.gz')
  const clients = await Promise.all([request(url), request(url), request(url)])
  for (const [i, res] of clients.entries()) {
    t.equal(res.complete, false, `client ${i} was aborted`)
    t.ok(res.body.length < SIZE, `client ${i} never got the last byte (${res.body.length} of ${SIZE})`)
  }
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 0, 'nothing cached')
  const quarantine = join(proxy.config.cache.dir, 'quarantine')
  const notes = (await readdir(quarantine)).filter((n) => n.endsWith('.json'))
  t.equal(notes.length, 1, 'the body is in quarantine')
  const note = JSON.parse(await readFile(join(quarantine, notes[0] ?? ''), 'utf8')) as { expected: { hex: string }; actual: string }
  t.equal(note.expected.hex, 'c58f30108f718f92721af3b95e74349a')
  t.equal(note.actual, md5, 'the note has both digests')

  const good = await request(proxy.mirrorUrl(upstream.host, '/mnist/good.gz'))
  t.ok(good.complete)
  t.equal(good.sha256, sha256(body))
  const goodSha = await request(proxy.mirrorUrl(upstream.host, '/mnist/good-sha.gz'))
  t.ok(goodSha.complete)
  await proxy.idle()
  t.equal(proxy.app.dsmirror.store.stats.entries, 2, 'matching digests are committed')
})
