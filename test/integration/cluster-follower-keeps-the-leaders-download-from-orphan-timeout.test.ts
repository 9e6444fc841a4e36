// Issue 19 item 3 with cache.orphanTimeout (issue 12 item 8): a follower replica reading the
// leader's download through the peer listener is one of its clients. Before, the leader's own
// clients leaving started the orphan grace, and the download was cancelled under the followers
// (they then took it over from the upstream: one more transfer). The lease store here only
// answers "created": this test is about the peer listener and the orphan timer, not leases.
import { createHash } from 'node:crypto'
import t from 'tap'
import type { LeaseIo } from '../../server/cluster/lease.js'
import { makeBytes } from '../helpers/bytes.js'
import { manualTimers } from '../helpers/cluster-leases.js'
import { PEER_TOKEN, startPeerFixture } from '../helpers/cluster-peer.js'
import { openResponse } from '../helpers/http-client.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const SIZE = 1024 * 1024

t.test('the leader\'s own client leaves; the follower still reading keeps the download going past cache.orphanTimeout', async (t) => {
  const body = makeBytes(SIZE, 71)
  const upstream = await startUpstream()
  // About 4 s for the whole body: twenty times the 200 ms grace.
  upstream.set('/o/followed.bin', { body, throttleBytesPerSec: 256 * 1024, chunkSize: 16 * 1024 })
  let etags = 0
  const io: LeaseIo = {
    create: async () => ({ etag: `e${++etags}` }),
    replace: async () => ({ etag: `e${++etags}` }),
    read: async () => null
  }
  const { proxy, leases, peerUrl } = await startPeerFixture(t, { proxy: { allowHosts: [upstream.host], config: { cache: { orphanTimeout: '200ms' } } }, io, timers: manualTimers() })
  t.teardown(async () => { await upstream.close() })

  const client = await openResponse(proxy.mirrorUrl(upstream.host, '/o/followed.bin'))
  await new Promise((resolve) => client.res.once('data', resolve))
  const [key, download] = proxy.app.dsmirror.cache.downloads.entries().next().value ?? []
  if (key === undefined || download === undefined) throw new Error('no download in flight')
  t.equal((await leases.claim(key)).role, 'leader', 'this replica leads the key')

  const follower = await openResponse(`${peerUrl}/_/peer/objects/${key}`, { headers: { authorization: `Bearer ${PEER_TOKEN}` } })
  t.equal(follower.res.statusCode, 200, 'the peer listener serves the download it leads')
  const chunks: Buffer[] = []
  const ended = new Promise<boolean>((resolve) => {
    follower.res.on('data', (chunk: Buffer) => chunks.push(chunk))
    follower.res.once('end', () => { resolve(true) })
    follower.res.once('error', () => { resolve(false) })
    follower.res.once('aborted', () => { resolve(false) })
  })
  await waitUntil(() => chunks.length > 0 || null, { what: 'the follower\'s first bytes', timeoutMs: 10_000 })
  client.req.destroy()

  t.equal(await ended, true, 'the follower\'s body ended cleanly')
  t.equal(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'), createHash('sha256').update(body).digest('hex'), 'with the whole body')
  t.equal(download.state, 'committed', 'the download was not cancelled as an orphan')
  t.equal(upstream.count('/o/followed.bin'), 1, 'one upstream transfer')
})
