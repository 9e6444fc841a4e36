// config/presets.ts @torchvision against torchvision's own source: every host of a URL in
// torchvision/datasets and torchvision/models is allowed, so pointing torchvision at dsmirror never
// ends in DSM_HOST_NOT_ALLOWED (issue: current runtimes; EMNIST, Caltech and VOC of torchvision
// 0.29.1 were refused with the 0.14-era preset).
//
// The URLs come from config/torchvision-source.generated.ts, committed and written by
// `npm run derive:torchvision` from the current torchvision wheel and Debian's 0.14, so this test
// downloads nothing. Where that source is on this machine (Debian's python3-torchvision, the wheel
// the script unpacked), it is also read again here with a plain regex, independent of the script.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { CURRENT_TORCHVISION, PRESET_HOSTS } from '../../config/presets.js'
import { TORCHVISION_NOT_DOWNLOADED, TORCHVISION_SOURCES } from '../../config/torchvision-source.generated.js'

const DEBIAN_TORCHVISION = '/usr/lib/python3/dist-packages/torchvision'
const UNPACKED_WHEEL = join(process.env.DSMIRROR_TORCHVISION_SOURCE_DIR ?? '/var/tmp/dsmirror-torchvision', CURRENT_TORCHVISION.version, 'torchvision')

const preset = PRESET_HOSTS['@torchvision'] ?? []
const allowed = (host: string): boolean => preset.some((p) => p.startsWith('*.') ? host.endsWith(p.slice(1)) : p === host)
/** The host of a URL as torchvision writes it, `{split}`-style templates included. */
const hostOf = (url: string): string => new URL(url.split('{')[0] ?? url).hostname

t.test('the committed source is the current torchvision release and Debian\'s 0.14', async (t) => {
  t.equal(TORCHVISION_SOURCES[0], CURRENT_TORCHVISION, 'the first source is the current release')
  t.match(CURRENT_TORCHVISION.version, /^0\.(2[89]|[3-9]\d)\.\d+$/, `current torchvision ${CURRENT_TORCHVISION.version} is 0.28 or later`)
  t.ok(TORCHVISION_SOURCES.some((s) => s.version.startsWith('0.14.')), 'Debian\'s 0.14 (the build the e2e tests run) is read too')
  for (const source of TORCHVISION_SOURCES) {
    t.ok(Object.keys(source.urls).length > 200, `${source.version}: ${Object.keys(source.urls).length} URLs`)
    t.same(source.unresolved, [], `${source.version}: every download call was resolved by the script`)
  }
})

for (const source of TORCHVISION_SOURCES) {
  t.test(`every URL of torchvision ${source.version} is on an @torchvision host`, async (t) => {
    const missing = Object.entries(source.urls)
      .filter(([url]) => !(hostOf(url) in TORCHVISION_NOT_DOWNLOADED) && !allowed(hostOf(url)))
      .map(([url, files]) => `${hostOf(url)} (${url} in ${files.join(', ')})`)
    t.same(missing, [], 'no download host is missing from the preset')
  })
}

t.test('the hosts the issue found refused are allowed', async (t) => {
  // torchvision 0.29.1: EMNIST, Caltech101/256, every VOC year, SBD's split list.
  for (const host of ['biometrics.nist.gov', 'data.caltech.edu', 'thor.robots.ox.ac.uk', 'www.cs.cornell.edu']) t.ok(allowed(host), host)
})

t.test('@pytorch is the weight hosts of torchvision\'s models', async (t) => {
  t.same(PRESET_HOSTS['@pytorch'], [...new Set(TORCHVISION_SOURCES.flatMap((s) => s.weightHosts))].sort())
})

async function pythonFiles (dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true })
  return names.filter((name) => name.endsWith('.py')).map((name) => join(dir, name))
}

// A regex over the source, not the script's `ast`: comments and weight metadata links are skipped
// by line, and the hosts that are named but never downloaded from are the script's list.
for (const [label, root] of [['Debian\'s torchvision', DEBIAN_TORCHVISION], [`torchvision ${CURRENT_TORCHVISION.version} (unpacked wheel)`, UNPACKED_WHEEL]] as const) {
  const present = await readdir(root).then(() => true, () => false)
  const skip = present ? false : `${root} is not there (${root === DEBIAN_TORCHVISION ? 'apt-get install python3-torchvision' : `npm run derive:torchvision -- --version ${CURRENT_TORCHVISION.version} unpacks it`})`
  t.test(`every host ${label} downloads from is in @torchvision`, { skip }, async (t) => {
    const files = [...await pythonFiles(join(root, 'datasets')), ...await pythonFiles(join(root, 'models'))]
    const hosts = new Map<string, string>()
    for (const file of files) {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        if (/^\s*#|"(recipe|license)":/.test(line)) continue
        for (const m of line.matchAll(/["']https?:\/\/([^/"'{}]+)/g)) hosts.set(m[1] ?? '', file)
      }
    }
    t.ok(hosts.size > 30, `${hosts.size} hosts found`)
    const missing = [...hosts].filter(([host]) => !allowed(host) && !(host in TORCHVISION_NOT_DOWNLOADED)).map(([host, file]) => `${host} (${file})`)
    t.same(missing, [], 'no download host is missing from the preset')
  })
}
