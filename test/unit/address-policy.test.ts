// The address classifier and policy behind DSM_UPSTREAM_FORBIDDEN_ADDRESS. The private,
// link-local, metadata and IPv4-mapped ranges are proved here, on the classifier, never by
// connecting: no test may send a packet to a non-loopback address (issue #5).
//
// A table pins the edges of every range; fast-check properties prove that every IPv6 spelling
// that reaches an IPv4 address (mapped, NAT64, 6to4, upper case, uncompressed) is classified as
// that IPv4 address, and that the IPv4 classification equals an independent numeric reference.
import fc from 'fast-check'
import t from 'tap'
import { ADDRESS_CLASSES, AddressPolicy, classifyAddress, embeddedIpv4, parseCidr, type AddressClass } from '../../server/upstream/address-policy.js'

const RUNS = 2000

const TABLE: Array<[string, AddressClass]> = [
  // loopback
  ['127.0.0.1', 'loopback'], ['127.0.0.2', 'loopback'], ['127.255.255.255', 'loopback'], ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  // unspecified ("this network": Linux connects 0.0.0.0 to the local host)
  ['0.0.0.0', 'unspecified'], ['0.255.255.255', 'unspecified'], ['::', 'unspecified'], ['0:0:0:0:0:0:0:0', 'unspecified'],
  // private: RFC 1918, CGNAT (RFC 6598), ULA, site-local
  ['10.0.0.0', 'private'], ['10.255.255.255', 'private'], ['172.16.0.0', 'private'], ['172.31.255.255', 'private'],
  ['192.168.0.1', 'private'], ['192.168.255.255', 'private'], ['100.64.0.0', 'private'], ['100.127.255.255', 'private'],
  ['fc00::', 'private'], ['fd12:3456:789a::1', 'private'], ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
  ['fec0::1', 'private'],
  // link-local
  ['169.254.0.0', 'link-local'], ['169.254.1.1', 'link-local'], ['169.254.255.255', 'link-local'],
  ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['febf:ffff::1', 'link-local'],
  // cloud metadata
  ['169.254.169.254', 'metadata'], ['169.254.170.2', 'metadata'], ['100.100.100.200', 'metadata'], ['192.0.0.192', 'metadata'],
  ['fd00:ec2::254', 'metadata'], ['fd00:ec2:0:0:0:0:0:254', 'metadata'],
  // multicast
  ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['ff02::1', 'multicast'], ['ff05::1:3', 'multicast'],
  // reserved
  ['240.0.0.1', 'reserved'], ['255.255.255.255', 'reserved'], ['192.0.2.1', 'reserved'], ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'], ['198.18.0.1', 'reserved'], ['198.19.255.255', 'reserved'], ['192.0.0.8', 'reserved'],
  ['192.88.99.1', 'reserved'], ['2001:db8::1', 'reserved'], ['3fff::1', 'reserved'], ['100::1', 'reserved'],
  ['2001::1', 'reserved'], ['::1.2.3.4', 'reserved'], ['::ffff:0:1.2.3.4', 'reserved'], ['64:ff9b:1::1', 'reserved'],
  ['5f00::1', 'reserved'], ['4000::1', 'reserved'], ['e000::1', 'reserved'],
  // public: the neighbours of every range
  ['1.1.1.1', 'public'], ['8.8.8.8', 'public'], ['9.255.255.255', 'public'], ['11.0.0.0', 'public'],
  ['172.15.255.255', 'public'], ['172.32.0.0', 'public'], ['192.167.255.255', 'public'], ['192.169.0.0', 'public'],
  ['100.63.255.255', 'public'], ['100.128.0.0', 'public'], ['169.253.255.255', 'public'], ['169.255.0.0', 'public'],
  ['126.255.255.255', 'public'], ['128.0.0.0', 'public'], ['223.255.255.255', 'public'], ['198.17.255.255', 'public'],
  ['198.20.0.0', 'public'], ['2606:4700::1111', 'public'], ['2a00:1450:4001::200e', 'public'], ['2600::', 'public'],
  ['fbff:ffff::1', 'reserved'], ['fe00::1', 'reserved'],
  // IPv6 forms that reach an IPv4 address are classified by that address
  ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['::FFFF:7F00:0002', 'loopback'],
  ['0:0:0:0:0:ffff:7f00:1', 'loopback'], ['::ffff:169.254.169.254', 'metadata'], ['::ffff:a9fe:a9fe', 'metadata'],
  ['::ffff:10.1.2.3', 'private'], ['::ffff:0.0.0.0', 'unspecified'], ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::127.0.0.1', 'loopback'], ['64:ff9b::a9fe:a9fe', 'metadata'], ['64:ff9b::c0a8:101', 'private'],
  ['64:ff9b::808:808', 'public'], ['2002:7f00:1::', 'loopback'], ['2002:a9fe:a9fe::1', 'metadata'],
  ['2002:0a00:0001::1', 'private'], ['2002:808:808::1', 'public']
]

t.test('every range edge, by table', async (t) => {
  for (const [address, expected] of TABLE) t.equal(classifyAddress(address), expected, `${address} is ${expected}`)
})

