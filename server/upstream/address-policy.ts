// Which IP addresses dsmirror may connect to after resolving an upstream name (SSRF defence).
// A name in allowHosts says which *name* the operator trusts, not where DNS may point it: a
// dataset host whose record is changed (or rebound, the DNS-rebinding attack class) to 127.0.0.1,
// 10.x or 169.254.169.254 would otherwise turn the mirror into a way into the local network and
// the cloud metadata service (the Capital One 2019 breach was SSRF to 169.254.169.254).
//
// classifyAddress is pure: it names the class of one address from the IANA special-purpose
// registries (RFC 6890; iana-ipv4/ipv6-special-registry). IPv6 forms that carry an IPv4
// address and reach it — IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), NAT64 64:ff9b::/96
// (RFC 6052) and 6to4 2002::/16 (RFC 3056) — are classified by the IPv4 address they reach, so
// `::ffff:127.0.0.1` is loopback and `64:ff9b::a9fe:a9fe` is metadata.
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net'

export const ADDRESS_CLASSES = ['loopback', 'private', 'link-local', 'metadata', 'unspecified', 'multicast', 'reserved', 'public'] as const
export type AddressClass = typeof ADDRESS_CLASSES[number]

type Family = 'ipv4' | 'ipv6'
type Ranges = ReadonlyArray<readonly [address: string, prefix: number]>

function blockList (family: Family, ranges: Ranges): BlockList {
  const list = new BlockList()
  for (const [address, prefix] of ranges) list.addSubnet(address, prefix, family)
  return list
}

// Cloud instance metadata services: credentials live there. Checked before the wider ranges
// that contain them (169.254/16, 100.64/10, fc00::/7, 192.0.0/24).
const METADATA_V4 = blockList('ipv4', [
  ['169.254.169.254', 32], // AWS, GCP, Azure, OpenStack, Oracle Cloud, DigitalOcean
  ['169.254.170.2', 32], // AWS ECS task credentials endpoint
  ['100.100.100.200', 32], // Alibaba Cloud
  ['192.0.0.192', 32] // Oracle Cloud Infrastructure (classic)
])
const METADATA_V6 = blockList('ipv6', [['fd00:ec2::254', 128]]) // AWS IMDS over IPv6

// The order is the order of the checks: the first class whose ranges hold the address wins.
const V4: ReadonlyArray<readonly [AddressClass, BlockList]> = [
  ['metadata', METADATA_V4],
  // 0.0.0.0/8 is "this network" (RFC 791); Linux connects 0.0.0.0 to the local host, a classic
  // SSRF spelling of localhost.
  ['unspecified', blockList('ipv4', [['0.0.0.0', 8]])],
  ['loopback', blockList('ipv4', [['127.0.0.0', 8]])],
  ['link-local', blockList('ipv4', [['169.254.0.0', 16]])],
  // RFC 1918 and the shared address space of carrier-grade NAT (RFC 6598), which cloud VPCs
  // (and Tailscale) use for internal hosts.
  ['private', blockList('ipv4', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]])],
  ['multicast', blockList('ipv4', [['224.0.0.0', 4]])],
  ['reserved', blockList('ipv4', [
    ['192.0.0.0', 24], // IETF protocol assignments (RFC 6890)
    ['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24], // documentation (RFC 5737)
    ['192.88.99.0', 24], // 6to4 relay anycast, deprecated (RFC 7526)
    ['198.18.0.0', 15], // benchmarking (RFC 2544)
    ['240.0.0.0', 4] // reserved (RFC 1112), including the broadcast 255.255.255.255
  ])]
]

const V6: ReadonlyArray<readonly [AddressClass, BlockList]> = [
  ['metadata', METADATA_V6],
  ['unspecified', blockList('ipv6', [['::', 128]])],
  ['loopback', blockList('ipv6', [['::1', 128]])],
  ['link-local', blockList('ipv6', [['fe80::', 10]])],
  // Unique local (RFC 4193) and the deprecated site-local fec0::/10 (RFC 3879), still routed
  // inside some networks.
  ['private', blockList('ipv6', [['fc00::', 7], ['fec0::', 10]])],
  ['multicast', blockList('ipv6', [['ff00::', 8]])],
  ['reserved', blockList('ipv6', [
    ['::', 96], // IPv4-compatible, deprecated (RFC 4291 §2.5.5.1): not routed, never a real host
    ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765)
    ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translates into the local network
    ['100::', 64], // discard-only (RFC 6666)
    ['2001::', 23], // IETF protocol assignments, Teredo 2001::/32 among them (RFC 2928, 4380)
    ['2001:db8::', 32], ['3fff::', 20], // documentation (RFC 3849, RFC 9637)
    ['5f00::', 16] // SRv6 SIDs (RFC 9602)
  ])]
]
/** Global unicast (RFC 4291 §2.4): anything else in IPv6 is unassigned, so not public. */
const GLOBAL_UNICAST_V6 = blockList('ipv6', [['2000::', 3]])

