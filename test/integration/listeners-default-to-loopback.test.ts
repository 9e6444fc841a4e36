// Issue 17: a start with the defaults (`npm start`) listens on loopback only, both listeners,
// asserted from the kernel's socket table of the real CLI process: 127.0.0.1 and, where IPv6 is
// up, ::1 (the same port, answering the same app over HTTP and HTTPS). SIGTERM still exits 0.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { isLoopbackAddress } from '../../config/loopback.js'
import { DSMIRROR_BIN } from '../helpers/cli.js'
import { childEnv } from '../helpers/child-env.js'
import { request } from '../helpers/http-client.js'
import { listeningSockets } from '../helpers/listening-sockets.js'
import { waitUntil } from '../helpers/wait.js'

const START_TIMEOUT_MS = 30_000

async function ipv6LoopbackUp (): Promise<boolean> {
  return await new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => { resolve(false) })
    probe.listen({ host: '::1', port: 0 }, () => { probe.close(() => { resolve(true) }) })
  })
}

t.test('the defaults listen on loopback only, IPv4 and IPv6, both listeners', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-default-listeners-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Defaults except the ports (0: free ones) and where state goes.
  const child = spawn(process.execPath, [DSMIRROR_BIN, 'serve'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv({ DSMIRROR_DATADIR: dir, DSMIRROR_LISTEN_HTTP_PORT: '0', DSMIRROR_LISTEN_HTTPS_PORT: '0' })
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  t.teardown(() => { child.kill('SIGKILL') })
  await waitUntil(() => output.includes('dsmirror is serving') || child.exitCode !== null, { what: `the CLI to start:\n${output}`, timeoutMs: START_TIMEOUT_MS })
  const serving = JSON.parse(output.split('\n').find((line) => line.includes('dsmirror is serving')) ?? '{}') as { urls?: string[] }
  const [httpUrl = '', httpsUrl = ''] = serving.urls ?? []
  t.match(httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/, 'HTTP on 127.0.0.1')
  t.match(httpsUrl, /^https:\/\/127\.0\.0\.1:\d+$/, 'HTTPS on 127.0.0.1 (was 0.0.0.0)')
  const ports = [Number(new URL(httpUrl).port), Number(new URL(httpsUrl).port)]

  const sockets = await listeningSockets(child.pid ?? 0)
  t.ok(sockets.length >= 2, `listening sockets: ${JSON.stringify(sockets)}`)
  t.ok(sockets.every((s) => isLoopbackAddress(s.address)), 'every listening socket is on loopback')
  const withIpv6 = await ipv6LoopbackUp()
  for (const port of ports) {
    t.ok(sockets.some((s) => s.address === '127.0.0.1' && s.port === port), `127.0.0.1:${port}`)
    if (withIpv6) t.ok(sockets.some((s) => s.address === '::1' && s.port === port), `[::1]:${port}`)
  }

  const status = JSON.parse((await request(`${httpUrl}/_/api/status`)).body.toString()) as { exposure: string, listeners: string[] }
  t.equal(status.exposure, 'loopback', 'the status page says it is reachable from this machine only')
  t.match((await request(`${httpUrl}/_/`)).body.toString(), /<p id="exposure">Loopback only/)
  if (withIpv6) t.same(status.listeners.slice(2).sort(), [`http://[::1]:${ports[0] ?? 0}`, `https://[::1]:${ports[1] ?? 0}`], 'the ::1 listeners are listed')

  if (withIpv6) {
    const caPem = await readFile(join(dir, 'ca', 'ca.pem'), 'utf8')
    t.equal((await request(`http://[::1]:${ports[0] ?? 0}/_/healthz`)).status, 200, 'HTTP answers on ::1')
    // The auto leaf names ::1 (tls.hostnames), so the IPv6 listener verifies against the local CA.
    t.equal((await request(`https://[::1]:${ports[1] ?? 0}/_/healthz`, { ca: caPem })).status, 200, 'HTTPS answers on ::1')
  } else {
    t.comment('no IPv6 loopback on this machine: the ::1 listeners are not expected')
  }

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: exit 0 with the ::1 listeners open')
})

t.test('opening a listener without admin.token is refused at start, naming both ways out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-open-refused-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const run = await new Promise<{ code: number | null, stderr: string }>((resolve) => {
    execFile(process.execPath, [DSMIRROR_BIN, 'serve'], {
      cwd: dir,
      timeout: START_TIMEOUT_MS,
      env: childEnv({ DSMIRROR_DATADIR: dir, DSMIRROR_LISTEN_HTTP_HOST: '0.0.0.0', DSMIRROR_LISTEN_HTTP_PORT: '0', DSMIRROR_LISTEN_HTTPS: 'false' })
    }, (err, _stdout, stderr) => { resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }) })
  })
  t.not(run.code, 0, 'it does not start')
  t.match(run.stderr, /DSM_CONFIG_INVALID/)
  t.match(run.stderr, /listen\.http\.host: is 0\.0\.0\.0, reachable from other machines/)
  t.match(run.stderr, /Set admin\.token .*DSMIRROR_ADMIN_TOKEN/)
  t.match(run.stderr, /admin\.openOnNetwork: true/)
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
})