t.test('non-canonical spellings are not addresses: the classifier never guesses', async (t) => {
  // dns.lookup and net only ever hand over canonical dotted quads; octal, hex and short forms
  // are the URL parser's business (server/upstream/allowlist.ts canonicalises them before any check).
  for (const text of ['2130706433', '0177.0.0.1', '0x7f.0.0.1', '127.1', '127.0.0.1.', '[::1]', 'localhost', '', ' 127.0.0.1', '1.2.3.4/8']) {
    t.throws(() => classifyAddress(text), TypeError, `'${text}' is refused`)
  }
  fc.assert(fc.property(fc.ipV4Extended(), (text) => {
    // ipV4Extended mixes decimal, octal and hex parts: only the plain dotted-quad ones are addresses.
    if (/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/.test(text)) return ADDRESS_CLASSES.includes(classifyAddress(text))
    let threw = false
    try { classifyAddress(text) } catch (err: unknown) { threw = err instanceof TypeError }
    return threw
  }), { numRuns: RUNS })
})

/** An independent reference for IPv4, on the 32-bit number: the ranges written out by hand. */
function referenceV4 (n: number): AddressClass {
  const inRange = (base: number, prefix: number): boolean => prefix === 0 || (n >>> (32 - prefix)) === (base >>> (32 - prefix))
  const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) >>> 0) + (b << 16) + (c << 8) + d
  if ([ip(169, 254, 169, 254), ip(169, 254, 170, 2), ip(100, 100, 100, 200), ip(192, 0, 0, 192)].includes(n)) return 'metadata'
  if (inRange(ip(0, 0, 0, 0), 8)) return 'unspecified'
  if (inRange(ip(127, 0, 0, 0), 8)) return 'loopback'
  if (inRange(ip(169, 254, 0, 0), 16)) return 'link-local'
  if (inRange(ip(10, 0, 0, 0), 8) || inRange(ip(172, 16, 0, 0), 12) || inRange(ip(192, 168, 0, 0), 16) || inRange(ip(100, 64, 0, 0), 10)) return 'private'
  if (inRange(ip(224, 0, 0, 0), 4)) return 'multicast'
  if (inRange(ip(240, 0, 0, 0), 4) || inRange(ip(192, 0, 0, 0), 24) || inRange(ip(192, 0, 2, 0), 24) ||
    inRange(ip(198, 51, 100, 0), 24) || inRange(ip(203, 0, 113, 0), 24) || inRange(ip(192, 88, 99, 0), 24) ||
    inRange(ip(198, 18, 0, 0), 15)) return 'reserved'
  return 'public'
}

const dotted = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.')
const hex16 = (n: number): string => (n & 0xffff).toString(16)
/** Addresses biased towards the special ranges, where mistakes hide, plus anything at all. */
const anyV4 = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0x00000000, 0x7f000000, 0xa9fe0000, 0x0a000000, 0xac100000, 0xc0a80000, 0x64400000, 0xe0000000, 0xf0000000, 0xc6120000, 0xc0000000)
    .chain((base) => fc.integer({ min: 0, max: 0xffff }).map((low) => (base + low) >>> 0)),
  fc.constantFrom(0xa9fea9fe, 0xa9feaa02, 0x646464c8, 0xc00000c0, 0x7f000001, 0xffffffff)
)

t.test('IPv4: the classifier equals the numeric reference', async (t) => {
  fc.assert(fc.property(anyV4, (n) => classifyAddress(dotted(n)) === referenceV4(n)), { numRuns: RUNS * 5 })
  t.pass(`${RUNS * 5} addresses`)
})

t.test('every IPv6 form that reaches an IPv4 address is classified as that address', async (t) => {
  fc.assert(fc.property(anyV4, (n) => {
    const v4 = dotted(n)
    const hi = hex16(n >>> 16)
    const lo = hex16(n)
    const expected = classifyAddress(v4)
    const forms = [
      `::ffff:${v4}`, `::ffff:${hi}:${lo}`, `0:0:0:0:0:ffff:${hi}:${lo}`, `::FFFF:${hi.toUpperCase()}:${lo.toUpperCase()}`,
      `0000:0000:0000:0000:0000:ffff:${hi.padStart(4, '0')}:${lo.padStart(4, '0')}`,
      `64:ff9b::${v4}`, `64:ff9b::${hi}:${lo}`, `64:ff9b:0:0:0:0:${hi}:${lo}`,
      `2002:${hi}:${lo}::`, `2002:${hi}:${lo}:1234::1`
    ]
    return forms.every((form) => embeddedIpv4(form) === v4 && classifyAddress(form) === expected)
  }), { numRuns: RUNS })
  t.pass()
})

/** An IPv6 address as 8 16-bit words; spelled out uncompressed, compressed by Node, upper-cased. */
const words = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
const spellings = (w: number[]): string[] => {
  const full = w.map((x) => x.toString(16)).join(':')
  const canonical = new URL(`http://[${full}]/`).hostname.slice(1, -1)
  return [full, w.map((x) => x.toString(16).padStart(4, '0')).join(':'), canonical, canonical.toUpperCase()]
}

