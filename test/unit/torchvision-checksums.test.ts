// config/torchvision-checksums.ts: the md5s torchvision checks, keyed by the URLs dsmirror fetches,
// merged under the user's `checksums` so dsmirror verifies them server-side.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_CHECKSUMS } from '../../config/torchvision-checksums.js'

const CIFAR10 = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'
const DEBIAN_TORCHVISION_DATASETS = '/usr/lib/python3/dist-packages/torchvision/datasets'

t.test('every entry is an https URL with an md5 digest, and the well-known ones are there', async (t) => {
  const entries = Object.entries(TORCHVISION_CHECKSUMS)
  t.ok(entries.length >= 80, `${entries.length} entries`)
  for (const [url, digest] of entries) {
    t.equal(new URL(url).protocol, 'https:', `${url} is https (dsmirror always fetches https)`)
    t.match(digest, /^md5:[0-9a-f]{32}$/, `${url} has an md5`)
  }
  t.equal(TORCHVISION_CHECKSUMS[CIFAR10], 'md5:c58f30108f718f92721af3b95e74349a')
  t.equal(TORCHVISION_CHECKSUMS['https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz'], 'md5:f68b3c2dcbeaaa9fbdd348bbdeb94873')
  t.equal(TORCHVISION_CHECKSUMS['https://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz'], 'md5:f68b3c2dcbeaaa9fbdd348bbdeb94873', 'http:// URLs of torchvision are keyed as dsmirror fetches them')
  t.equal(TORCHVISION_CHECKSUMS['https://madm.dfki.de/files/sentinel/EuroSAT.zip'], 'md5:c8fa014336c82ac7804f0398fcb19387', 'URLs written inside download() are included')
})

t.test('every host is in the @torchvision allowHosts preset', async (t) => {
  const preset = PRESET_HOSTS['@torchvision'] ?? []
  const allowed = (host: string): boolean => preset.some((p) => p.startsWith('*.') ? host.endsWith(p.slice(1)) : p === host)
  const hosts = [...new Set(Object.keys(TORCHVISION_CHECKSUMS).map((u) => new URL(u).hostname))]
  t.same(hosts.filter((h) => !allowed(h)), [], 'no checksum URL names a host the preset would refuse')
})

t.test('the preset is part of the default checksums; the config wins for the same URL', async (t) => {
  const cwd = '/srv/work'
  t.same(parseConfig(undefined, { env: {}, cwd }).checksums, TORCHVISION_CHECKSUMS)
  const mine = `sha256:${'ab'.repeat(32)}`
  const config = parseConfig({ checksums: { [CIFAR10]: mine, 'https://files.example/a.tgz': mine } }, { env: {}, cwd })
  t.equal(config.checksums[CIFAR10], mine, 'a user checksum replaces the preset one')
  t.equal(config.checksums['https://files.example/a.tgz'], mine)
  t.equal(config.checksums['https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'], TORCHVISION_CHECKSUMS['https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'], 'the rest of the preset stays')
})

const installed = await readdir(DEBIAN_TORCHVISION_DATASETS).catch(() => null)
t.test('every md5 appears in the installed torchvision source (drift check)', { skip: installed === null ? `${DEBIAN_TORCHVISION_DATASETS} is not there (apt-get install python3-torchvision)` : false }, async (t) => {
  const files = installed ?? []
  const source = (await Promise.all(files.filter((f) => f.endsWith('.py')).map(async (f) => await readFile(join(DEBIAN_TORCHVISION_DATASETS, f), 'utf8')))).join('\n')
  const absent = Object.entries(TORCHVISION_CHECKSUMS).filter(([, digest]) => !source.includes(digest.slice('md5:'.length))).map(([url]) => url)
  t.same(absent, [], 'no md5 is missing from torchvision/datasets/*.py')
})
