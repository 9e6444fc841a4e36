// Name resolution for the abuse tests, injected at the process boundary (Upstream's `lookup`):
// the connections stay real, only the DNS answer is scripted, and it is always a loopback
// address, so no test ever sends a packet off this machine (issue #5).
//
// Belt and braces for "even when the code under test is wrong": every test name starts with a
// 64-character label. DNS labels are at most 63 octets (RFC 1035 §2.3.4), so if dsmirror ever
// bypassed this resolver and asked the system's, getaddrinfo refuses to build the query and no
// packet reaches the configured nameserver (checked with strace against glibc). URL parsing and
// `*.suffix` allowHosts entries accept such names, so they still reach the code under test.
import dns, { type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP, type LookupFunction } from 'node:net'

/** A label no DNS query can carry (64 > 63 octets). */
export const UNSENDABLE_LABEL = 'x'.repeat(64)

/** `canary.test` → `<64 x>.canary.test`: a name only the test resolver can answer. */
export function testName (suffix: string): string {
  return `${UNSENDABLE_LABEL}.${suffix}`
}

/** Loopback and the spellings that end up there: 127/8, ::1, IPv4-mapped 127/8, 0.0.0.0. */
const LOOPBACK_ONLY = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|0\.0\.0\.0)$/

/** An answer: addresses, or a function of how often the name was asked (for rebinding). */
export type Answer = string[] | ((call: number) => string[])

export interface TestResolver {
  lookup: LookupFunction
  /** Every name asked, in order. */
  calls: string[]
}

/**
 * Resolves the names in `answers` (case-insensitive, one trailing dot ignored); anything else is
 * ENOTFOUND, never a real lookup — except `localhost` with `systemLocalhost`, which goes to the
 * real resolver, where /etc/hosts answers it without a packet (nsswitch "files" comes first).
 */
export function createTestResolver (answers: Record<string, Answer>, opts: { systemLocalhost?: boolean } = {}): TestResolver {
  const calls: string[] = []
  const table = new Map(Object.entries(answers).map(([name, answer]) => [name.toLowerCase(), answer]))
  for (const answer of table.values()) {
    if (Array.isArray(answer)) assertLoopback(answer)
  }
  const lookup = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    const name = hostname.toLowerCase().replace(/\.$/, '')
    calls.push(name)
    if (name === 'localhost' && opts.systemLocalhost === true) {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err === null) assertLoopback(addresses.map((a) => a.address))
        if (err !== null || options.all === true) callback(err, addresses)
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family)
      })
      return
    }
    const answer = table.get(name)
    const asked = calls.filter((c) => c === name).length
    const addresses = answer === undefined ? [] : assertLoopback(typeof answer === 'function' ? answer(asked) : answer)
    const found: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address) }))
      .filter((a) => options.family === undefined || options.family === 0 || options.family === a.family)
    setImmediate(() => {
      const first = found[0]
      if (first === undefined) {
        const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname} (test resolver)`)
        err.code = 'ENOTFOUND'
        callback(err, options.all === true ? [] : '')
      } else if (options.all === true) {
        callback(null, found)
      } else {
        callback(null, first.address, first.family)
      }
    })
  }
  return { lookup: lookup as LookupFunction, calls }
}

function assertLoopback (addresses: string[]): string[] {
  for (const address of addresses) {
    if (!LOOPBACK_ONLY.test(address)) throw new Error(`test resolver: '${address}' is not a loopback address; tests never send packets off this machine`)
  }
  return addresses
}
