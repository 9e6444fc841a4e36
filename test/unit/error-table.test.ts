// The README's error table (`| code | meaning | how to fix |`) and server/errors.ts ERRORS stay in
// step (docs/design.md "Errors"): every code dsmirror can report has a row, every row is a real code,
// and every row says what it means and how to fix it.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { ERRORS } from '../../server/errors.js'

const README = new URL('../../README.md', import.meta.url)
const ROW = /^\|\s*`(DSM_[A-Z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|\s*$/

function catalogueCodes (): string[] {
  return ERRORS.map((Ctor) => new Ctor('x', 'y', 'z').code)
}

async function tableRows (): Promise<Array<{ code: string, meaning: string, fix: string }>> {
  const text = await readFile(README, 'utf8')
  return text.split('\n').flatMap((line) => {
    const m = ROW.exec(line.trim())
    return m === null ? [] : [{ code: m[1] ?? '', meaning: (m[2] ?? '').trim(), fix: (m[3] ?? '').trim() }]
  })
}

t.test('ERRORS codes are unique and shaped DSM_<AREA>_<WHAT>', async (t) => {
  const codes = catalogueCodes()
  t.ok(codes.length > 0)
  t.equal(new Set(codes).size, codes.length, 'no code appears twice')
  for (const code of codes) t.match(code, /^DSM_[A-Z0-9]+_[A-Z0-9_]+$/, code)
})

t.test('every code in ERRORS has a row in the README error table', async (t) => {
  const rows = await tableRows()
  t.ok(rows.length > 0, 'README.md has an error table: | `DSM_...` | meaning | how to fix |')
  const documented = new Set(rows.map((r) => r.code))
  for (const code of catalogueCodes()) t.ok(documented.has(code), `${code} is in the README table`)
})

t.test('every code in the README error table exists in ERRORS, once, with a meaning and a fix', async (t) => {
  const rows = await tableRows()
  const known = new Set(catalogueCodes())
  const seen = new Set<string>()
  for (const row of rows) {
    t.ok(known.has(row.code), `${row.code} exists in server/errors.ts`)
    t.notOk(seen.has(row.code), `${row.code} has one row`)
    seen.add(row.code)
    t.ok(row.meaning.length > 0, `${row.code} says what it means`)
    t.ok(row.fix.length > 0, `${row.code} says how to fix it`)
  }
})
