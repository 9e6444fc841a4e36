// The proxy process is killed with SIGKILL in the middle of a download, then restarted on the
// same data directory: no request is ever answered with wrong bytes, and the next request
// completes correctly (resuming the interrupted download when it left a checkpoint).
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024

t.test('SIGKILL mid-download, restart, correct bytes', async (t) => {
  const upstream = await startUpstream()
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-kill-'))
  t.teardown(async () => { await upstream.close(); await rm(dataDir, { recursive: true, force: true }) })
  const rounds = [{ size: 24 * MiB, killAt: 4 * MiB }, { size: 96 * MiB, killAt: 80 * MiB }]
  for (const [i, round] of rounds.entries()) {
    const body = makeBytes(round.size, 50 + i)
    const path = `/k/${i}.tar.gz`
    upstream.set(path, { body, throttleBytesPerSec: 64 * MiB, chunkSize: 256 * 1024 })

    const first = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
    const url = `${first.origin}/${upstream.host}${path}`
    const { res } = await openResponse(url)
    let received = 0
    await new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => { received += c.length; if (received >= round.killAt) resolve() })
    })
    first.child.kill('SIGKILL')
    t.equal(await first.exited, 'SIGKILL', `round ${i}: killed`)

    const second = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
    const after = await request(`${second.origin}/${upstream.host}${path}`)
    t.equal(after.status, 200, `round ${i}: served after restart`)
    t.ok(after.complete, `round ${i}: complete`)
    t.equal(after.sha256, sha256(body), `round ${i}: exact bytes after the crash`)
    const hit = await request(`${second.origin}/${upstream.host}${path}`)
    t.equal(hit.headers['cache-status'], 'dsmirror; hit', `round ${i}: committed`)
    t.equal(hit.sha256, sha256(body))
    const resumed = upstream.requests.filter((r) => r.path === path && typeof r.headers.range === 'string')
    t.comment(`round ${i}: ${resumed.length > 0 ? `resumed with ${String(resumed[0]?.headers.range)}` : 'started over (no checkpoint yet)'}`)
    second.child.kill('SIGTERM')
    t.equal(await second.exited, 0, `round ${i}: SIGTERM exits cleanly`)
  }
})
