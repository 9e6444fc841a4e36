// The docs' copy-paste snippets, as the e2e tests run them: a fenced block preceded by an
// `<!-- e2e:<name> -->` comment is read from its markdown file at test time, so a snippet that
// stops working fails a test instead of a user. The file is named at each call (issue 10 item 7
// moved the client snippets from README.md to docs/clients.md), so a test says where its snippet is.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const ROOT = new URL('../../', import.meta.url)

/** The body of the fenced block after `<!-- e2e:<name> -->` in `file` (relative to the repository root). */
export async function docSnippet (file: string, name: string): Promise<string> {
  const text = await readFile(fileURLToPath(new URL(file, ROOT)), 'utf8')
  const marker = `<!-- e2e:${name} -->`
  const at = text.indexOf(marker)
  if (at === -1) throw new Error(`${file} has no snippet marked ${marker}`)
  if (text.indexOf(marker, at + marker.length) !== -1) throw new Error(`${file} marks two snippets ${marker}`)
  const m = /^\s*```[a-z]*\n([\s\S]*?)\n```/.exec(text.slice(at + marker.length))
  if (m === null || m[1] === undefined) throw new Error(`${file}: ${marker} is not followed by a fenced code block`)
  return m[1] + '\n'
}

/** `snippet` with every `from` replaced by its `to`, in order; each `from` must occur. */
export function substitute (snippet: string, replacements: Array<[string, string]>): string {
  let out = snippet
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`doc snippet does not contain '${from}':\n${snippet}`)
    out = out.replaceAll(from, to)
  }
  return out
}
