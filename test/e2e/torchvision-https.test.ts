// Issue 4, HTTPS: the MNIST snippet of docs/clients.md (e2e:mnist-https) over dsmirror's HTTPS listener,
// whose certificate comes from dsmirror's local CA. Without any trust setting Debian's python
// refuses it; with only the `dsmirror trust env` variables set, and (as root, on Debian) after
// `dsmirror trust install` with no variables at all, torchvision loads the dataset with no flag in
// the client. The dataset host behind dsmirror still uses the untrusted "corporate" root.
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { executable, pythonHas, run, type Run, skipUnless, freshPythonRuns } from '../helpers/e2e-clients.js'
import { md5Preamble, startDatasetHost } from '../helpers/e2e-dataset-host.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { holdTrustStore } from '../helpers/e2e-trust-lock.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, testConfig } from '../helpers/proxy.js'

const BIN = fileURLToPath(new URL('../../bin/dsmirror.js', import.meta.url))
const missing: string[] = []
if (!await pythonHas('torchvision')) missing.push('Debian\'s torchvision (apt-get install python3-torchvision)')
// bin/dsmirror.js loads the built CLI; `npm test` builds it first.
if (!await access(fileURLToPath(new URL('../../dist/server/cli/cli.js', import.meta.url))).then(() => true, () => false)) missing.push('the CLI is not built (npm run build)')
const skip = skipUnless(t, missing)

t.test('torchvision over dsmirror\'s HTTPS listener', { skip }, async (t) => {
  const host = await startDatasetHost(t)
  const { upstream, manifest } = host
  const pki = await getTestPki()
  const options = { https: true, allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] } } }
  const proxy = await startProxy(options)
  t.teardown(() => proxy.close({ remove: true }))
  const port = proxy.httpsOrigin === undefined ? '' : new URL(proxy.httpsOrigin).port
  const configFile = join(proxy.dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify(await testConfig(proxy.dataDir, options)))
  const python = await freshPythonRuns(t, 'dsmirror-e2e-https-')
  const code = md5Preamble(host) + substitute(await docSnippet('docs/clients.md', 'mnist-https'), [['https://localhost:8443', `https://localhost:${port}`], ['ossci-datasets.s3.amazonaws.com', upstream.host]])
  const mnist = async (extraEnv: Record<string, string> = {}): Promise<Run> => await python(code, extraEnv)
  const expected = new RegExp(`^MNIST ${manifest.mnist.train}$`, 'm')

  await t.test('with no trust setting python refuses the local CA', async (t) => {
    const r = await mnist()
    t.not(r.code, 0)
    t.match(r.stdout, /CERTIFICATE_VERIFY_FAILED/)
  })

  await t.test('with only the `dsmirror trust env` variables set', async (t) => {
    const printed = await run(process.execPath, [BIN, 'trust', 'env', '--config', configFile])
    t.equal(printed.code, 0, 'trust env exits 0', { stderr: printed.stderr })
    const vars = Object.fromEntries([...printed.stdout.matchAll(/^export ([A-Z_]+)='([^']*)'$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']))
    t.ok('SSL_CERT_FILE' in vars, 'trust env sets SSL_CERT_FILE')
    const r = await mnist(vars)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, expected)
  })

  const rootMissing: string[] = []
  if (process.getuid?.() !== 0) rootMissing.push('not running as root')
  if (!await executable('/usr/sbin/update-ca-certificates')) rootMissing.push('update-ca-certificates (apt-get install ca-certificates)')
  await t.test('after `dsmirror trust install`, with no variables', { skip: skipUnless(t, rootMissing) }, async (t) => {
    const ca = await readLocalCaCertificate(proxy.dataDir)
    if (ca === null) throw new Error('the HTTPS listener made no local CA')
    await holdTrustStore(t, { certPem: ca.certPem, certFile: ca.paths.certFile })
    const install = await run(process.execPath, [BIN, 'trust', 'install', '--config', configFile])
    t.equal(install.code, 0, 'trust install exits 0', { stderr: install.stderr })
    const r = await mnist()
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, expected)
  })

  t.equal(upstream.count('/mnist/train-images-idx3-ubyte.gz'), 1, 'the dataset left the host once')
})
