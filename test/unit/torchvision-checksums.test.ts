// config/torchvision-checksums.ts: the md5s torchvision checks, keyed by the URLs dsmirror fetches,
// merged under the user's `checksums` so dsmirror verifies them server-side.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { CURRENT_TORCHVISION, PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_CHECKSUMS } from '../../config/torchvision-checksums.js'
import { TORCHVISION_SOURCES } from '../../config/torchvision-source.generated.js'

const CIFAR10 = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'

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

t.test('the current release\'s URLs are there: EMNIST, Caltech and VOC moved (issue: current runtimes)', async (t) => {
  t.equal(TORCHVISION_CHECKSUMS['https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip'], 'md5:58c8d27c78d21e728a6bc7b3cc06412e')
  t.equal(TORCHVISION_CHECKSUMS['https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip'], 'md5:3138e1922a9193bfa496528edbbc45d0')
  t.equal(TORCHVISION_CHECKSUMS['https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar'], 'md5:6cd6e144f989b92b3379bac3b3de84fd')
  t.equal(TORCHVISION_CHECKSUMS['https://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar'], 'md5:6cd6e144f989b92b3379bac3b3de84fd', '0.14\'s VOC host stays')
  t.notOk(Object.keys(TORCHVISION_CHECKSUMS).some((url) => new URL(url).hostname === 'drive.google.com'), 'no Google Drive link is keyed: torchvision fetches those by file id')
})

t.test('no URL has two md5s across the torchvision sources read', async (t) => {
  const seen = new Map<string, string>()
  const conflicts: string[] = []
  for (const source of TORCHVISION_SOURCES) {
    for (const [url, digest] of Object.entries(source.checksums)) {
      const before = seen.get(url)
      if (before !== undefined && before !== digest) conflicts.push(`${url}: ${before} / ${digest} (${source.version})`)
      seen.set(url, digest)
    }
  }
  t.same(conflicts, [])
  t.same(Object.keys(TORCHVISION_CHECKSUMS).sort(), [...seen.keys()].sort(), 'the preset is the union of the sources')
})

// Each md5 is looked up in the real source of the torchvision it was read from, where it is on
// this machine: Debian's python3-torchvision, and the current wheel `npm run derive:torchvision`
// unpacked.
const trees = [
  ['0.14', '/usr/lib/python3/dist-packages/torchvision/datasets', 'apt-get install python3-torchvision'],
  [CURRENT_TORCHVISION.version, join(process.env.DSMIRROR_TORCHVISION_SOURCE_DIR ?? '/var/tmp/dsmirror-torchvision', CURRENT_TORCHVISION.version, 'torchvision/datasets'), `npm run derive:torchvision -- --version ${CURRENT_TORCHVISION.version}`]
] as const
for (const [version, dir, fix] of trees) {
  const source = TORCHVISION_SOURCES.find((s) => s.version.startsWith(version))
  const files = await readdir(dir).catch(() => null)
  t.test(`every md5 of torchvision ${version} appears in its source (drift check)`, { skip: files === null || source === undefined ? `${dir} is not there (${fix})` : false }, async (t) => {
    const text = (await Promise.all((files ?? []).filter((f) => f.endsWith('.py')).map(async (f) => await readFile(join(dir, f), 'utf8')))).join('\n')
    const absent = Object.entries(source?.checksums ?? {}).filter(([, digest]) => !text.includes(digest.slice('md5:'.length))).map(([url]) => url)
    t.same(absent, [], `no md5 is missing from ${dir}/*.py`)
  })
}
