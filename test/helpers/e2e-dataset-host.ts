// The "dataset host" of the e2e tests: a node:https server on 127.0.0.1 whose certificate chains
// to pki.otherCa, the test "corporate" root that no OS store and no client trusts (the field
// situation: a TLS-intercepting proxy, an isolated cluster's private CA). It serves small but valid
// MNIST idx .gz files, a CIFAR-10-format cifar-10-python.tar.gz and a torch.hub checkpoint, made
// at test time by test/e2e/fixtures/make-datasets.py with Debian's numpy/torch.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { PYTHON, run } from './e2e-clients.js'
import { getTestPki } from './pki.js'
import { startUpstream, type Upstream } from './upstream.js'

const GENERATOR = fileURLToPath(new URL('../e2e/fixtures/make-datasets.py', import.meta.url))

export interface FileDigest { md5: string, sha256: string, size: number }

export interface DatasetManifest {
  /** Keyed by path on the host without the leading '/', e.g. 'mnist/train-images-idx3-ubyte.gz'. */
  files: Record<string, FileDigest>
  mnist: { train: number, test: number }
  cifar10: { batchMd5: Record<string, string>, train: number, test: number }
  voc: { train: number }
  /** Path of the checkpoint ('models/tinynet-<sha256[:8]>.pth'), null without torch. */
  checkpoint: string | null
}

export interface DatasetHost {
  upstream: Upstream
  manifest: DatasetManifest
  /** Directory holding the generated files. */
  dir: string
}

/** Generates the fixtures and serves them; closed and removed in `t`'s teardown. */
export async function startDatasetHost (t: Test): Promise<DatasetHost> {
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-e2e-datasets-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const made = await run(PYTHON, [GENERATOR, dir])
  if (made.code !== 0) throw new Error(`make-datasets.py failed: ${made.stderr}`)
  const manifest = JSON.parse(made.stdout) as DatasetManifest
  const pki = await getTestPki()
  const upstream = await startUpstream({ tls: pki.otherLeaf })
  t.teardown(async () => { await upstream.close() })
  for (const name of Object.keys(manifest.files)) {
    upstream.set(`/${name}`, { body: await readFile(join(dir, name)) })
  }
  return { upstream, manifest, dir }
}

/** Python that points torchvision's md5 lists at the generated files instead of the real ones. */
export function md5Preamble (host: DatasetHost): string {
  const f = host.manifest.files
  const md5 = (name: string): string => f[name]?.md5 ?? ''
  const batches = host.manifest.cifar10.batchMd5
  const train = Object.entries(batches).filter(([n]) => n.startsWith('data_batch_')).map(([n, m]) => [n, m])
  return [
    'from torchvision import datasets as _datasets',
    `_datasets.MNIST.resources = ${JSON.stringify(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((n) => [n, md5(`mnist/${n}`)]))}`,
    `_datasets.CIFAR10.tgz_md5 = ${JSON.stringify(md5('~kriz/cifar-10-python.tar.gz'))}`,
    `_datasets.CIFAR10.train_list = ${JSON.stringify(train)}`,
    `_datasets.CIFAR10.test_list = ${JSON.stringify([['test_batch', batches.test_batch]])}`,
    `_datasets.CIFAR10.meta = ${JSON.stringify({ filename: 'batches.meta', key: 'label_names', md5: batches['batches.meta'] })}`,
    'import torchvision.datasets.voc as _voc',
    `_voc.DATASET_YEAR_DICT["2012"]["md5"] = ${JSON.stringify(md5('pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar'))}`,
    ''
  ].join('\n')
}
