// Imports point down: config <- certs <- server (issue 10 item 5, DESIGN "Boundaries"). config/
// imports nothing of the repo outside config/; certs/ imports only certs/ and config/. Read from
// the import lines of every source file, so a new file is checked without being listed here.
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** `from '…'` of import/export statements, `import('…')` and bare `import '…'`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm

async function sourceFiles (dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && /\.(?:ts|js|mjs)$/.test(e.name)).map((e) => join(e.parentPath, e.name))
}

/** The repo folders (first path segment) a file's relative imports land in. */
async function importedFolders (file: string): Promise<Array<{ specifier: string, folder: string }>> {
  const text = await readFile(file, 'utf8')
  return [...text.matchAll(SPECIFIER)].flatMap((m) => {
    const specifier = m[2] ?? ''
    if (!specifier.startsWith('.')) return []
    const target = relative(ROOT, resolve(dirname(file), specifier))
    return [{ specifier, folder: target.split(/[\\/]/)[0] ?? '' }]
  })
}

const ALLOWED: Record<string, readonly string[]> = {
  config: ['config'],
  certs: ['certs', 'config']
}

for (const [dir, allowed] of Object.entries(ALLOWED)) {
  t.test(`${dir}/ imports only ${allowed.join(' and ')}`, async (t) => {
    const files = await sourceFiles(dir)
    t.ok(files.length > 0, `${dir}/ has source files`)
    for (const file of files) {
      const imports = await importedFolders(file)
      for (const { specifier, folder } of imports) {
        t.ok(allowed.includes(folder), `${relative(ROOT, file)} imports '${specifier}' (${folder}/)`)
      }
    }
  })
}

t.test('the scanner sees every form of import', async (t) => {
  const text = "import a from '../server/a.js'\nimport type { B } from \"../server/b.js\"\nexport { c } from '../server/c.js'\nconst d = await import('../server/d.js')\nimport '../server/e.js'\n"
  t.same([...text.matchAll(SPECIFIER)].map((m) => m[2]), ['../server/a.js', '../server/b.js', '../server/c.js', '../server/d.js', '../server/e.js'])
})
