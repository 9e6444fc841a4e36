// A listener bound to anything but loopback, with no admin.token, is reported at start with a
// warning that says what it means and the fix (issue 12 item 14). The app is built, never
// listening: the warning comes from the config, and no test binds a non-loopback address.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { buildApp } from '../../server/app.js'
import { captureLog, type LogLine } from '../helpers/log-capture.js'
import { testConfig } from '../helpers/proxy.js'

async function startupWarnings (t: Test, config: Record<string, unknown>): Promise<LogLine[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-open-listener-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const parsed = parseConfig(await testConfig(dataDir, { config }), { env: {}, cwd: dataDir })
  const log = captureLog()
  const app = await buildApp(parsed, { logger: pino({ level: 'info' }, log.stream), env: {} })
  await app.close()
  return log.lines().filter((line) => line.level === 40 && /admin\.token/.test(line.msg))
}

t.test('a non-loopback listener without admin.token is warned about, naming it and the fix', async (t) => {
  const warnings = await startupWarnings(t, { listen: { http: { host: '0.0.0.0', port: 8080 }, https: { host: 'mirror.corp', port: 8443 } } })
  t.equal(warnings.length, 1, 'one warning')
  t.same(warnings[0]?.listeners, ['http://0.0.0.0:8080', 'https://mirror.corp:8443'], 'it names every such listener')
  t.match(warnings[0]?.msg, /reachable from other machines/)
  t.match(warnings[0]?.msg, /Set admin\.token/)
  const httpOnly = await startupWarnings(t, { listen: { http: { host: '::', port: 8080 }, https: false } })
  t.same(httpOnly[0]?.listeners, ['http://[::]:8080'], 'a listener that is off is not named')
})

t.test('no warning with admin.token, or on loopback', async (t) => {
  t.same(await startupWarnings(t, { admin: { token: 'a-long-random-token' }, listen: { http: { host: '0.0.0.0', port: 8080 } } }), [], 'token set')
  t.same(await startupWarnings(t, { listen: { http: { host: '127.0.0.2', port: 8080 }, https: { host: '::1', port: 8443 } } }), [], 'loopback literals')
  t.same(await startupWarnings(t, { listen: { http: { host: 'localhost', port: 8080 } } }), [], 'localhost')
})
