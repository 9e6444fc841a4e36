// "Did you mean ...?" for misspelt keys and environment variables.

/** Edit distance with transpositions (optimal string alignment), case-insensitive. */
export function editDistance (a: string, b: string): number {
  const s = a.toLowerCase()
  const t = b.toLowerCase()
  const rows: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i])
  for (let j = 1; j <= t.length; j++) (rows[0] as number[])[j] = j
  for (let i = 1; i <= s.length; i++) {
    const row = rows[i] as number[]
    const prev = rows[i - 1] as number[]
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, (rows[i - 2] as number[])[j - 2] as number + 1)
      }
      row[j] = best
    }
  }
  return (rows[s.length] as number[])[t.length] as number
}

/**
 * The candidate nearest to `word`, when it is near enough to be a likely typo
 * (at most a third of the word's length in edits, and at least 2 allowed).
 */
export function suggestClosest (word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}
