// Issue 4 "checksums ... so dsmirror verifies them server-side", with torchvision as the client:
// when the dataset host serves a corrupted cifar-10-python.tar.gz and dsmirror knows the md5
// torchvision checks (config/torchvision-checksums.ts does this for the real URLs; here the test
// host's URL is given in `checksums`), torchvision never receives the complete, wrong archive
// (dsmirror aborts before the last bytes) and nothing is cached; once the host serves the right
// bytes, the docs/clients.md snippet loads CIFAR-10.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { cleanEnv, pythonHas, runPython, skipUnless } from '../helpers/e2e-clients.js'
import { md5Preamble, startDatasetHost } from '../helpers/e2e-dataset-host.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'

const skip = skipUnless(t, await pythonHas('torchvision') ? [] : ['Debian\'s torchvision (apt-get install python3-torchvision)'])

t.test('a corrupted CIFAR-10 archive never reaches torchvision whole: dsmirror\'s md5 check aborts it and caches nothing', { skip }, async (t) => {
  const host = await startDatasetHost(t)
  const { upstream, manifest } = host
  const name = '~kriz/cifar-10-python.tar.gz'
  const good = await readFile(join(host.dir, name))
  const corrupted = Buffer.from(good)
  const middle = Math.floor(corrupted.length / 2)
  corrupted[middle] = (corrupted[middle] ?? 0) ^ 0xff
  upstream.set(`/${name}`, { body: corrupted })

  const pki = await getTestPki()
  const url = `${upstream.origin}/${name}`
  const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] }, checksums: { [url]: `md5:${manifest.files[name]?.md5 ?? ''}` } } })
  t.teardown(() => proxy.close({ remove: true }))
  const work = await mkdtemp(join(tmpdir(), 'dsmirror-e2e-checksum-'))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  const code = md5Preamble(host) + substitute(await docSnippet('docs/clients.md', 'cifar10'), [['http://127.0.0.1:8080', proxy.origin], ['www.cs.toronto.edu', upstream.host]])

  const badDir = await mkdtemp(join(work, 'bad-'))
  const bad = await runPython(code, { cwd: badDir, env: cleanEnv() })
  t.not(bad.code, 0, 'torchvision does not get the dataset')
  // dsmirror holds back the last bytes and aborts the connection. Python's http.client treats
  // an early EOF in read(amt) as the end of the body (no IncompleteRead), so torchvision keeps a
  // short file and its md5 check reports it; what matters is that the file is short.
  const received = await readFile(join(badDir, 'data', 'cifar-10-python.tar.gz')).catch(() => Buffer.alloc(0))
  t.ok(received.length < good.length, `torchvision received ${received.length} of ${good.length} bytes: never the complete, wrong archive`)
  t.equal(upstream.count(`/${name}`, 'GET'), 1)

  upstream.set(`/${name}`, { body: good })
  const fixed = await runPython(code, { cwd: await mkdtemp(join(work, 'good-')), env: cleanEnv() })
  t.equal(fixed.code, 0, 'python exits 0', { stderr: fixed.stderr.slice(-3000) })
  t.match(fixed.stdout, new RegExp(`^CIFAR10 ${manifest.cifar10.train} ${manifest.cifar10.test}$`, 'm'))
  t.equal(upstream.count(`/${name}`, 'GET'), 2, 'the corrupted body was not cached: the good one was fetched')
})
