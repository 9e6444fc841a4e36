// Issue 12 item 5: a client learns the interception CA from `/_/proxy-ca.pem` (404 with the fix
// when the mode is off) and its variables from `dsmirror trust env --proxy`: both cases of the
// proxy variables (curl and wget read only lower-case https_proxy), NO_PROXY, and each client's
// CA variable pointing at one bundle holding the OS roots, the local CA and the interception CA.
// With proxy credentials the URL names $DSMIRROR_PROXY_PASSWORD, never the password itself.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { childEnv } from '../helpers/child-env.js'
import { runDsmirror } from '../helpers/cli.js'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'

t.test('/_/proxy-ca.pem serves the interception CA; 404 when the mode is off', async (t) => {
  const proxy = await startProxy({ allowHosts: ['data.example'], config: { forwardProxy: { enabled: true } } })
  t.teardown(() => proxy.close({ remove: true }))
  const res = await request(`${proxy.origin}/_/proxy-ca.pem`)
  t.equal(res.status, 200)
  t.equal(res.headers['content-type'], 'application/x-pem-file')
  const cert = new X509Certificate(res.body)
  t.equal(cert.fingerprint256, proxy.app.dsmirror.forwardProxy?.ca.cert.fingerprint256, 'the interception CA')
  t.notMatch(res.body.toString(), 'PRIVATE KEY')

  const off = await startProxy({ config: { forwardProxy: { enabled: false } } })
  t.teardown(() => off.close({ remove: true }))
  const missing = await request(`${off.origin}/_/proxy-ca.pem`)
  t.equal(missing.status, 404)
  t.match(missing.body.toString(), 'forwardProxy.enabled')
})

async function evalSh (stdout: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const env = childEnv(extra)
  return await new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', `${stdout}\nenv`], { env }, (err, out) => {
      if (err !== null) { reject(err); return }
      resolve(Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])))
    })
  })
}

t.test('trust env --proxy: both cases, NO_PROXY, CA variables; credentials by reference', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-trust-env-proxy-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'config.json')
  await writeFile(configFile, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: { host: '127.0.0.1', port: 8123 } }, allowHosts: ['data.example'] }))
  const run = await runDsmirror(['trust', 'env', '--proxy', '--config', configFile])
  t.equal(run.code, 0, run.stderr)
  const env = await evalSh(run.stdout)
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) t.equal(env[name], 'http://127.0.0.1:8123', name)
  t.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1,169.254.169.254')
  t.equal(env.no_proxy, env.NO_PROXY)
  const bundlePath = join(dir, 'data', 'trust-bundle.pem')
  for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'PIP_CERT']) t.equal(env[name], bundlePath, name)
  t.equal(env.HF_HUB_DISABLE_XET, '1')
  const bundle = await readFile(bundlePath, 'utf8')
  const proxyCa = await readFile(join(dir, 'data', 'interception-ca', 'ca.pem'), 'utf8')
  const localCa = await readFile(join(dir, 'data', 'ca', 'ca.pem'), 'utf8')
  t.ok(bundle.includes(new X509Certificate(proxyCa).toString()), 'the bundle holds the interception CA')
  t.ok(bundle.includes(new X509Certificate(localCa).toString()), 'and the local CA')
  t.match(run.stderr, 'wget and aria2c ignore these CA variables')

  await writeFile(configFile, JSON.stringify({ dataDir: join(dir, 'data'), listen: { http: { host: '0.0.0.0', port: 8123 } }, allowHosts: ['data.example'], forwardProxy: { auth: { users: { alice: 'hunter2' } } }, admin: { token: 'admin-token-for-the-test' } }))
  const authRun = await runDsmirror(['trust', 'env', '--proxy', '--proxy-url', 'http://mirror.corp:8123', '--config', configFile])
  t.equal(authRun.code, 0, authRun.stderr)
  t.equal((await evalSh(authRun.stdout)).https_proxy, 'http://mirror.corp:8123', '--proxy-url as given')
  const byName = await runDsmirror(['trust', 'env', '--proxy', '--config', configFile])
  t.notMatch(byName.stdout, 'hunter2', 'the password is never printed')
  t.match(byName.stdout, /export https_proxy="http:\/\/alice:\$\{DSMIRROR_PROXY_PASSWORD\}@[^"]+:8123"/)
  const expanded = await evalSh(byName.stdout, { DSMIRROR_PROXY_PASSWORD: 'hunter2' })
  t.match(expanded.https_proxy, /^http:\/\/alice:hunter2@.+:8123$/, 'the shell fills the password in')
  t.match(byName.stderr, 'set DSMIRROR_PROXY_PASSWORD first')
})
