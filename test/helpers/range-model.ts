// A reference model of byte-range selection (RFC 9110 §14), written independently of the
// proxy's parser so property tests can compare the two. It follows the ABNF character by
// character and keeps numbers as BigInt, and it coalesces with a bitmap of covered bytes rather
// than by sorting intervals:
//   ranges-specifier = range-unit "=" range-set        range-unit is a case-insensitive token
//   range-set  = 1#range-spec                           list rules of §5.6.1: OWS around commas,
//   range-spec = int-range / suffix-range / other-range  empty elements accepted and ignored
//   int-range  = first-pos "-" [ last-pos ]             invalid when last-pos < first-pos
//   suffix-range = "-" suffix-length
// Outcomes: a header that is not a valid bytes ranges-specifier is ignored (200, whole body;
// §14.2); a valid one with no satisfiable range-spec is 416 (§15.5.17); otherwise 206 with the
// satisfiable ranges, where int-range is satisfiable when first-pos < length and suffix-range when
// its length is non-zero (§14.1.1), and a suffix longer than the representation selects all of
// it (§14.1.3). Coalescing policy (as dsmirror implements it, which §14.1.1 and §15.3.7.2
// allow): overlapping or adjacent ranges merge, and the merged parts keep the order in which the
// client first asked for any of their bytes; more than MAX_MODEL_RANGES parts after merging and
// the header is ignored (§14.2 "more than a reasonable number of ranges").

export interface ByteRange {
  start: number
  /** Inclusive. */
  end: number
}

export type RangeVerdict =
  | { kind: 'ignore' }
  | { kind: 'unsatisfiable' }
  | { kind: 'partial', ranges: ByteRange[] }

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const DIGITS = /^[0-9]+$/

/** OWS is SP and HTAB only (RFC 9110 §5.6.3). */
function stripOws (text: string): string {
  let from = 0
  let to = text.length
  while (from < to && (text[from] === ' ' || text[from] === '\t')) from++
  while (to > from && (text[to - 1] === ' ' || text[to - 1] === '\t')) to--
  return text.slice(from, to)
}

type Spec = { first: bigint, last: bigint | null } | { suffix: bigint }

function parseSpec (text: string): Spec | null {
  const dash = text.indexOf('-')
  if (dash === -1 || text.indexOf('-', dash + 1) !== -1) return null
  const left = text.slice(0, dash)
  const right = text.slice(dash + 1)
  if (left === '') return DIGITS.test(right) ? { suffix: BigInt(right) } : null
  if (!DIGITS.test(left) || (right !== '' && !DIGITS.test(right))) return null
  return { first: BigInt(left), last: right === '' ? null : BigInt(right) }
}

/** What the proxy must do with `header` (as received, before OWS trimming) for a body of `size` bytes. */
export const MAX_MODEL_RANGES = 200

export function modelRange (size: number, header: string): RangeVerdict {
  const value = stripOws(header)
  const eq = value.indexOf('=')
  if (eq === -1) return { kind: 'ignore' }
  const unit = value.slice(0, eq)
  if (!TCHAR.test(unit) || unit.toLowerCase() !== 'bytes') return { kind: 'ignore' }
  const elements = value.slice(eq + 1).split(',').map(stripOws).filter((e) => e !== '')
  if (elements.length === 0) return { kind: 'ignore' }
  const specs: Spec[] = []
  for (const element of elements) {
    const spec = parseSpec(element)
    if (spec === null) return { kind: 'ignore' }
    if ('first' in spec && spec.last !== null && spec.last < spec.first) return { kind: 'ignore' }
    specs.push(spec)
  }
  const length = BigInt(size)
  const selected: ByteRange[] = []
  let suffixOnEmpty = false
  for (const spec of specs) {
    if ('suffix' in spec) {
      if (spec.suffix === 0n) continue
      // §14.1.1: the only satisfiable form on an empty body; a 206 cannot say `bytes 0--1/0`.
      if (length === 0n) { suffixOnEmpty = true; continue }
      const start = spec.suffix >= length ? 0n : length - spec.suffix
      selected.push({ start: Number(start), end: size - 1 })
    } else {
      if (spec.first >= length) continue
      const end = spec.last === null || spec.last >= length ? length - 1n : spec.last
      selected.push({ start: Number(spec.first), end: Number(end) })
    }
  }
  if (suffixOnEmpty) return { kind: 'ignore' }
  if (selected.length === 0) return { kind: 'unsatisfiable' }
  const runs = coalesce(size, selected)
  return runs.length > MAX_MODEL_RANGES ? { kind: 'ignore' } : { kind: 'partial', ranges: runs }
}

/** Maximal runs of covered bytes, in the order of the first request touching each run. */
function coalesce (size: number, ranges: ByteRange[]): ByteRange[] {
  const covered = new Uint8Array(size)
  for (const r of ranges) covered.fill(1, r.start, r.end + 1)
  const runs: ByteRange[] = []
  for (let i = 0; i < size; i++) {
    if (covered[i] === 1 && (i === 0 || covered[i - 1] === 0)) runs.push({ start: i, end: i })
    if (covered[i] === 1) (runs.at(-1) as ByteRange).end = i
  }
  const firstAsked = (run: ByteRange): number => ranges.findIndex((r) => r.start >= run.start && r.end <= run.end)
  return runs.sort((a, b) => firstAsked(a) - firstAsked(b))
}
