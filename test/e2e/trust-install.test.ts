// The real thing (issue 3 "Show"), on a Debian machine as root: `dsmirror trust install` puts the
// local CA into the OS store, and then curl and Python's urllib (default context) fetch
// https://localhost:<port>/_/healthz from dsmirror's HTTPS listener with no flags;
// `trust uninstall` makes them fail again; the `trust env` lines make requests (and Node) trust
// it without the OS store. Every client runs with SSL_CERT_FILE, CURL_CA_BUNDLE,
// REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS (and SSL_CERT_DIR) unset: this shell sets them to the
// OS bundle, which would hide what the OS store itself does.
//
// Prerequisites: uid 0, update-ca-certificates, curl, /usr/bin/python3 (+ python3-requests for
// the env part), and a built CLI (npm test builds it). Missing ones skip with the reason, except
// under CI=true, where a missing prerequisite is a failure. The CA is always uninstalled in teardown.
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { uninstallCa } from '../../certs/trust-store.js'
import { CI, cleanEnv, executable, PYTHON, type Run, run } from '../helpers/e2e-clients.js'
import { holdTrustStore } from '../helpers/e2e-trust-lock.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy, testConfig } from '../helpers/proxy.js'
import { createTestResolver } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

const BIN = fileURLToPath(new URL('../../bin/dsmirror.js', import.meta.url))

