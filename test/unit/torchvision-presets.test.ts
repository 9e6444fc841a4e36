// config/presets.ts @torchvision against the installed torchvision (Debian's 0.14.1): every host of
// a URL in torchvision/datasets/*.py and torchvision/models/**/*.py is allowed, so pointing
// torchvision at dsmirror never ends in DSM_HOST_NOT_ALLOWED. Skipped where torchvision is absent.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { PRESET_HOSTS } from '../../config/presets.js'

const TORCHVISION = '/usr/lib/python3/dist-packages/torchvision'
// URLs that are never downloaded: weight metadata links ("recipe", "license") and comments are
// skipped by line; these hosts are named in code but only as text.
const NOT_DOWNLOADED: Readonly<Record<string, string>> = {
  'serre-lab.clps.brown.edu': 'hmdb51.py data_url/splits: HMDB51 has no download(), the URLs are for the user',
  'www.kaggle.com': 'fer2013.py: the error message telling the user where to download by hand'
}

async function pythonFiles (dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true })
  return names.filter((name) => name.endsWith('.py')).map((name) => join(dir, name))
}

const installed = await readdir(TORCHVISION).then(() => true, () => false)
t.test('every host torchvision downloads from is in @torchvision', { skip: installed ? false : `${TORCHVISION} is not there (apt-get install python3-torchvision)` }, async (t) => {
  const preset = PRESET_HOSTS['@torchvision'] ?? []
  const allowed = (host: string): boolean => preset.some((p) => p.startsWith('*.') ? host.endsWith(p.slice(1)) : p === host)
  const files = [...await pythonFiles(join(TORCHVISION, 'datasets')), ...await pythonFiles(join(TORCHVISION, 'models'))]
  const hosts = new Map<string, string>()
  for (const file of files) {
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (/^\s*#|"(recipe|license)":/.test(line)) continue
      for (const m of line.matchAll(/["']https?:\/\/([^/"'{}]+)/g)) hosts.set(m[1] ?? '', file)
    }
  }
  t.ok(hosts.size > 30, `${hosts.size} hosts found`)
  const missing = [...hosts].filter(([host]) => !allowed(host) && !(host in NOT_DOWNLOADED)).map(([host, file]) => `${host} (${file})`)
  t.same(missing, [], 'no download host is missing from the preset')
})
