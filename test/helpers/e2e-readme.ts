// The README's copy-paste snippets, as the e2e tests run them: a fenced block preceded by an
// `<!-- e2e:<name> -->` comment is read from README.md at test time, so a snippet that stops
// working fails a test instead of a user.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const README = fileURLToPath(new URL('../../README.md', import.meta.url))

/** The body of the fenced block after `<!-- e2e:<name> -->` in README.md. */
export async function readmeSnippet (name: string): Promise<string> {
  const text = await readFile(README, 'utf8')
  const marker = `<!-- e2e:${name} -->`
  const at = text.indexOf(marker)
  if (at === -1) throw new Error(`README.md has no snippet marked ${marker}`)
  const m = /^\s*```[a-z]*\n([\s\S]*?)\n```/.exec(text.slice(at + marker.length))
  if (m === null || m[1] === undefined) throw new Error(`README.md: ${marker} is not followed by a fenced code block`)
  return m[1] + '\n'
}

/** `snippet` with every `from` replaced by its `to`, in order; each `from` must occur. */
export function substitute (snippet: string, replacements: Array<[string, string]>): string {
  let out = snippet
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`README snippet does not contain '${from}':\n${snippet}`)
    out = out.replaceAll(from, to)
  }
  return out
}
