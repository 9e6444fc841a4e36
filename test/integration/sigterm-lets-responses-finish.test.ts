// Issue #6: SIGTERM (and SIGINT) stop accepting at once but let responses already under way
// finish inside the grace period (server/cli/cli.ts SHUTDOWN_GRACE_MS): a client in the middle of a
// short download gets every byte, the download is committed, and the process exits 0. The long
// case (a download that outlives the grace period and is resumed after a restart) is
// sigterm-mid-download-resumes-from-offset.test.ts.
import t from 'tap'
import { connect } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024

/** Whether a new TCP connection to `origin` is accepted. */
async function accepts (origin: string): Promise<boolean> {
  const { hostname, port } = new URL(origin)
  return await new Promise<boolean>((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: stop accepting, finish the response, commit, exit 0`, async (t) => {
    const upstream = await startUpstream()
    const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-grace-'))
    t.teardown(async () => { await upstream.close(); await rm(dataDir, { recursive: true, force: true }) })
    // About 1.5 s of body: well inside the grace period, long enough to signal mid-body.
    const body = makeBytes(3 * MiB, signal.length)
    upstream.set('/g/data.tar.gz', { body, throttleBytesPerSec: 2 * MiB, chunkSize: 128 * 1024 })

    const first = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
    const url = `${first.origin}/${upstream.host}/g/data.tar.gz`
    const { res } = await openResponse(url)
    const chunks: Buffer[] = []
    let signalled = false
    const done = new Promise<boolean>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        if (!signalled) {
          signalled = true
          first.child.kill(signal)
        }
      })
      res.on('error', () => { resolve(false) })
      res.on('close', () => { resolve(res.complete) })
    })
    // The listener closes at once: poll until a new connection is refused, while the body flows.
    let refused = false
    while (!refused && !res.complete) {
      if (signalled && !(await accepts(first.origin))) refused = true
      else await new Promise((resolve) => setTimeout(resolve, 20))
    }
    t.ok(refused, 'new connections are refused once the signal arrived')
    t.ok(await done, 'the response under way completes')
    t.equal(sha256(Buffer.concat(chunks)), sha256(body), 'with every byte')
    t.equal(await first.exited, 0, `${signal} exits 0`)

    const second = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
    t.teardown(async () => { second.child.kill('SIGKILL'); await second.exited })
    const again = await request(`${second.origin}/${upstream.host}/g/data.tar.gz`)
    t.equal(again.headers['cache-status'], 'dsmirror; hit', 'the download was committed before the exit')
    t.equal(again.sha256, sha256(body))
    t.equal(upstream.count('/g/data.tar.gz', 'GET'), 1, 'one upstream request in all')
  })
}
