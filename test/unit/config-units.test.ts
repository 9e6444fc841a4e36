import t from 'tap'

import { formatDuration, formatSize, parseDuration, parseSize } from '../../config/units.js'

t.test('parseSize reads bytes and unit strings', async (t) => {
  const table: Array<[unknown, number]> = [
    [0, 0],
    [1073741824, 1073741824],
    ['1073741824', 1073741824],
    ['123B', 123],
    ['800KB', 800_000],
    ['800kb', 800_000],
    ['500MB', 500_000_000],
    ['10GB', 10_000_000_000],
    ['50GiB', 50 * 2 ** 30],
    ['50gib', 50 * 2 ** 30],
    ['500MiB', 500 * 2 ** 20],
    ['1.5TiB', 1.5 * 2 ** 40],
    ['2TB', 2e12],
    ['10 GiB', 10 * 2 ** 30],
    [' 4KiB ', 4096],
    // One-letter shorthands are binary, as in nginx, Docker and the JVM.
    ['10k', 10 * 1024],
    ['512M', 512 * 2 ** 20],
    ['2g', 2 * 2 ** 30],
    ['1T', 2 ** 40],
    ['0.5KB', 500],
    ['1.9B', 1]
  ]
  for (const [input, bytes] of table) t.equal(parseSize(input), bytes, `${JSON.stringify(input)} → ${bytes}`)
})

t.test('parseSize rejects negatives, NaN and garbage with a fix', async (t) => {
  for (const input of ['50XB', '-1GiB', -1, Number.NaN, Number.POSITIVE_INFINITY, 'GiB', '', '1e3', '5 G B', '1,000', true, null, undefined, {}, [], 2 ** 60]) {
    t.throws(() => parseSize(input), RangeError, `${String(input)} is rejected`)
  }
  t.throws(() => parseSize('50XB'), { message: "'50XB' is not a size. Write it like 50GiB, 500MB or 1073741824." })
})

t.test('parseDuration reads milliseconds and unit strings', async (t) => {
  const table: Array<[unknown, number]> = [
    [0, 0],
    [1500, 1500],
    ['1500', 1500],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['5M', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['10 seconds', 10_000],
    ['2 minutes', 120_000],
    ['1day', 86_400_000],
    [0.4, 0]
  ]
  for (const [input, ms] of table) t.equal(parseDuration(input), ms, `${JSON.stringify(input)} → ${ms}`)
})

t.test('parseDuration rejects negatives, NaN and garbage with a fix', async (t) => {
  for (const input of ['-5s', -1, Number.NaN, '5 parsecs', 's', '', '1y', '1h-5m', '5s5', true, null, undefined, {}, []]) {
    t.throws(() => parseDuration(input), RangeError, `${String(input)} is rejected`)
  }
  t.throws(() => parseDuration('soon'), { message: "'soon' is not a duration. Write it like 250ms, 30s, 5m, 1h or 7d, or a number of milliseconds." })
})

t.test('formatSize and formatDuration give the shortest exact form', async (t) => {
  t.equal(formatSize(50 * 2 ** 30), '50GiB')
  t.equal(formatSize(500_000_000), '500MB')
  t.equal(formatSize(123), '123B')
  t.equal(formatSize(0), '0B')
  t.equal(parseSize(formatSize(1536)), 1536)
  t.equal(formatDuration(604_800_000), '7d')
  t.equal(formatDuration(250), '250ms')
  t.equal(formatDuration(90_000), '90s')
  t.equal(formatDuration(0), '0ms')
  t.equal(parseDuration(formatDuration(5_400_000)), 5_400_000)
})
