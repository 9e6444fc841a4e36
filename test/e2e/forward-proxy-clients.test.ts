// Issue 12 "Show", real clients through the forward proxy with nothing but environment variables
// (and wget/aria2c's --ca-certificate, which ignore CA variables): curl, wget, aria2c, Python
// urllib, requests and Node (undici ProxyAgent). Each fetches an https URL of a dataset host that
// dsmirror's resolver sends to a loopback stand-in; the file reaches the upstream once, a second
// run is served from cache, and the mirror form then hits the same entry. Then the name
// constraint: a leaf for a name outside allowHosts, signed with the interception CA's own key
// (made by the test), is rejected by every one of them.
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { issueLeaf } from '../../certs/local-ca.js'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { cleanEnv, executable, pythonHas, run, runPython, skipUnless } from '../helpers/e2e-clients.js'
import { request } from '../helpers/http-client.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { createTestResolver } from '../helpers/test-resolver.js'
import { startUpstream } from '../helpers/upstream.js'

// A short, sendable name: clients put it in CONNECT only (a proxied client never resolves it),
// and dsmirror resolves it through the test resolver, never DNS.
const HOST = 'data.dsmirror-e2e.test'
const work = await mkdtemp(join(tmpdir(), 'dsmirror-e2e-fp-'))
t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
const upstream = await startUpstream({ tls: await issueTestLeaf({ names: [HOST] }) })
t.teardown(() => upstream.close())
const resolver = createTestResolver({ [HOST]: ['127.0.0.1'] })
const proxy = await startProxy({
  allowHosts: [`${HOST}:${upstream.port}`],
  config: { forwardProxy: { enabled: true }, upstream: { allowAddresses: ['127.0.0.1/32'] } },
  lookup: resolver.lookup
})
t.teardown(() => proxy.close({ remove: true }))
const caFile = join(proxy.dataDir, 'interception-ca', 'ca.pem')
const proxyUrl = proxy.origin
/** Only the variables under test: no OS bundle, no other proxy. */
const env = (extra: Record<string, string> = {}): Record<string, string> => cleanEnv({ https_proxy: proxyUrl, HTTPS_PROXY: proxyUrl, no_proxy: '', NO_PROXY: '', ...extra })

const clients: Array<{ name: string, available: () => Promise<string[]>, fetch: (url: string, out: string) => Promise<{ code: number, stderr: string }> }> = [
  { name: 'curl', available: async () => await executable('/usr/bin/curl') ? [] : ['curl'], fetch: async (url, out) => await run('/usr/bin/curl', ['-fsS', '-o', out, url], { env: env({ CURL_CA_BUNDLE: caFile }) }) },
  { name: 'wget', available: async () => await executable('/usr/bin/wget') ? [] : ['wget'], fetch: async (url, out) => await run('/usr/bin/wget', ['-q', `--ca-certificate=${caFile}`, '-O', out, url], { env: env() }) },
  { name: 'aria2c', available: async () => await executable('/usr/bin/aria2c') ? [] : ['aria2c'], fetch: async (url, out) => await run('/usr/bin/aria2c', ['-q', '--allow-overwrite=true', `--ca-certificate=${caFile}`, '-d', join(out, '..'), '-o', out.split('/').pop() ?? '', url], { env: env() }) },
  { name: 'python urllib', available: async () => await pythonHas('urllib.request') ? [] : ['python3'], fetch: async (url, out) => await runPython(`import urllib.request\nurllib.request.urlretrieve(${JSON.stringify(url)}, ${JSON.stringify(out)})`, { env: env({ SSL_CERT_FILE: caFile }) }) },
  { name: 'python requests', available: async () => await pythonHas('requests') ? [] : ['python3-requests'], fetch: async (url, out) => await runPython(`import requests\nr = requests.get(${JSON.stringify(url)})\nr.raise_for_status()\nopen(${JSON.stringify(out)}, 'wb').write(r.content)`, { env: env({ REQUESTS_CA_BUNDLE: caFile }) }) },
  {
    name: 'node undici ProxyAgent',
    available: async () => [],
    fetch: async (url, out) => await run(process.execPath, ['--input-type=module', '-e', `import { ProxyAgent, request } from 'undici'; import { writeFileSync } from 'node:fs'
const res = await request(${JSON.stringify(url)}, { dispatcher: new ProxyAgent(process.env.HTTPS_PROXY) })
if (res.statusCode !== 200) process.exit(2)
writeFileSync(${JSON.stringify(out)}, Buffer.from(await res.body.arrayBuffer()))`], { env: env({ NODE_EXTRA_CA_CERTS: caFile }), cwd: process.cwd() })
  }
]

