// One e2e test at a time may change the OS trust store: tap runs test files in parallel, and
// update-ca-certificates writes a fixed temp file (/etc/ssl/certs/ca-certificates.crt.new), so
// two runs at once can leave a torn bundle. The lock is a directory (mkdir is atomic) holding
// the owner's pid; a lock whose owner is gone is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { uninstallCa } from '../../certs/trust-store.js'

const LOCK_DIR = join(tmpdir(), 'dsmirror-e2e-trust-store.lock')
const POLL_MS = 50
const WAIT_LIMIT_MS = 120_000

/** Waits for the trust-store lock; resolves with the function that releases it. */
export async function lockTrustStore (): Promise<() => Promise<void>> {
  const giveUpAt = Date.now() + WAIT_LIMIT_MS
  for (;;) {
    try {
      await mkdir(LOCK_DIR)
      await writeFile(join(LOCK_DIR, 'pid'), String(process.pid))
      return async () => { await rm(LOCK_DIR, { recursive: true, force: true }) }
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = Number(await readFile(join(LOCK_DIR, 'pid'), 'utf8').catch(() => ''))
    if (owner > 0 && !alive(owner)) await rm(LOCK_DIR, { recursive: true, force: true })
    if (Date.now() > giveUpAt) throw new Error(`the trust-store lock ${LOCK_DIR} is still held after ${WAIT_LIMIT_MS} ms`)
    await sleep(POLL_MS)
  }
}

/**
 * Takes the lock for the rest of test `t` and, whatever happens in it, leaves the machine's
 * store as it was found: the CA is uninstalled at teardown, then the lock released.
 */
export async function holdTrustStore (t: Test, ca: { certPem: string; certFile: string }): Promise<void> {
  const release = await lockTrustStore()
  t.teardown(async () => {
    try {
      await uninstallCa(ca.certPem, ca.certFile)
    } finally {
      await release()
    }
  })
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
