import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

// A port the kernel had free on 127.0.0.1 a moment ago. Ports are taken together, all held
// open until the last is chosen, so one call never returns the same port twice.
export async function pickFreePorts (count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  try {
    return await Promise.all(servers.map(async (server) => await new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => { resolve((server.address() as AddressInfo).port) })
    })))
  } finally {
    await Promise.all(servers.map(async (server) => await new Promise<void>((resolve) => {
      if (server.listening) server.close(() => { resolve() })
      else resolve()
    })))
  }
}
