// `npx tsx bench/prof-top.ts [file.cpuprofile ...]`: the top self-time entries of V8 CPU profiles
// (from `npm run bench -- --cpu-prof`, default: every profile in bench/work/prof), summed by
// function and file, as a markdown table. Where the CPU of the JS thread went (issue 14); work on
// other threads (libuv's pool: file writes and reads; V8's GC helpers) is not in a .cpuprofile.
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const TOP = Number(process.env.TOP ?? 25)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function label (node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const name = functionName === '' ? '(anonymous)' : functionName
  if (url === '') return name
  const file = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url
  return `${name} ${file}:${lineNumber + 1}`
}

async function main (): Promise<void> {
  let files = process.argv.slice(2)
  if (files.length === 0) {
    const dir = join(ROOT, 'bench', 'work', 'prof')
    files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))
  }
  const self = new Map<string, number>()
  let total = 0
  for (const file of files) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
    const byId = new Map(profile.nodes.map((node) => [node.id, node]))
    profile.samples.forEach((id, i) => {
      const micros = profile.timeDeltas[i] ?? 0
      const node = byId.get(id)
      if (node === undefined) return
      const key = label(node)
      self.set(key, (self.get(key) ?? 0) + micros)
      total += micros
    })
  }
  const idle = self.get('(idle)') ?? 0
  const busy = total - idle
  const rows = [...self].filter(([key]) => key !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, TOP)
  process.stdout.write(`${files.length} profile(s); ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle\n\n`)
  process.stdout.write('| self s | % of busy | function |\n|---|---|---|\n')
  for (const [key, micros] of rows) {
    process.stdout.write(`| ${(micros / 1e6).toFixed(2)} | ${(100 * micros / busy).toFixed(1)} | ${key.replaceAll('|', '\\|')} |\n`)
  }
}

await main()
