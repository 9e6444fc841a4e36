// Issue 17 (was a warning, issue 12 item 14): a listener bound beyond loopback with no
// admin.token is refused when the config loads, naming every such listener and both ways out
// (a token, or admin.openOnNetwork: true); with either it builds. With tls.mode auto, an open
// HTTPS listener says which names its leaf covers. The app is built, never listening: no test
// binds a non-loopback address.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { buildApp } from '../../server/app.js'
import { captureLog, type LogLine } from '../helpers/log-capture.js'
import { testConfig } from '../helpers/proxy.js'

async function startupLog (t: Test, config: Record<string, unknown>): Promise<LogLine[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-open-listener-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const parsed = parseConfig(await testConfig(dataDir, { config }), { env: {}, cwd: dataDir })
  const log = captureLog()
  const app = await buildApp(parsed, { logger: pino({ level: 'info' }, log.stream), env: {} })
  await app.close()
  return log.lines()
}

async function refusal (t: Test, config: Record<string, unknown>): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-open-listener-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const raw = await testConfig(dataDir, { config })
  try {
    parseConfig(raw, { env: {}, cwd: dataDir })
  } catch (err: unknown) {
    return err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : String(err)
  }
  return ''
}

t.test('a non-loopback listener without admin.token is refused, naming it and both fixes', async (t) => {
  const message = await refusal(t, { listen: { http: { host: '0.0.0.0', port: 8080 }, https: { host: 'mirror.corp', port: 8443 } } })
  t.match(message, /^DSM_CONFIG_INVALID /)
  t.match(message, 'listen.http.host: is 0.0.0.0, reachable from other machines, and admin.token is not set')
  t.match(message, 'listen.https.host: is mirror.corp, reachable from other machines')
  t.match(message, /Set admin\.token \(e\.g\. 'openssl rand -hex 32'; DSMIRROR_ADMIN_TOKEN\)/)
  t.match(message, /admin\.openOnNetwork: true \(DSMIRROR_ADMIN_OPENONNETWORK=true\)/)
  t.match(message, /DSMIRROR_LISTEN_HTTPS_HOST=127\.0\.0\.1/)
  const httpOnly = await refusal(t, { listen: { http: { host: '::', port: 8080 }, https: false } })
  t.match(httpOnly, 'listen.http.host: is ::,')
  t.notMatch(httpOnly, 'listen.https', 'a listener that is off is not named')
  t.notMatch(await refusal(t, { tls: { mode: 'off' }, listen: { https: { host: '0.0.0.0', port: 8443 } } }), 'reachable from other machines', 'nor HTTPS with tls.mode off (refused for its own reason)')
})

t.test('a token or the explicit opt-in starts it; loopback needs neither', async (t) => {
  // An open HTTP listener also carries the forward proxy, which needs its own credentials or an
  // explicit opt-out (issue 12; test/unit/config-forward-proxy.test.ts): off here.
  const noForwardProxy = { enabled: false }
  t.equal(await refusal(t, { admin: { token: 'a-long-random-token' }, forwardProxy: noForwardProxy, listen: { http: { host: '0.0.0.0', port: 8080 } } }), '', 'token set')
  t.equal(await refusal(t, { admin: { openOnNetwork: true }, forwardProxy: noForwardProxy, listen: { http: { host: '0.0.0.0', port: 8080 } } }), '', 'admin.openOnNetwork: true')
  t.equal(await refusal(t, { listen: { http: { host: '127.0.0.2', port: 8080 }, https: { host: '::1', port: 8443 } } }), '', 'loopback literals')
  t.equal(await refusal(t, { listen: { http: { host: 'localhost', port: 8080 }, https: { host: '[::1]', port: 8443 } } }), '', 'localhost and bracketed ::1')
  const lines = await startupLog(t, { admin: { openOnNetwork: true }, forwardProxy: noForwardProxy, listen: { http: { host: '0.0.0.0', port: 8080 } } })
  t.same(lines.filter((line) => line.level >= 40 && /admin\.token|reachable/.test(line.msg)), [], 'no warning left for what was accepted explicitly')
})

t.test('tls.mode auto on an open HTTPS listener says which names its leaf covers and how to add one', async (t) => {
  const loopbackNames = await startupLog(t, { admin: { token: 'a-long-random-token' }, listen: { https: { host: '0.0.0.0', port: 8443 } } })
  const warned = loopbackNames.filter((line) => line.level === 40 && /tls\.hostnames/.test(line.msg))
  t.equal(warned.length, 1, 'one warning when the leaf names only loopback')
  t.match(warned[0]?.msg, 'listen.https is open on 0.0.0.0:8443; its certificate (tls.mode auto) names localhost, 127.0.0.1, ::1.')
  t.match(warned[0]?.msg, /add the names they use to tls\.hostnames \(e\.g\. \[localhost, mirror\.corp\]; DSMIRROR_TLS_HOSTNAMES\)/)
  const named = await startupLog(t, { admin: { token: 'a-long-random-token' }, tls: { hostnames: ['localhost', 'mirror.corp'] }, listen: { https: { host: '0.0.0.0', port: 8443 } } })
  t.same(named.filter((line) => line.level === 40 && /tls\.hostnames/.test(line.msg)), [], 'no warning when it names the server')
  t.ok(named.some((line) => line.level === 30 && /names localhost, mirror\.corp/.test(line.msg)), 'an info line with the names')
  const onLoopback = await startupLog(t, { listen: { https: { host: '127.0.0.1', port: 8443 } } })
  t.same(onLoopback.filter((line) => /tls\.hostnames|its certificate/.test(line.msg)), [], 'nothing on loopback')
})