t.test('IPv6: every spelling of one address has one class, and the class is total', async (t) => {
  fc.assert(fc.property(fc.oneof(words, fc.constantFrom(0xfe80, 0xfc00, 0xfd00, 0xff02, 0x2002, 0x2001, 0x64).chain((first) => words.map((w) => [first, ...w.slice(1)]))), (w) => {
    const classes = new Set(spellings(w).map(classifyAddress))
    return classes.size === 1 && ADDRESS_CLASSES.includes([...classes][0] as AddressClass)
  }), { numRuns: RUNS })
  fc.assert(fc.property(fc.ipV6(), (address) => ADDRESS_CLASSES.includes(classifyAddress(address))), { numRuns: RUNS })
  t.pass()
})

t.test('IPv6 ranges by prefix', async (t) => {
  const suffix = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 7, maxLength: 7 })
  const spell = (first: number, rest: number[]): string => [first, ...rest].map((x) => x.toString(16)).join(':')
  const cases: Array<[string, number, number, AddressClass]> = [
    ['fe80::/10', 0xfe80, 0xfebf, 'link-local'],
    ['fc00::/7', 0xfc00, 0xfdff, 'private'],
    ['ff00::/8', 0xff00, 0xffff, 'multicast'],
    ['fec0::/10', 0xfec0, 0xfeff, 'private']
  ]
  for (const [range, min, max, expected] of cases) {
    fc.assert(fc.property(fc.integer({ min, max }), suffix, (first, rest) => {
      const address = spell(first, rest)
      // The one metadata address inside fc00::/7 is the only exception.
      return classifyAddress(address) === expected || (address === 'fd00:ec2:0:0:0:0:0:254')
    }), { numRuns: RUNS })
    t.pass(`${range} is ${expected}`)
  }
  fc.assert(fc.property(fc.integer({ min: 0x2400, max: 0x3ffe }), suffix, (first, rest) => classifyAddress(spell(first, rest)) === 'public'), { numRuns: RUNS })
  t.pass('2400::-3ffe:: (global unicast, none of it special) is public')
})

t.test('parseCidr', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8 })
  t.same(parseCidr(' fd00::/8 '), { address: 'fd00::', prefix: 8 })
  t.same(parseCidr('10.1.2.3'), { address: '10.1.2.3', prefix: 32 }, 'a bare address is itself')
  t.same(parseCidr('::1'), { address: '::1', prefix: 128 })
  t.same(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', prefix: 0 })
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/8/8', '10/8', 'localhost/8', '10.0.0.0/', '10.0.0.0/x', '[::1]/128', 'fe80::1%eth0/64', '', '10.0.0.0/0008']) {
    t.equal(parseCidr(bad), null, `'${bad}' is refused`)
  }
})

t.test('policy: public always, other classes only inside allowAddresses, metadata only by name', async (t) => {
  const none = new AddressPolicy([])
  for (const [address, cls] of TABLE) t.equal(none.check(address).allowed, cls === 'public', `default: ${address} (${cls})`)

  const corp = new AddressPolicy(['10.0.0.0/8', '127.0.0.0/8', 'fd00::/8', '169.254.0.0/16'])
  t.same(corp.check('10.20.30.40'), { allowed: true, class: 'private' })
  t.same(corp.check('127.0.0.2'), { allowed: true, class: 'loopback' })
  t.same(corp.check('::ffff:127.0.0.2'), { allowed: true, class: 'loopback' }, 'an IPv4-mapped address is checked as its IPv4 address')
  t.same(corp.check('64:ff9b::a14:1e28'), { allowed: true, class: 'private' }, 'NAT64 to 10.20.30.40')
  t.same(corp.check('fd12::1'), { allowed: true, class: 'private' })
  t.same(corp.check('192.168.1.1'), { allowed: false, class: 'private' })
  t.same(corp.check('::1'), { allowed: false, class: 'loopback' }, '127.0.0.0/8 is not ::1')
  t.same(corp.check('169.254.1.1'), { allowed: true, class: 'link-local' })
  t.same(corp.check('169.254.169.254'), { allowed: false, class: 'metadata' }, 'a range never opens a metadata address')
  t.same(corp.check('fd00:ec2::254'), { allowed: false, class: 'metadata' })

  const everything = new AddressPolicy(['0.0.0.0/0', '::/0'])
  t.same(everything.check('192.168.1.1'), { allowed: true, class: 'private' })
  t.same(everything.check('169.254.169.254').allowed, false, 'not even 0.0.0.0/0')
  t.same(everything.check('::ffff:169.254.169.254').allowed, false)

  const named = new AddressPolicy(['169.254.169.254/32', 'fd00:ec2::254'])
  t.same(named.check('169.254.169.254'), { allowed: true, class: 'metadata' }, 'naming the address itself opens it')
  t.same(named.check('::ffff:169.254.169.254'), { allowed: true, class: 'metadata' })
  t.same(named.check('fd00:ec2::254'), { allowed: true, class: 'metadata' })
  t.same(named.check('169.254.170.2'), { allowed: false, class: 'metadata' })

  t.throws(() => new AddressPolicy(['10.0.0.0/33']), TypeError)
})
