// Issue 4, the docs/clients.md table's pretrained-weights row: the e2e:weights snippet fetches
// ResNet18_Weights' own URL through dsmirror into $TORCH_HOME/hub/checkpoints with check_hash,
// and resnet18(weights=) then loads that file without a download. The checkpoint is a generated
// resnet18 state_dict (the real one is 45 MB from the internet); the preamble points the enum's
// URL at the dataset host under the generated file's name, so a download that skipped the mirror
// would meet a certificate no client trusts, and once that host is gone the model still builds.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { cleanEnv, pythonHas, runPython, type Run, skipUnless } from '../helpers/e2e-clients.js'
import { md5Preamble, startDatasetHost } from '../helpers/e2e-dataset-host.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'

const skip = skipUnless(t, await pythonHas('torchvision') ? [] : ['Debian\'s torchvision (apt-get install python3-torchvision; it imports only with /usr/bin/python3)'])

const BUILD = 'from torchvision.models import ResNet18_Weights, resnet18\nmodel = resnet18(weights=ResNet18_Weights.DEFAULT)\nprint("built")\n'

t.test('resnet18(weights=) loads the checkpoint the docs/clients.md snippet put in $TORCH_HOME through dsmirror', { skip }, async (t) => {
  const host = await startDatasetHost(t, { weights: true })
  const { upstream, manifest } = host
  const weights = manifest.weights
  if (weights === null) throw new Error('make-datasets.py --weights wrote no checkpoint')
  const pki = await getTestPki()
  const proxy: TestProxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] } } })
  t.teardown(() => proxy.close({ remove: true }))
  const preamble = md5Preamble(host)
  const work = await mkdtemp(join(tmpdir(), 'dsmirror-e2e-weights-'))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  const torchHome = join(work, 'torch')
  const checkpoint = join(torchHome, 'hub/checkpoints', basename(weights.path))
  const python = async (code: string, home = torchHome): Promise<Run> => await runPython(preamble + code, { cwd: work, env: cleanEnv({ TORCH_HOME: home }) })

  await t.test('without the checkpoint in $TORCH_HOME, resnet18(weights=) downloads and meets the untrusted certificate', async (t) => {
    const r = await python(BUILD, join(work, 'empty-torch-home'))
    t.not(r.code, 0, 'python fails')
    t.match(r.stderr, /CERTIFICATE_VERIFY_FAILED/, 'because the download went to the dataset host directly')
  })

  await t.test('the docs/clients.md snippet fills $TORCH_HOME through the mirror; weights= downloads nothing more (docs/clients.md e2e:weights)', async (t) => {
    const code = substitute(await docSnippet('docs/clients.md', 'weights'), [['http://127.0.0.1:8080/', `${proxy.origin}/`]])
    const compare = `import torch as _torch\n_saved = _torch.load(${JSON.stringify(checkpoint)})\nprint("same", all(_torch.equal(v, model.state_dict()[k]) for k, v in _saved.items()))\n`
    const r = await python(code + compare)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, new RegExp(`^resnet18 ${weights.params}$`, 'm'), 'the model builds')
    t.match(r.stdout, /^same True$/m, 'with the checkpoint\'s weights')
    const downloads = r.stderr.split('\n').filter((line) => line.startsWith('Downloading: '))
    t.same(downloads, [`Downloading: "${proxy.origin}/${upstream.host}/${weights.path}" to ${checkpoint}`], 'torch.hub downloaded once, from the mirror')
    t.equal(sha256(await readFile(checkpoint)), manifest.files[weights.path]?.sha256, 'the checkpoint is byte-identical')
    t.equal(upstream.count(`/${weights.path}`), 1, 'the checkpoint left the dataset host once')
  })

  await t.test('with the dataset host stopped, resnet18(weights=) still builds from $TORCH_HOME', async (t) => {
    await proxy.idle()
    await upstream.close()
    const r = await python(BUILD)
    t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
    t.match(r.stdout, /^built$/m)
    t.notMatch(r.stderr, /Downloading/, 'torch.hub did not try to download')
  })
})
