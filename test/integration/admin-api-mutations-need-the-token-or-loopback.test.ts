// Admin API mutations: with admin.token set, only `Authorization: Bearer <token>` passes (401
// DSM_ADMIN_UNAUTHORIZED without one, 403 DSM_ADMIN_FORBIDDEN with a wrong one), from loopback or
// not; without a token, only loopback peers pass. Reads are open. Every request here comes from
// 127.0.0.1: the non-loopback column injects the app's loopback decision (AppDeps.isLoopback),
// whose own answers for real addresses are unit-tested in test/unit/loopback.test.ts.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { buildApp } from '../../server/app.js'
import { request } from '../helpers/http-client.js'
import { testConfig } from '../helpers/proxy.js'

const TOKEN = 'f3a9c1d07be24e6a8b5d2c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a'
const NO_SUCH_KEY = '0'.repeat(64)

interface AdminProxy {
  origin: string
  /** Every remote address the loopback decision was asked about. */
  asked: Array<string | undefined>
  /** Every log line the proxy wrote. */
  logs: () => string
}

async function startAdminProxy (t: Test, opts: { token: string | null; loopback: 'real' | 'no' }): Promise<AdminProxy> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-admin-auth-'))
  const config = parseConfig(await testConfig(dataDir, { config: { admin: { token: opts.token }, log: { level: 'info' } } }), { env: {}, cwd: dataDir })
  let logs = ''
  const logger = pino({ level: 'info' }, { write: (line: string) => { logs += line } })
  const asked: Array<string | undefined> = []
  const app = await buildApp(config, {
    logger,
    env: {},
    ...(opts.loopback === 'no' ? { isLoopback: (address: string | undefined) => { asked.push(address); return false } } : {})
  })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close(); await rm(dataDir, { recursive: true, force: true }) })
  return { origin, asked, logs: () => logs }
}

async function deleteEntry (origin: string, authorization?: string): Promise<{ status: number; code: string; headers: Record<string, unknown> }> {
  const res = await request(`${origin}/_/api/entries/${NO_SUCH_KEY}`, {
    method: 'DELETE',
    ...(authorization !== undefined ? { headers: { authorization } } : {})
  })
  return { status: res.status, code: (JSON.parse(res.body.toString()) as { code: string }).code, headers: res.headers }
}

// An accepted mutation reaches the route: an unknown key is 404 DSM_ADMIN_NOT_FOUND.
const ACCEPTED = { status: 404, code: 'DSM_ADMIN_NOT_FOUND' }
const UNAUTHORIZED = { status: 401, code: 'DSM_ADMIN_UNAUTHORIZED' }
const FORBIDDEN = { status: 403, code: 'DSM_ADMIN_FORBIDDEN' }

t.test('admin.token set: right token passes, wrong is 403, missing is 401, from loopback or not', async (t) => {
  const matrix: Array<{ loopback: 'real' | 'no'; authorization: string | undefined; expect: { status: number; code: string }; name: string }> = [
    { loopback: 'real', authorization: `Bearer ${TOKEN}`, expect: ACCEPTED, name: 'right token, loopback' },
    { loopback: 'no', authorization: `Bearer ${TOKEN}`, expect: ACCEPTED, name: 'right token, not loopback' },
    { loopback: 'real', authorization: `bearer  ${TOKEN}`, expect: ACCEPTED, name: 'scheme is case-insensitive' },
    { loopback: 'real', authorization: 'Bearer wrong-token', expect: FORBIDDEN, name: 'wrong token, loopback' },
    { loopback: 'no', authorization: 'Bearer wrong-token', expect: FORBIDDEN, name: 'wrong token, not loopback' },
    { loopback: 'real', authorization: `Bearer ${TOKEN}x`, expect: FORBIDDEN, name: 'token with a suffix, loopback' },
    { loopback: 'real', authorization: undefined, expect: UNAUTHORIZED, name: 'missing token, loopback' },
    { loopback: 'no', authorization: undefined, expect: UNAUTHORIZED, name: 'missing token, not loopback' },
    { loopback: 'real', authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, expect: UNAUTHORIZED, name: 'another scheme, loopback' }
  ]
  const real = await startAdminProxy(t, { token: TOKEN, loopback: 'real' })
  const remote = await startAdminProxy(t, { token: TOKEN, loopback: 'no' })
  for (const cell of matrix) {
    const res = await deleteEntry(cell.loopback === 'real' ? real.origin : remote.origin, cell.authorization)
    t.same({ status: res.status, code: res.code }, cell.expect, cell.name)
    if (res.status === 401) t.equal(res.headers['www-authenticate'], 'Bearer realm="dsmirror"', `${cell.name}: says which scheme`)
  }
  t.ok(remote.asked.length > 0 && remote.asked.every((a) => a === '127.0.0.1'), 'the decision is asked about the socket address')
  for (const proxy of [real, remote]) t.notMatch(proxy.logs(), TOKEN, 'the token is never logged')
  t.match(real.logs(), /DSM_ADMIN_FORBIDDEN/, 'refusals are logged with their code')
})

t.test('no admin.token: loopback passes, anything else is 403, whatever it sends', async (t) => {
  const real = await startAdminProxy(t, { token: null, loopback: 'real' })
  const remote = await startAdminProxy(t, { token: null, loopback: 'no' })
  t.same(await deleteEntry(real.origin).then(({ status, code }) => ({ status, code })), ACCEPTED, 'loopback (127.0.0.1, the real decision)')
  t.same(await deleteEntry(real.origin, 'Bearer anything').then(({ status, code }) => ({ status, code })), ACCEPTED, 'loopback with a bearer token')
  t.same(await deleteEntry(remote.origin).then(({ status, code }) => ({ status, code })), FORBIDDEN, 'not loopback')
  t.same(await deleteEntry(remote.origin, 'Bearer anything').then(({ status, code }) => ({ status, code })), FORBIDDEN, 'not loopback, with a bearer token')
  const refused = await request(`${remote.origin}/_/api/prefetch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"urls":["/x/y"]}') })
  t.equal(refused.status, 403, 'prefetch is a mutation too')
  t.match(JSON.parse(refused.body.toString()), { code: 'DSM_ADMIN_FORBIDDEN', error: /admin\.token is not set/ })
})

t.test('reads need no token, from anywhere', async (t) => {
  const remote = await startAdminProxy(t, { token: TOKEN, loopback: 'no' })
  for (const path of ['/_/api/entries', '/_/api/downloads']) {
    const res = await request(`${remote.origin}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.headers['cache-control'], 'no-store', `${path}: never stored`)
  }
})
