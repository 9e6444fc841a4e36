// Sizes and durations as people write them in a config file or an environment variable.
// Both parsers throw a RangeError whose message names the bad value and shows the accepted forms,
// so config validation can put it straight into its error list.

/**
 * Bytes per unit, keys lower-case (units are matched case-insensitively).
 * KB/MB/GB/TB/PB are decimal (SI), KiB/MiB/GiB/TiB/PiB binary (IEC), as disks and `df -H` count.
 * The one-letter shorthands k/M/G/T/P are BINARY, because that is what every tool that accepts
 * them means (nginx `10m`, Docker `--memory 512m`, Java `-Xmx4g`); case-insensitivity would make
 * `M` and `m` differ otherwise.
 */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50
}

const SIZE_HINT = 'Write it like 50GiB, 500MB or 1073741824.'
const DURATION_HINT = 'Write it like 250ms, 30s, 5m, 1h or 7d, or a number of milliseconds.'

const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i
// One or more `<number><unit>` parts, so `1h30m` works as people expect.
const DURATION_PART_RE = /(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)\s*/giy

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000
}

/** Renders a bad input for an error message: strings quoted, long values cut. */
export function showValue (value: unknown): string {
  let text: string
  if (typeof value === 'string') text = `'${value}'`
  else if (value === undefined) text = 'nothing'
  else if (typeof value === 'number' || typeof value === 'boolean' || value === null) text = String(value)
  else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      text = String(value)
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/**
 * Bytes from a number (bytes) or a string such as `50GiB`, `500MB`, `1.5TiB`, `800KB`, `123B`, `10g`
 * or `1073741824`. Fractions of a byte are dropped. Throws a RangeError for negatives, NaN,
 * unknown units and anything that is not a number or string.
 */
export function parseSize (value: unknown): number {
  let bytes: number | undefined
  if (typeof value === 'number') {
    bytes = value
  } else if (typeof value === 'string') {
    const match = SIZE_RE.exec(value.trim())
    const unit = match?.[2] === '' ? 1 : SIZE_UNITS[match?.[2]?.toLowerCase() ?? '']
    if (match?.[1] !== undefined && unit !== undefined) bytes = Math.floor(Number(match[1]) * unit)
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    throw new RangeError(`${showValue(value)} is not a size. ${SIZE_HINT}`)
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new RangeError(`${showValue(value)} is not a whole number of bytes that fits. ${SIZE_HINT}`)
  }
  return bytes
}

/**
 * Milliseconds from a number (ms) or a string such as `250ms`, `30s`, `5m`, `1h`, `7d`, `2w`,
 * `1h30m` or `1500` (ms). Fractions of a millisecond are rounded. Throws a RangeError for
 * negatives, NaN, unknown units and anything that is not a number or string.
 */
export function parseDuration (value: unknown): number {
  let ms: number | undefined
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const text = value.trim()
    if (/^\d+(?:\.\d+)?$/.test(text)) {
      ms = Number(text)
    } else if (text !== '') {
      ms = 0
      DURATION_PART_RE.lastIndex = 0
      let end = 0
      for (let part = DURATION_PART_RE.exec(text); part !== null; part = DURATION_PART_RE.exec(text)) {
        const unit = DURATION_UNITS[part[2]?.toLowerCase() ?? '']
        if (unit === undefined) {
          ms = undefined
          break
        }
        ms += Number(part[1]) * unit
        end = DURATION_PART_RE.lastIndex
      }
      if (end !== text.length) ms = undefined
    }
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`${showValue(value)} is not a duration. ${DURATION_HINT}`)
  }
  const rounded = Math.round(ms)
  if (!Number.isSafeInteger(rounded)) {
    throw new RangeError(`${showValue(value)} is too long a duration. ${DURATION_HINT}`)
  }
  return rounded
}

/** `53687091200` → `50GiB`; the shortest exact binary form, else decimal, else bytes. For `dsmirror config`. */
export function formatSize (bytes: number): string {
  for (const unit of ['PiB', 'TiB', 'GiB', 'MiB', 'KiB', 'PB', 'TB', 'GB', 'MB', 'KB'] as const) {
    const size = SIZE_UNITS[unit.toLowerCase()] ?? 1
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}B`
}

/** `604800000` → `7d`; the largest unit that divides exactly. For `dsmirror config` and logs. */
export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit] ?? 1
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
