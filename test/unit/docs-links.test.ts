// The user docs link into each other by file and #anchor (issue 10 item 7: the README is the
// newcomer's page, the rest lives in docs/). A page moved or a heading renamed would leave a dead
// link that no reader reports, so every relative link and anchor in README.md, SECURITY.md and
// docs/*.md must reach a file and a heading that exist, and every source header that cites
// docs/design.md "<section>" must name a heading of docs/design.md.
// The markdown is read with a few regular expressions instead of a parser: the docs use ATX
// headings, inline links and fenced blocks only, and no markdown library is a dependency.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOCS = ['README.md', 'SECURITY.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
const SOURCE_DIRS = ['server', 'config', 'certs', 'test', 'bench']
const THIS_FILE = fileURLToPath(import.meta.url)

/** Lines outside fenced code blocks (``` or ~~~, indented inside list items too). */
function proseLines (text: string): Array<{ line: string, no: number }> {
  const out: Array<{ line: string, no: number }> = []
  let fence: string | null = null
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line)
    if (m?.[1] !== undefined) {
      if (fence === null) fence = m[1]
      else if (m[1].startsWith(fence)) fence = null
      return
    }
    if (fence === null) out.push({ line, no: i + 1 })
  })
  return out
}

/** GitHub's heading anchor: the text lower-cased, punctuation dropped, spaces to hyphens (github-slugger). */
function slug (heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
  return text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-')
}

function headings (text: string): string[] {
  return proseLines(text).flatMap(({ line }) => {
    const m = /^#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)
    return m?.[1] === undefined ? [] : [m[1]]
  })
}

/** The anchors of a markdown file, with GitHub's -1, -2 suffixes for repeated headings. */
function anchors (file: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const h of headings(readFileSync(file, 'utf8'))) {
    const base = slug(h)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Inline links and images `[text](target "title")`, inline code spans left out. */
function links (text: string): Array<{ target: string, no: number }> {
  return proseLines(text).flatMap(({ line, no }) => {
    const prose = line.replace(/(`+)[\s\S]*?\1/g, '')
    return [...prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => ({ target: m[1] ?? '', no }))
  })
}

function sourceFiles (dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mjs|js)$/.test(f) && !f.split('/').includes('work'))
    .map((f) => join(ROOT, dir, f))
}

t.test('the docs pages exist', async (t) => {
  for (const page of ['clients', 'deployment', 'trust', 'operations', 'config', 'development', 'design']) {
    t.ok(existsSync(join(ROOT, 'docs', `${page}.md`)), `docs/${page}.md exists`)
  }
})

t.test('the slug is GitHub\'s', async (t) => {
  t.equal(slug('`upstream.allowAddresses`: names that resolve to private addresses'), 'upstreamallowaddresses-names-that-resolve-to-private-addresses')
  t.equal(slug('`dsmirror cache ls | verify | purge`'), 'dsmirror-cache-ls--verify--purge')
  t.equal(slug('Trusting the local CA on a client: `dsmirror trust`'), 'trusting-the-local-ca-on-a-client-dsmirror-trust')
  t.equal(slug('Containers: one image for the sidecar and the team server'), 'containers-one-image-for-the-sidecar-and-the-team-server')
})

for (const doc of DOCS) {
  t.test(`every relative link in ${doc} resolves`, async (t) => {
    const file = join(ROOT, doc)
    const found = links(readFileSync(file, 'utf8'))
    for (const { target, no } of found) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:: not this test's business
      const [path = '', anchor] = target.split('#', 2)
      const to = path === '' ? file : resolve(dirname(file), decodeURI(path))
      const where = `${doc}:${no} (${target})`
      if (!existsSync(to)) {
        t.fail(`${where}: ${relative(ROOT, to)} does not exist`)
        continue
      }
      if (anchor === undefined || anchor === '') {
        t.pass(where)
        continue
      }
      if (statSync(to).isDirectory() || !to.endsWith('.md')) {
        t.fail(`${where}: #${anchor} points into ${relative(ROOT, to)}, which has no headings`)
        continue
      }
      t.ok(anchors(to).has(decodeURIComponent(anchor)), `${where}: ${relative(ROOT, to)} has a heading #${anchor}`)
    }
  })
}

t.test('every docs/design.md "<section>" cited in a source file is a heading of docs/design.md', async (t) => {
  const sections = new Set(headings(readFileSync(join(ROOT, 'docs/design.md'), 'utf8')))
  let cited = 0
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    if (file === THIS_FILE) continue
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/docs\/design\.md\s+"([^"]+)"/g)) {
      cited++
      t.ok(sections.has(m[1] ?? ''), `${relative(ROOT, file)} cites docs/design.md "${m[1] ?? ''}"`)
    }
    // The design card outside the repo: a newcomer who clones the repo cannot follow that citation.
    t.notMatch(text, /(^|[^/\w])DESIGN\.md/, `${relative(ROOT, file)} cites docs/design.md, not docs/design.md`)
  }
  t.ok(cited > 0, 'source headers cite docs/design.md')
})
