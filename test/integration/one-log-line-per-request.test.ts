// The real CLI (`dsmirror serve`, JSON logs when stdout is not a TTY) writes a startup summary and
// exactly one line per request, with reqId, method, URL, status, Cache-Status and its outcome,
// body bytes and ms, for finished and aborted responses alike; credentials never reach the log
// (docs/design.md "Operations").
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { startChildProxy } from '../helpers/child-proxy.js'
import { openResponse, request } from '../helpers/http-client.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const POLL_MS = 20
const SECRET = 'Bearer do-not-log-me-6f1c'

interface Line { msg: string, [field: string]: unknown }

t.test('a startup summary, then one line per request with its outcome, bytes and ms', async (t) => {
  const small = makeBytes(40 * 1024, 91)
  const big = makeBytes(4 * 1024 * 1024, 92)
  const upstream = await startUpstream()
  upstream.set('/l/small.bin', { body: small })
  upstream.set('/l/big.bin', { body: big, throttleBytesPerSec: 256 * 1024, chunkSize: 16 * 1024 })
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-log-'))
  const proxy = await startChildProxy(dataDir, { allowHosts: [upstream.host] })
  t.teardown(async () => {
    proxy.child.kill('SIGKILL')
    await proxy.exited
    await upstream.close()
    await rm(dataDir, { recursive: true, force: true })
  })
  const lines = (): Line[] => proxy.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line)
  const requestLines = (): Line[] => lines().filter((l) => l.msg === 'request')

  const summary = lines().find((l) => l.msg === 'dsmirror is serving')
  t.match(summary, { urls: [proxy.origin], version: String, dataDir, maxSize: Number, tls: String }, 'startup summary')

  const smallUrl = `${proxy.origin}/${upstream.host}/l/small.bin`
  t.equal((await request(smallUrl)).status, 200)
  // Wait for the commit, so the next request is a hit.
  await waitUntil(() => lines().some((l) => l.msg === 'download committed'), { what: "the 'download committed' log line", pollMs: POLL_MS })
  t.equal((await request(smallUrl)).status, 200)
  t.equal((await request(`${proxy.origin}/127.0.0.1:1/x.bin`, { headers: { authorization: SECRET } })).status, 403)
  // A client that leaves mid-body: its response never finishes.
  const { req, res } = await openResponse(`${proxy.origin}/${upstream.host}/l/big.bin`)
  await new Promise((resolve) => res.once('data', resolve))
  req.destroy()

  await waitUntil(() => requestLines().length >= 4, { what: 'four request log lines', pollMs: POLL_MS })
  const [miss, hit, refused, aborted] = requestLines()
  const common = { reqId: String, method: 'GET', status: Number, cache: String, outcome: String, bytes: Number, ms: Number }
  t.match(miss, { ...common, url: `/${upstream.host}/l/small.bin`, status: 200, cache: 'dsmirror; fwd=miss; stored', outcome: 'miss', bytes: small.length })
  t.match(hit, { ...common, url: `/${upstream.host}/l/small.bin`, status: 200, cache: 'dsmirror; hit', outcome: 'hit', bytes: small.length })
  t.match(refused, { ...common, url: '/127.0.0.1:1/x.bin', status: 403, cache: 'dsmirror; detail=DSM_HOST_NOT_ALLOWED', outcome: 'error' })
  t.match(aborted, { ...common, url: `/${upstream.host}/l/big.bin`, status: 200, outcome: 'miss', aborted: true })
  t.ok(Number(aborted?.bytes) > 0 && Number(aborted?.bytes) < big.length, `an aborted response logs the bytes it sent (${String(aborted?.bytes)})`)
  t.equal(new Set(requestLines().map((l) => l.reqId)).size, 4, 'each line has its own reqId')
  t.notOk(proxy.output().includes('do-not-log-me'), 'the Authorization header is not logged')
})
