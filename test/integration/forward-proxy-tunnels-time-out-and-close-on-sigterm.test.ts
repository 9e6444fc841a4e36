// Issue 12 "Show": a decrypted tunnel is a connection of the listening server, so the same limits
// hold inside it: a client that never sends its ClientHello, or dribbles its request head, is
// closed after listen.headersTimeout (slowloris); and SIGTERM with idle tunnels open exits
// promptly instead of waiting for their keep-alive to run out.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startChildProxy } from '../helpers/child-proxy.js'
import { httpOver, sendConnect, tlsInTunnel } from '../helpers/forward-client.js'
import { startProxy } from '../helpers/proxy.js'
import { readFile } from 'node:fs/promises'
import { waitUntil } from '../helpers/wait.js'

const HEADERS_TIMEOUT_MS = 300
/** Far above HEADERS_TIMEOUT_MS plus Node's sweep interval, far below the 20 s default. */
const BOUND_MS = 5000

t.test('silent and slow clients inside a tunnel are closed after listen.headersTimeout', async (t) => {
  const proxy = await startProxy({ allowHosts: ['data.example'], config: { forwardProxy: { enabled: true }, listen: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms` } } })
  t.teardown(() => proxy.close({ remove: true }))
  const fp = proxy.app.dsmirror.forwardProxy
  if (fp === null) throw new Error('forward proxy is off')
  const port = Number(new URL(proxy.origin).port)

  const silent = await sendConnect(t, port, 'data.example:443')
  t.equal(silent.status, 200)
  await waitUntil(() => silent.socket.destroyed || silent.socket.readableEnded, { what: 'the silent tunnel to be closed', timeoutMs: BOUND_MS })
  t.pass('a tunnel without a ClientHello is closed')

  const slow = await sendConnect(t, port, 'data.example:443')
  const secure = await tlsInTunnel(slow.socket, { ca: fp.ca.certPem, servername: 'data.example', host: 'data.example' })
  let closed = false
  let answer = ''
  secure.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  secure.on('close', () => { closed = true })
  secure.on('error', () => {})
  secure.write('GET /data.bin HTTP/1.1\r\nhost: data.example\r\n')
  await waitUntil(() => closed, { what: 'the dribbling client to be closed', timeoutMs: BOUND_MS })
  t.match(answer, /^HTTP\/1\.1 408 /, 'answered 408 inside the tunnel')
  t.match(answer, 'DSM_CLIENT_TIMEOUT')
})

t.test('SIGTERM with idle tunnels open exits promptly', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-fp-sigterm-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const child = await startChildProxy(dataDir, { allowHosts: ['data.example'], config: { forwardProxy: { enabled: true } } })
  t.teardown(() => { child.child.kill('SIGKILL') })
  const port = Number(new URL(child.origin).port)
  const ca = await readFile(join(dataDir, 'interception-ca', 'ca.pem'), 'utf8')
  const tunnels = await Promise.all([0, 1, 2].map(async () => {
    const answer = await sendConnect(t, port, 'data.example:443')
    const secure = await tlsInTunnel(answer.socket, { ca, servername: 'data.example', host: 'data.example' })
    secure.on('error', () => {})
    // One answered request leaves the tunnel idle in keep-alive (a refusal is quickest: a mirror
    // page under the tunnel host's name is not allowed to reach /_/).
    const res = await httpOver(secure, ['GET /_/ HTTP/1.1', 'host: data.example'])
    t.not(res.status, 0)
    return secure
  }))
  child.child.kill('SIGTERM')
  const exit = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => { resolve('still running') }, BOUND_MS))])
  t.equal(exit, 0, 'exited 0 within the bound, with three idle tunnels open')
  for (const tunnel of tunnels) tunnel.destroy()
})
