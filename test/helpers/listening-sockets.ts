// The TCP sockets a process is listening on, read from /proc (Linux): the socket inodes among
// its open file descriptors, matched against /proc/<pid>/net/tcp and tcp6 in state LISTEN. Tests
// that assert where a server is reachable read the kernel's answer, not the server's log.
import { readdir, readFile, readlink } from 'node:fs/promises'

export interface ListeningSocket { address: string; port: number }

const LISTEN = '0A'

export async function listeningSockets (pid: number): Promise<ListeningSocket[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match?.[1] !== undefined) inodes.add(match[1])
  }
  const sockets: ListeningSocket[] = []
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const [local, state, inode] = [fields[1], fields[3], fields[9]]
      if (local === undefined || state !== LISTEN || inode === undefined || !inodes.has(inode)) continue
      const [hex = '', portHex = '0'] = local.split(':')
      sockets.push({ address: table === 'tcp' ? ipv4(hex) : ipv6(hex), port: parseInt(portHex, 16) })
    }
  }
  return sockets
}

// /proc prints each 32-bit word of the address in host (little-endian) byte order.
function words (hex: string): number[][] {
  const out: number[][] = []
  for (let i = 0; i < hex.length; i += 8) {
    const word = hex.slice(i, i + 8)
    out.push([6, 4, 2, 0].map((j) => parseInt(word.slice(j, j + 2), 16)))
  }
  return out
}

function ipv4 (hex: string): string {
  return (words(hex)[0] ?? []).join('.')
}

function ipv6 (hex: string): string {
  const bytes = words(hex).flat()
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  // Shortest form is not needed by the tests; '::1' and '::' are the ones they compare.
  const text = groups.join(':')
  if (text === '0:0:0:0:0:0:0:1') return '::1'
  if (text === '0:0:0:0:0:0:0:0') return '::'
  return text
}
