// Range header values for property tests (unit and integration): mostly well-formed bytes
// range-sets around the boundaries of a body of `size` bytes, plus the spellings parsers disagree
// on (unit case, OWS, empty list elements, last < first, huge and zero-padded numbers, junk).
// Only characters a header value may carry; leading and trailing OWS are stripped, as Node's
// parser does before the application sees the value.
import fc from 'fast-check'

export function rangeHeader (size: number): fc.Arbitrary<string> {
  const boundary = fc.constantFrom(0, 1, size - 1, size, size + 1, Math.floor(size / 2)).filter((n) => n >= 0)
  const pos = fc.oneof(boundary, fc.integer({ min: 0, max: size + 10 })).map(String)
  const number = fc.oneof(
    { weight: 12, arbitrary: pos },
    { weight: 1, arbitrary: pos.map((p) => `00${p}`) },
    { weight: 1, arbitrary: fc.constantFrom('99999999999999999999', '9007199254740993', '18446744073709551616') }
  )
  const intRange = fc.tuple(number, fc.option(number, { nil: '' })).map(([a, b]) => `${a}-${b}`)
  const suffix = number.map((n) => `-${n}`)
  const junk = fc.constantFrom('', '-', 'a-b', '1-2-3', '0 -1', '0- 1', '+1-2', '1', '--1', '0x1-2', '1.0-2', '1-2;x')
  const spec = fc.oneof({ weight: 6, arbitrary: intRange }, { weight: 4, arbitrary: suffix }, { weight: 1, arbitrary: junk })
  const sep = fc.constantFrom(',', ',', ', ', ' ,', ',\t', ' , ', ',,', ', ,')
  const unit = fc.constantFrom('bytes', 'bytes', 'bytes', 'bytes', 'bytes', 'BYTES', 'Bytes', 'items', 'byte', 'bytes ', 'none', '')
  const eq = fc.constantFrom('=', '=', '=', '=', '= ', '==', '')
  const structured = fc.tuple(unit, eq, fc.array(fc.tuple(spec, sep), { maxLength: 5 }), spec)
    .map(([u, e, rest, last]) => `${u}${e}${rest.map(([s, c]) => s + c).join('')}${last}`)
  const chars = fc.constantFrom(...'bytes=0123456789-, \t;aB'.split(''))
  const random = fc.string({ unit: chars, maxLength: 30 })
  return fc.oneof({ weight: 9, arbitrary: structured }, { weight: 1, arbitrary: random })
    .map((value) => value.replace(/^[ \t]+|[ \t]+$/g, ''))
}
