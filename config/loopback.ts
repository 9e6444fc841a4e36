// Whether an address is this machine's loopback. The admin API accepts mutations without a token
// only from loopback (docs/design.md "Operations"), so for a request this is decided from the
// socket alone, never from X-Forwarded-For (no trustProxy): a header is the client's to forge.
// The config uses the same decision for listen hosts (issue 17: a listener beyond loopback needs
// admin.token or admin.openOnNetwork), which is why it lives here: imports point down.
import { isIP, isIPv4, isIPv6 } from 'node:net'

/** A listen host that only this machine can reach: a loopback literal, or `localhost`. */
export function isLoopbackHost (host: string): boolean {
  const plain = host.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase()
  return isIP(plain.split('%')[0] ?? '') !== 0 ? isLoopbackAddress(plain) : plain === 'localhost'
}

/**
 * True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z, which a dual-stack
 * listener on :: reports for IPv4 clients), in any spelling Node may report. An absent address
 * (a destroyed socket) is not loopback.
 */
export function isLoopbackAddress (address: string | undefined): boolean {
  if (address === undefined) return false
  // A zone index (fe80::1%eth0) names an interface, not part of the address.
  const plain = address.split('%')[0]?.toLowerCase() ?? ''
  if (isIPv4(plain)) return plain.startsWith('127.')
  if (!isIPv6(plain)) return false
  const words = ipv6Words(plain)
  if (words === null) return false
  const zeros = (count: number): boolean => words.slice(0, count).every((w) => w === 0)
  if (zeros(7) && words[7] === 1) return true
  // ::ffff:a.b.c.d: the IPv4 address sits in the last two words.
  return zeros(5) && words[5] === 0xffff && ((words[6] ?? 0) >> 8) === 127
}

/** The eight 16-bit words of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function ipv6Words (address: string): number[] | null {
  let text = address
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (isIPv4(tail)) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number)
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((w) => parseInt(w, 16))
  const left = parse(head)
  const right = rest === undefined ? [] : parse(rest)
  const fill = rest === undefined ? 0 : 8 - left.length - right.length
  const words = [...left, ...new Array<number>(fill).fill(0), ...right]
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null
}
