// Issue 10 item 6: an error that is not one of dsmirror's own (a TypeError in a route, a framework
// or fs error with its own code) reaches the client, whatever its 5xx status, as a stable
// DSM_INTERNAL_ERROR with the reqId and a generic message; its code and message, which may name
// server files, are only in the log. The routes that throw are added for the test; everything
// else is the app as built for `dsmirror serve`.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import pino from 'pino'
import { parseConfig } from '../../config/load-config.js'
import { buildApp } from '../../server/app.js'
import { request } from '../helpers/http-client.js'
import { captureLog } from '../helpers/log-capture.js'
import { testConfig } from '../helpers/proxy.js'

const SECRET = '/srv/dsmirror-secret/cache'

function failure (message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields)
}

t.test('non-DSM 5xx errors reach clients as DSM_INTERNAL_ERROR with the reqId, details in the log only', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-internal-'))
  const config = parseConfig(await testConfig(dataDir, { config: { log: { level: 'info' } } }), { env: {}, cwd: dataDir })
  const log = captureLog()
  const app = await buildApp(config, { logger: pino({ level: 'info' }, log.stream), env: {} })
  t.teardown(async () => { await app.close(); await rm(dataDir, { recursive: true, force: true }) })
  app.get('/_/test/type-error', async () => (undefined as unknown as { size: number }).size)
  app.get('/_/test/unavailable', async () => { throw failure(`pool at ${SECRET} exhausted`, { statusCode: 503, code: 'FST_ERR_TEST_UNAVAILABLE' }) })
  app.get('/_/test/bad-gateway', async () => { throw failure(`socket to ${SECRET} reset`, { statusCode: 502, code: 'ECONNRESET' }) })
  app.get('/_/test/fs', async () => { throw failure(`ENOENT: no such file or directory, open '${SECRET}/x.json'`, { code: 'ENOENT', errno: -2 }) })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  for (const [path, status, detail] of [
    ['/_/test/type-error', 500, 'Cannot read properties of undefined'],
    ['/_/test/unavailable', 503, SECRET],
    ['/_/test/bad-gateway', 502, SECRET],
    ['/_/test/fs', 500, SECRET]
  ] as Array<[string, number, string]>) {
    const res = await request(`${origin}${path}`)
    t.equal(res.status, status, `${path}: the status is kept`)
    const body = JSON.parse(res.body.toString()) as { statusCode: number, code: string, error: string }
    t.equal(body.code, 'DSM_INTERNAL_ERROR', `${path}: a stable code, not the error's own`)
    t.equal(body.statusCode, status)
    const line = log.lines().find((l) => l.msg === 'request failed' && l.reqId !== undefined && body.error.includes(String(l.reqId)))
    t.ok(line, `${path}: the message names the reqId of a log line`)
    t.notMatch(res.body.toString(), detail, `${path}: the body has none of the error's details`)
    t.notMatch(res.body.toString(), /FST_ERR_TEST|ECONNRESET|ENOENT/, `${path}: nor its code`)
    t.equal(res.headers['cache-status'], 'dsmirror; detail=DSM_INTERNAL_ERROR', `${path}: Cache-Status`)
    t.match(JSON.stringify(line), detail, `${path}: the log has the details`)
  }

  const status = await request(`${origin}/_/api/status`)
  t.notMatch(status.body.toString(), SECRET, 'the status page shows no details either')
  t.notMatch(status.body.toString(), /FST_ERR_TEST|ECONNRESET/, 'nor the codes')
})