/** The 16 bytes of a valid IPv6 text (zone already removed). */
function ipv6Bytes (text: string): number[] {
  let head = text
  const tail: number[] = []
  // A trailing dotted quad (::ffff:1.2.3.4) is the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(head)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    tail.push((a << 8) | b, (c << 8) | d)
    head = head.slice(0, dotted.index)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const [left = '', right] = head.split('::')
  const groups = (part: string): number[] => part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const l = groups(left)
  const r = [...(right === undefined ? [] : groups(right)), ...tail]
  const words = right === undefined ? [...l, ...tail] : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r]
  return words.flatMap((w) => [w >> 8, w & 0xff])
}

function ipv4Text (bytes: number[], at: number): string {
  return bytes.slice(at, at + 4).join('.')
}

/**
 * The IPv4 address an IPv6 address reaches, for the forms that reach one: IPv4-mapped
 * (::ffff:0:0/96), NAT64 well-known prefix (64:ff9b::/96, RFC 6052 §2.1) and 6to4 (2002::/16,
 * the IPv4 address in bits 16-47, RFC 3056 §2). Null for any other IPv6 address.
 */
export function embeddedIpv4 (address: string): string | null {
  if (!isIPv6(address)) return null
  const b = ipv6Bytes(stripZone(address))
  const zeros = (from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0)
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return ipv4Text(b, 12)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return ipv4Text(b, 12)
  if (b[0] === 0x20 && b[1] === 0x02) return ipv4Text(b, 2)
  return null
}

/** `fe80::1%eth0` → `fe80::1`: a zone names an interface, not a different address. */
function stripZone (address: string): string {
  const at = address.indexOf('%')
  return at === -1 ? address : address.slice(0, at)
}

function classifyV4 (address: string): AddressClass {
  return V4.find(([, list]) => list.check(address, 'ipv4'))?.[0] ?? 'public'
}

/** The class of an IP address (IPv4 dotted quad or IPv6 text, as dns.lookup returns them). Throws a TypeError for anything else. */
export function classifyAddress (address: string): AddressClass {
  if (isIPv4(address)) return classifyV4(address)
  if (!isIPv6(address)) throw new TypeError(`'${address}' is not an IP address`)
  const v6 = stripZone(address)
  const v4 = embeddedIpv4(v6)
  if (v4 !== null) return classifyV4(v4)
  const found = V6.find(([, list]) => list.check(v6, 'ipv6'))?.[0]
  if (found !== undefined) return found
  return GLOBAL_UNICAST_V6.check(v6, 'ipv6') ? 'public' : 'reserved'
}

/** One `upstream.allowAddresses` entry: an address and a prefix length, already validated. */
export interface AllowedRange { address: string; prefix: number }

/** `10.0.0.0/8` → { address: '10.0.0.0', prefix: 8 }; a bare address is a single-address range. Null when malformed. */
export function parseCidr (text: string): AllowedRange | null {
  const [address = '', prefixText, extra] = text.trim().split('/')
  if (extra !== undefined || isIP(address) === 0 || address.includes('%')) return null
  const max = isIPv4(address) ? 32 : 128
  if (prefixText === undefined) return { address, prefix: max }
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null
  return { address, prefix: Number(prefixText) }
}

/**
 * The policy for resolved addresses: public addresses are always allowed; any other class only
 * inside `upstream.allowAddresses` (a team server on 10.x, a chained cache on 127.0.0.1). A
 * metadata address is never opened by a range, only by an entry naming that address itself,
 * so `0.0.0.0/0` or `169.254.0.0/16` cannot hand out cloud credentials by accident.
 */
export class AddressPolicy {
  readonly #ranges = new BlockList()
  readonly #exact = new BlockList()

  constructor (allowAddresses: readonly string[]) {
    for (const entry of allowAddresses) {
      const range = parseCidr(entry)
      if (range === null) throw new TypeError(`upstream.allowAddresses entry '${entry}' is not an address or CIDR range`)
      const family: Family = isIPv4(range.address) ? 'ipv4' : 'ipv6'
      this.#ranges.addSubnet(range.address, range.prefix, family)
      if (range.prefix === (family === 'ipv4' ? 32 : 128)) this.#exact.addAddress(range.address, family)
    }
  }

  /** Whether dsmirror may connect to `address`, and the address's class (for the refusal message). */
  check (address: string): { allowed: boolean; class: AddressClass } {
    const cls = classifyAddress(address)
    if (cls === 'public') return { allowed: true, class: cls }
    const list = cls === 'metadata' ? this.#exact : this.#ranges
    const v4 = isIPv4(address) ? address : embeddedIpv4(address)
    const allowed = (v4 !== null && list.check(v4, 'ipv4')) || (isIPv6(address) && list.check(stripZone(address), 'ipv6'))
    return { allowed, class: cls }
  }
}
