// Issue 4, the docs/clients.md table's `split_list` and `_URL` rows: Debian's torchvision (0.14) loads
// SVHN (split_list, a .mat read with scipy) and DTD (_URL, a tar.gz it extracts) through dsmirror
// over loopback HTTP, from a dataset host whose certificate chains to a root no client trusts.
// The docs/clients.md snippets run verbatim with the URLs substituted; each file leaves the host once and
// reaches torchvision byte-identical.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { pythonHas, skipUnless, freshPythonRuns } from '../helpers/e2e-clients.js'
import { md5Preamble, startDatasetHost } from '../helpers/e2e-dataset-host.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'

const missing: string[] = []
if (!await pythonHas('torchvision')) missing.push('Debian\'s torchvision (apt-get install python3-torchvision; it imports only with /usr/bin/python3)')
if (!await pythonHas('scipy')) missing.push('scipy, which SVHN reads .mat files with (apt-get install python3-scipy)')
const skip = skipUnless(t, missing)

t.test('torchvision SVHN (split_list) and DTD (_URL) through dsmirror', { skip }, async (t) => {
  const host = await startDatasetHost(t)
  const { upstream, manifest } = host
  const pki = await getTestPki()
  const proxy: TestProxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] } } })
  t.teardown(() => proxy.close({ remove: true }))
  const preamble = md5Preamble(host)
  const python = await freshPythonRuns(t, 'dsmirror-e2e-split-list-url-')

  await t.test('SVHN via split_list (docs/clients.md e2e:svhn)', async (t) => {
    const name = 'housenumbers/train_32x32.mat'
    const code = substitute(await docSnippet('docs/clients.md', 'svhn'), [['http://127.0.0.1:8080', proxy.origin], ['ufldl.stanford.edu', upstream.host]])
    // Indexing an item proves scipy read the whole .mat, not only that the md5 matched.
    const r = await python(`${preamble}${code}image, label = train[0]\nprint("item", image.size, 0 <= label <= 9)\n`)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^SVHN ${manifest.svhn?.train ?? -1}$`, 'm'), 'the split loads with the generated length')
    t.match(r.stdout, /^item \(32, 32\) True$/m, 'an item is a 32x32 image with a label 0..9')
    t.equal(sha256(await readFile(join(r.cwd, 'data/train_32x32.mat'))), manifest.files[name]?.sha256, 'the .mat is byte-identical')
    t.equal(upstream.count(`/${name}`), 1, 'the .mat left the dataset host once (torchvision asked twice)')
  })

  await t.test('DTD via _URL (docs/clients.md e2e:dtd)', async (t) => {
    const name = '~vgg/data/dtd/download/dtd-r1.0.1.tar.gz'
    const code = substitute(await docSnippet('docs/clients.md', 'dtd'), [['http://127.0.0.1:8080', proxy.origin], ['www.robots.ox.ac.uk', upstream.host]])
    // Indexing an item proves the archive was extracted whole: the image is read from images/.
    const r = await python(`${preamble}${code}image, label = train[0]\nprint("item", image.size, label)\n`)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^DTD ${manifest.dtd.train}$`, 'm'), 'the split loads with the generated length')
    t.match(r.stdout, /^item \(8, 8\) 0$/m, 'an item is the generated 8x8 JPEG of class 0')
    t.equal(sha256(await readFile(join(r.cwd, 'data/dtd/dtd-r1.0.1.tar.gz'))), manifest.files[name]?.sha256, 'the archive is byte-identical')
    t.equal(upstream.count(`/${name}`), 1, 'the archive left the dataset host once')
  })
})