async function missingPrerequisites (): Promise<string[]> {
  const missing: string[] = []
  if (process.getuid?.() !== 0) missing.push('not running as root (id -u is not 0)')
  if (!await executable('/usr/sbin/update-ca-certificates')) missing.push('update-ca-certificates is not installed (apt-get install ca-certificates)')
  if (!await executable('/usr/bin/curl')) missing.push('curl is not installed')
  if (!await executable(PYTHON)) missing.push(`${PYTHON} is not installed`)
  if (!await exists(fileURLToPath(new URL('../../dist/server/cli/cli.js', import.meta.url)))) missing.push('the CLI is not built (npm run build)')
  return missing
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

const missing = await missingPrerequisites()
if (missing.length > 0 && CI) t.fail(`prerequisites missing under CI: ${missing.join('; ')}`)
const skip = missing.length > 0 ? `needs a root Debian machine: ${missing.join('; ')}` : false
// Two tests that each run update-ca-certificates four times: on the 2 shared cores that took up to
// 110 s apiece, past .taprc's 180 s for a file.
t.setTimeout(420_000)

t.test('trust install, then curl and urllib trust the HTTPS listener; uninstall undoes it; trust env for requests', { skip }, async (t) => {
  const proxy = await startProxy({ https: true })
  t.teardown(() => proxy.close({ remove: true }))
  const port = proxy.https?.url === undefined ? 0 : new URL(proxy.https.url).port
  t.ok(Number(port) > 0, 'the HTTPS listener runs')
  const url = `https://localhost:${port}/_/healthz`
  const configFile = join(proxy.dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify(await testConfig(proxy.dataDir, { https: true })))
  const ca = await readLocalCaCertificate(proxy.dataDir)
  if (ca === null) throw new Error('the HTTPS listener made no local CA')
  // Other e2e files install CAs too; update-ca-certificates must not run twice at once.
  await holdTrustStore(t, { certPem: ca.certPem, certFile: ca.paths.certFile })

  const curl = async (): Promise<Run> => await run('/usr/bin/curl', ['--silent', '--show-error', '--fail', '--noproxy', '*', url])
  const urllib = async (): Promise<Run> => await run(PYTHON, ['-c', `import urllib.request; print(urllib.request.urlopen(${JSON.stringify(url)}).read().decode())`])

  const curlBefore = await curl()
  t.equal(curlBefore.code, 60, 'before install curl refuses the certificate (exit 60)')
  t.match(curlBefore.stderr, /SSL certificate problem: unable to get local issuer certificate|self-signed certificate/)
  const pythonBefore = await urllib()
  t.not(pythonBefore.code, 0)
  t.match(pythonBefore.stderr, /CERTIFICATE_VERIFY_FAILED/)

  const install = await run(process.execPath, [BIN, 'trust', 'install', '--config', configFile])
  t.equal(install.code, 0, install.stderr)
  t.match(install.stdout, /Installed: the dsmirror local CA is in the Debian GNU\/Linux .* trust store\./)
  t.match(install.stdout, /file: \/usr\/local\/share\/ca-certificates\/dsmirror-[0-9a-f]{8}\.crt \(then ran update-ca-certificates\)/)

  const curlAfter = await curl()
  t.equal(curlAfter.code, 0, `curl with no flags: ${curlAfter.stderr}`)
  t.match(curlAfter.stdout, /"status":"ok"/)
  const pythonAfter = await urllib()
  t.equal(pythonAfter.code, 0, `urllib with the default context: ${pythonAfter.stderr}`)
  t.match(pythonAfter.stdout, /"status":"ok"/)

  const uninstall = await run(process.execPath, [BIN, 'trust', 'uninstall', '--config', configFile])
  t.equal(uninstall.code, 0, uninstall.stderr)
  t.match(uninstall.stdout, /Removed \/usr\/local\/share\/ca-certificates\/dsmirror-[0-9a-f]{8}\.crt from the Debian/)
  t.equal((await curl()).code, 60, 'after uninstall curl refuses it again')
  t.match((await urllib()).stderr, /CERTIFICATE_VERIFY_FAILED/, 'and so does urllib')

  // trust env, with the CA not in the OS store: the printed lines alone make clients trust it.
  const env = await run(process.execPath, [BIN, 'trust', 'env', '--config', configFile])
  t.equal(env.code, 0, env.stderr)
  t.match(env.stdout, /^export SSL_CERT_FILE='.*trust-bundle\.pem'$/m)
  t.match(env.stdout, /^export NODE_EXTRA_CA_CERTS='.*trust-bundle\.pem'$/m)
  const hasRequests = (await run(PYTHON, ['-c', 'import requests'])).code === 0
  const node = `fetch(${JSON.stringify(url)}).then(async (r) => console.log(await r.text()))`
  const withEnv = await run('/bin/sh', ['-c', `${env.stdout}\n/usr/bin/curl --silent --fail --noproxy '*' ${url} && ${JSON.stringify(process.execPath)} -e '${node}'`])
  t.equal(withEnv.code, 0, `curl and Node with the trust env lines: ${withEnv.stderr}`)
  t.match(withEnv.stdout, /"status":"ok"[\s\S]*"status":"ok"/)
  if (!hasRequests && CI) t.fail('python3-requests is missing under CI (apt-get install python3-requests)')
  await t.test('requests trusts it through the trust env lines', { skip: hasRequests ? false : 'python3-requests is not installed' }, async (t) => {
    const requestsRun = await run('/bin/sh', ['-c', `${env.stdout}\n${PYTHON} -c 'import requests; print(requests.get(${JSON.stringify(url)}).text)'`])
    t.equal(requestsRun.code, 0, `requests with the trust env lines: ${requestsRun.stderr}`)
    t.match(requestsRun.stdout, /"status":"ok"/)
    const requestsWithout = await run(PYTHON, ['-c', `import requests; requests.get(${JSON.stringify(url)})`])
    t.not(requestsWithout.code, 0, 'without them requests refuses the certificate')
    t.match(requestsWithout.stderr, /CERTIFICATE_VERIFY_FAILED/)
  })
})

// Issue 12 item 5: with forwardProxy.enabled, `trust install` puts the interception CA beside the
// local CA, so curl with nothing but https_proxy trusts the leaves the running proxy mints (the
// installed CA must be the one that proxy signs with, whatever huggingface/mirrors add to the
// intercepted names); `trust uninstall` removes it again.
t.test('trust install with the forward proxy on: curl with only https_proxy trusts the minted leaf; uninstall undoes it', { skip }, async (t) => {
  const host = 'data.dsmirror-e2e.test'
  const upstream = await startUpstream({ tls: await issueTestLeaf({ names: [host] }) })
  t.teardown(() => upstream.close())
  upstream.set('/files/a.bin', { body: Buffer.from('through the intercepting proxy\n') })
  const options = {
    https: true,
    allowHosts: [`${host}:${upstream.port}`],
    config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'] } },
    lookup: createTestResolver({ [host]: ['127.0.0.1'] }).lookup
  }
  const proxy = await startProxy(options)
  t.teardown(() => proxy.close({ remove: true }))
  const configFile = join(proxy.dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify(await testConfig(proxy.dataDir, options)))
  const ca = await readLocalCaCertificate(proxy.dataDir)
  const proxyCa = proxy.app.dsmirror.forwardProxy?.ca
  if (ca === null || proxyCa === undefined) throw new Error('no local CA or no forward proxy')
  await holdTrustStore(t, { certPem: ca.certPem, certFile: ca.paths.certFile })
  // Registered after the lock, so it runs before the lock is released: the store is left as found.
  t.teardown(async () => { await uninstallCa(proxyCa.certPem, join(proxy.dataDir, 'interception-ca', 'ca.pem')) })

  const url = `https://${host}:${upstream.port}/files/a.bin`
  const curl = async (): Promise<Run> => await run('/usr/bin/curl', ['--silent', '--show-error', '--fail', url], { env: cleanEnv({ https_proxy: proxy.origin, no_proxy: '' }) })
  const before = await curl()
  t.equal(before.code, 60, `before install curl refuses the minted leaf (exit 60): ${before.stderr}`)

  const install = await run(process.execPath, [BIN, 'trust', 'install', '--config', configFile])
  t.equal(install.code, 0, install.stderr)
  t.match(install.stdout, /Installed beside it: the interception CA of the forward proxy \(SHA-256 [0-9A-F:]+\), name-constrained to allowHosts, in \/usr\/local\/share\/ca-certificates\/dsmirror-[0-9a-f]{8}\.crt\./)
  t.ok(install.stdout.includes(proxyCa.cert.fingerprint256), 'the CA installed is the one the running proxy signs with')
  const after = await curl()
  t.equal(after.code, 0, `curl with only https_proxy: ${after.stderr}`)
  t.equal(after.stdout, 'through the intercepting proxy\n')

  const uninstall = await run(process.execPath, [BIN, 'trust', 'uninstall', '--config', configFile])
  t.equal(uninstall.code, 0, uninstall.stderr)
  t.match(uninstall.stdout, /Removed the interception CA: \/usr\/local\/share\/ca-certificates\/dsmirror-[0-9a-f]{8}\.crt/)
  t.equal((await curl()).code, 60, 'after uninstall curl refuses the minted leaf again')
  t.equal(upstream.count('/files/a.bin', 'GET'), 1, 'the one successful fetch reached the upstream')
})
