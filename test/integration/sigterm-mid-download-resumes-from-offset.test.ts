// Issue #6: SIGTERM during a 256 MiB download, restart, request again. The shutdown checkpoints
// the download (server/cli/cli.ts: grace period, then downloads suspended), so the restarted proxy
// asks the upstream for a Range from the saved offset (less the RESUME_OVERLAP_BYTES it
// re-reads to prove the upstream still sends the same bytes), and the client gets the exact body.
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RESUME_OVERLAP_BYTES } from '../../server/cache/download.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { openResponse } from '../helpers/http-client.js'
import { defaultEtag, startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024
const SIZE = 256 * MiB
/** Past the first 64 MiB checkpoint, and slow enough that the 8 s grace period ends mid-body. */
const SIGTERM_AT = 72 * MiB
const THROTTLE_BYTES_PER_SEC = 16 * MiB

/** Reads a whole response, hashing as it goes (256 MiB is not collected); `onBytes` sees the running count. */
async function fetchHashed (url: string, onBytes?: (received: number) => void): Promise<{ status: number; complete: boolean; bytes: number; sha256: string; cacheStatus: string | undefined }> {
  const { res } = await openResponse(url)
  const hash = createHash('sha256')
  let bytes = 0
  let failed = false
  return await new Promise((resolve) => {
    res.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; onBytes?.(bytes) })
    res.on('aborted', () => { failed = true })
    res.on('error', () => { failed = true })
    res.on('close', () => {
      const cacheStatus = res.headers['cache-status']
      resolve({ status: res.statusCode ?? 0, complete: res.complete && !failed, bytes, sha256: hash.digest('hex'), cacheStatus: typeof cacheStatus === 'string' ? cacheStatus : undefined })
    })
  })
}

t.test('SIGTERM mid-download, restart: the upstream gets a Range from the saved offset', async (t) => {
  const upstream = await startUpstream()
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-sigterm-'))
  t.teardown(async () => { await upstream.close(); await rm(dataDir, { recursive: true, force: true }) })
  const body = makeBytes(SIZE, 66)
  const path = '/term/big.tar.gz'
  upstream.set(path, { body, throttleBytesPerSec: THROTTLE_BYTES_PER_SEC, chunkSize: MiB })

  const first = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
  const url = `${first.origin}/${upstream.host}${path}`
  let signalled = false
  const interrupted = await fetchHashed(url, (received) => {
    if (!signalled && received >= SIGTERM_AT) {
      signalled = true
      first.child.kill('SIGTERM')
    }
  })
  t.equal(await first.exited, 0, 'SIGTERM exits cleanly')
  t.equal(interrupted.status, 200)
  t.equal(interrupted.complete, false, 'the interrupted client sees an aborted transfer, not a clean end')
  t.ok(interrupted.bytes < SIZE, `the download was suspended mid-body (client had ${interrupted.bytes} bytes)`)

  const tmpDir = join(dataDir, 'cache', 'tmp')
  const stateFile = (await readdir(tmpDir)).find((n) => n.endsWith('.part.json'))
  if (stateFile === undefined) throw new Error(`no resume state in ${tmpDir}:\n${first.output()}`)
  const saved = (JSON.parse(await readFile(join(tmpDir, stateFile), 'utf8')) as { durable: number }).durable
  t.ok(saved >= SIGTERM_AT && saved < SIZE, `a checkpoint beyond the SIGTERM point was saved: ${saved} bytes`)
  t.ok((await stat(join(tmpDir, stateFile.slice(0, -'.json'.length)))).size >= saved, 'the temp body holds the saved bytes')

  // Same bytes, same ETag, full speed: only the resume is under test now.
  upstream.set(path, { body, chunkSize: MiB })
  const before = upstream.requests.length
  const second = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
  const after = await fetchHashed(`${second.origin}/${upstream.host}${path}`)
  t.equal(after.status, 200, 'served after restart')
  t.ok(after.complete, 'complete')
  t.equal(after.bytes, SIZE)
  t.equal(after.sha256, sha256(body), 'exact bytes after the resume')

  const resumed = upstream.requests.slice(before).filter((r) => r.path === path)
  t.equal(resumed.length, 1, 'one upstream request after the restart')
  t.equal(resumed[0]?.headers.range, `bytes=${saved - RESUME_OVERLAP_BYTES}-`, `Range from the saved offset ${saved} (less the ${RESUME_OVERLAP_BYTES}-byte overlap)`)
  t.equal(resumed[0]?.headers['if-range'], defaultEtag(body), 'with If-Range')
  const resumeLine = second.output().split('\n').find((l) => l.includes('resuming interrupted download'))
  t.equal(resumeLine === undefined ? null : (JSON.parse(resumeLine) as { offset: number }).offset, saved, 'the proxy says it resumed at the saved offset')
  t.comment(`SIGTERM after ${SIGTERM_AT} client bytes; suspended with ${interrupted.bytes} sent; saved ${saved}; resumed with ${String(resumed[0]?.headers.range)}`)

  const hit = await fetchHashed(`${second.origin}/${upstream.host}${path}`)
  t.equal(hit.cacheStatus, 'dsmirror; hit', 'committed')
  t.equal(hit.sha256, sha256(body))
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0, 'the restarted proxy exits cleanly')
})
