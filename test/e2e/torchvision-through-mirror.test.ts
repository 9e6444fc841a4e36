// Issue 4: Debian's torchvision (0.14) against a dataset host whose certificate chains to a
// "corporate" root no client trusts. Without dsmirror the download fails with
// SSLCertVerificationError (the problem is reproduced, not assumed); through dsmirror over
// loopback HTTP, with that root in upstream.caFiles, the docs/clients.md snippets (run verbatim, URLs
// substituted) load MNIST and CIFAR-10, fetch a torch.hub checkpoint with check_hash, and load
// again from the cache once the dataset host is gone. Each file leaves the host once.
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { pythonHas, skipUnless, freshPythonRuns } from '../helpers/e2e-clients.js'
import { md5Preamble, startDatasetHost } from '../helpers/e2e-dataset-host.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'

const missing = await pythonHas('torchvision') ? [] : ['Debian\'s torchvision (apt-get install python3-torchvision; it imports only with /usr/bin/python3)']
const skip = skipUnless(t, missing)

t.test('torchvision through dsmirror, against a host with an untrusted corporate certificate', { skip }, async (t) => {
  const host = await startDatasetHost(t)
  const { upstream, manifest } = host
  const pki = await getTestPki()
  const proxy: TestProxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] } } })
  t.teardown(() => proxy.close({ remove: true }))
  const preamble = md5Preamble(host)
  const python = await freshPythonRuns(t, 'dsmirror-e2e-torchvision-')
  const mnistFiles = Object.keys(manifest.files).filter((n) => n.startsWith('mnist/'))
  const cifarFile = '~kriz/cifar-10-python.tar.gz'

  await t.test('without dsmirror: MNIST(download=True) fails with SSLCertVerificationError', async (t) => {
    const direct = `${upstream.origin}/mnist/`
    const r = await python(`${preamble}
from urllib.error import URLError
from torchvision import datasets
from torchvision.datasets.utils import download_url
try:
    download_url(${JSON.stringify(direct + 'train-labels-idx1-ubyte.gz')}, "data")
except URLError as error:
    print("reason:", type(error.reason).__name__)
datasets.MNIST.mirrors = [${JSON.stringify(direct)}]
datasets.MNIST("data", download=True)
`)
    t.match(r.stdout, /reason: SSLCertVerificationError/, 'the URLError is caused by SSLCertVerificationError')
    t.match(r.stdout, /CERTIFICATE_VERIFY_FAILED/, 'MNIST reports the failed verification')
    t.not(r.code, 0, 'and MNIST gives up')
    t.match(r.stderr, /RuntimeError: Error downloading train-images-idx3-ubyte\.gz/)
  })

  await t.test('MNIST via mirrors (docs/clients.md e2e:mnist)', async (t) => {
    const code = substitute(await docSnippet('docs/clients.md', 'mnist'), [['http://127.0.0.1:8080', proxy.origin], ['ossci-datasets.s3.amazonaws.com', upstream.host]])
    const r = await python(preamble + code)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^MNIST ${manifest.mnist.train} ${manifest.mnist.test}$`, 'm'), 'both splits load with the generated lengths')
    for (const name of mnistFiles) {
      t.equal(sha256(await readFile(join(r.cwd, 'data/MNIST/raw', basename(name)))), manifest.files[name]?.sha256, `${name} is byte-identical`)
      t.equal(upstream.count(`/${name}`), 1, `${name} left the dataset host once (torchvision asked twice per file)`)
    }
  })

  await t.test('CIFAR10 via url (docs/clients.md e2e:cifar10)', async (t) => {
    const code = substitute(await docSnippet('docs/clients.md', 'cifar10'), [['http://127.0.0.1:8080', proxy.origin], ['www.cs.toronto.edu', upstream.host]])
    const r = await python(preamble + code)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^CIFAR10 ${manifest.cifar10.train} ${manifest.cifar10.test}$`, 'm'))
    t.equal(sha256(await readFile(join(r.cwd, 'data', basename(cifarFile)))), manifest.files[cifarFile]?.sha256, 'the archive is byte-identical')
    t.equal(upstream.count(`/${cifarFile}`), 1, 'the archive left the dataset host once')
  })

  await t.test('VOCSegmentation via the module-level DATASET_YEAR_DICT (docs/clients.md e2e:voc)', async (t) => {
    const code = substitute(await docSnippet('docs/clients.md', 'voc'), [['http://127.0.0.1:8080', proxy.origin], ['host.robots.ox.ac.uk', upstream.host]])
    const r = await python(preamble + code)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^VOC ${manifest.voc.train}$`, 'm'))
    t.equal(upstream.count('/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar'), 1, 'the archive left the dataset host once')
  })

  await t.test('torch.hub load_state_dict_from_url and download_url_to_file with check_hash (docs/clients.md e2e:hub)', { skip: manifest.checkpoint === null ? 'torch could not save a checkpoint' : false }, async (t) => {
    const checkpoint = manifest.checkpoint ?? ''
    const prefix = /-([0-9a-f]{8})\.pth$/.exec(checkpoint)?.[1] ?? ''
    const code = substitute(await docSnippet('docs/clients.md', 'hub'), [
      ['http://127.0.0.1:8080', proxy.origin],
      ['download.pytorch.org/models/resnet18-f37072fd.pth', `${upstream.host}/${checkpoint}`],
      ['resnet18-f37072fd.pth', basename(checkpoint)],
      ['f37072fd', prefix]
    ])
    const r = await python(code)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, /^state \['bias', 'weight'\]$/m, 'the state dict loads')
    const expected = manifest.files[checkpoint]?.sha256
    t.equal(sha256(await readFile(join(r.cwd, 'torch/hub/checkpoints', basename(checkpoint)))), expected, 'torch.hub cached the exact file in $TORCH_HOME/hub/checkpoints')
    t.equal(sha256(await readFile(join(r.cwd, basename(checkpoint)))), expected, 'download_url_to_file wrote the exact file')
    t.equal(upstream.count(`/${checkpoint}`), 1, 'the checkpoint left the dataset host once')

    const wrong = await python(code.replace(`hash_prefix="${prefix}"`, 'hash_prefix="00000000"').replace('state = load_state_dict_from_url(url, check_hash=True)\n', ''))
    t.not(wrong.code, 0, 'a wrong hash_prefix is still caught by torch.hub')
    t.match(wrong.stderr, /invalid hash value/)
  })

  await t.test('any dataset: rewriting _get_redirect_url sends the download through the mirror (docs/clients.md e2e:any-dataset)', async (t) => {
    const code = substitute(await docSnippet('docs/clients.md', 'any-dataset'), [['http://127.0.0.1:8080/', `${proxy.origin}/`]])
    // MNIST's mirrors point straight at the untrusted host; only the rewrite can make this work.
    const r = await python(`${preamble}_datasets.MNIST.mirrors = [${JSON.stringify(`${upstream.origin}/mnist/`)}]\n${code}`)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^MNIST ${manifest.mnist.train}$`, 'm'))
  })

  await t.test('with the dataset host stopped, a second run is served from the cache and the md5 checks pass', async (t) => {
    await proxy.idle()
    await upstream.close()
    const before = upstream.requests.length
    const mnist = await python(preamble + substitute(await docSnippet('docs/clients.md', 'mnist'), [['http://127.0.0.1:8080', proxy.origin], ['ossci-datasets.s3.amazonaws.com', upstream.host]]))
    t.equal(mnist.code, 0, 'python exits 0', { stderr: mnist.stderr.slice(-3000) })
    t.match(mnist.stdout, new RegExp(`^MNIST ${manifest.mnist.train} ${manifest.mnist.test}$`, 'm'))
    const cifar = await python(preamble + substitute(await docSnippet('docs/clients.md', 'cifar10'), [['http://127.0.0.1:8080', proxy.origin], ['www.cs.toronto.edu', upstream.host]]))
    t.equal(cifar.code, 0, 'python exits 0', { stderr: cifar.stderr.slice(-3000) })
    t.match(cifar.stdout, new RegExp(`^CIFAR10 ${manifest.cifar10.train} ${manifest.cifar10.test}$`, 'm'))
    t.equal(upstream.requests.length, before, 'nothing reached the (stopped) dataset host')
  })
})
