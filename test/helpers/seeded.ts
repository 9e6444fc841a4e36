// Seeded randomness for fault tests: every run prints its seed, and DSMIRROR_TEST_SEED=<n>
// replays exactly the same offsets, delays and choices (issue #5: a fault that failed once
// must be reproducible). mulberry32: tiny, fast, and good enough to spread faults around.

export interface Seeded {
  seed: number
  /** A float in [0, 1). */
  next: () => number
  /** An integer in [min, max]. */
  int: (min: number, max: number) => number
  /** One element of `items`. */
  pick: <T>(items: readonly T[]) => T
}

/** The run's seed: DSMIRROR_TEST_SEED when set, else a fresh one. */
export function testSeed (): number {
  const fromEnv = process.env.DSMIRROR_TEST_SEED
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv) >>> 0
  return Math.floor(Math.random() * 2 ** 32) >>> 0
}

export function seeded (seed: number): Seeded {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(0, items.length - 1)]
    if (item === undefined) throw new RangeError('seeded.pick: no items')
    return item
  }
  return { seed, next, int, pick }
}