let seed = 100
for (const client of clients) {
  const missing = await client.available()
  t.test(`${client.name}: through the proxy once, then from cache, then the mirror form hits`, { skip: skipUnless(t, missing) }, async (t) => {
    const body = makeBytes(512 * 1024 + seed, seed++)
    const path = `/files/${client.name.replace(/\W+/g, '-')}.bin`
    upstream.set(path, { body })
    const url = `https://${HOST}:${upstream.port}${path}`
    for (const attempt of [1, 2]) {
      const out = join(work, `${client.name.replace(/\W+/g, '-')}-${attempt}.bin`)
      const result = await client.fetch(url, out)
      t.equal(result.code, 0, `${client.name} run ${attempt} exits 0`, { stderr: result.stderr })
      t.equal(sha256(await readFile(out)), sha256(body), `run ${attempt}: sha256-identical`)
    }
    await proxy.idle()
    const mirror = await request(proxy.mirrorUrl(`${HOST}:${upstream.port}`, path))
    t.match(mirror.headers['cache-status'], /; hit/, 'the mirror form hits the entry')
    t.equal(upstream.count(path, 'GET'), 1, 'the file reached the upstream once')
  })
}

t.test('the name constraint holds in every client: a leaf for another name from the interception CA is rejected', async (t) => {
  // The CA's own key signs a leaf for localhost (which /etc/hosts resolves without DNS), a name
  // outside allowHosts; a server presents it directly, and each client trusts only the CA.
  const caPem = await readFile(caFile, 'utf8')
  const keyPem = await readFile(join(proxy.dataDir, 'interception-ca', 'ca-key.pem'), 'utf8')
  const leaf = await issueLeaf({ issuer: { certPem: caPem, keyPem }, names: ['localhost'], lifetimeMs: 24 * 3600 * 1000 })
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => { res.end('must not be read') })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => { resolve() }) }))
  const url = `https://localhost:${(server.address() as { port: number }).port}/x`
  const direct = cleanEnv({ no_proxy: '*', NO_PROXY: '*' })
  const out = join(work, 'refused.bin')
  const cases: Array<[string, string[], () => Promise<{ code: number, stdout: string, stderr: string }>, RegExp]> = [
    ['curl', await executable('/usr/bin/curl') ? [] : ['curl'], async () => await run('/usr/bin/curl', ['-sS', '-o', out, url], { env: { ...direct, CURL_CA_BUNDLE: caFile } }), /subtree|certificate/i],
    ['wget', await executable('/usr/bin/wget') ? [] : ['wget'], async () => await run('/usr/bin/wget', ['-O', out, `--ca-certificate=${caFile}`, url], { env: direct }), /not trusted|certificate/i],
    ['aria2c', await executable('/usr/bin/aria2c') ? [] : ['aria2c'], async () => await run('/usr/bin/aria2c', [`--ca-certificate=${caFile}`, '-d', work, '-o', 'refused-aria.bin', url], { env: direct }), /handshake|certificate|TLS/i],
    ['python', await pythonHas('ssl') ? [] : ['python3'], async () => await runPython(`import urllib.request\nurllib.request.urlopen(${JSON.stringify(url)})`, { env: { ...direct, SSL_CERT_FILE: caFile } }), /subtree/i],
    ['node', [], async () => await run(process.execPath, ['-e', `require('https').get(${JSON.stringify(url)}, () => process.exit(0)).on('error', (e) => { console.error(e.message); process.exit(3) })`], { env: { ...direct, NODE_EXTRA_CA_CERTS: caFile } }), /subtree/i]
  ]
  for (const [name, missing, attempt, why] of cases) {
    if (missing.length > 0) {
      t.comment(`${name}: skipped, missing ${missing.join(', ')}`)
      continue
    }
    const result = await attempt()
    t.not(result.code, 0, `${name} refuses the leaf`)
    t.match(result.stderr + result.stdout, why, `${name}: because of the certificate`)
  }
})
