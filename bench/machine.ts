import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { runCommand } from './children.js'
import { reapedChildrenSeconds } from './cpu.js'

const execFileAsync = promisify(execFile)

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  os: string
  kernel: string
  node: string
}

export async function describeMachine (): Promise<MachineInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '')
  const prettyName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'unknown'
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3 * 10) / 10,
    os: prettyName,
    kernel: release(),
    node: process.version
  }
}

export async function gitRevision (root: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'])
    const { stdout: dirty } = await execFileAsync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'server', 'config', 'certs', 'bin'])
    return stdout.trim() + (dirty.trim() === '' ? '' : ' (with uncommitted changes in server/config/certs)')
  } catch {
    return 'unknown'
  }
}

const PROBE_MIB = 256

/**
 * `sync`, then drops clean page cache (/proc/sys/vm/drop_caches = 1). Measured 2026-12-06: with the
 * memory full of page cache the dd probe below cost 1.6-1.9 s/GiB and nginx's cold CPU drifted from
 * 1.4 to 3.8 s/GiB between runs; right after a drop, 0.16-0.28 s/GiB and nginx at 1.32-1.48.
 */
export async function dropPageCache (): Promise<void> {
  const synced = await runCommand('sync', 'sync', [])
  if (synced.code !== 0) throw new Error('--drop-caches: sync failed')
  await writeFile('/proc/sys/vm/drop_caches', '1').catch((err: unknown) => {
    throw new Error(`--drop-caches needs root (writing /proc/sys/vm/drop_caches failed: ${err instanceof Error ? err.message : String(err)})`)
  })
}

// CPU seconds per GiB of the sha256 dsmirror computes over every cached body (EntryMeta.sha256:
// `cache verify`, the S3 store's checks), measured in a Node process like dsmirror's (same
// binary, 64 KiB updates as the cold path feeds them). nginx hashes nothing, so this part of
// dsmirror's cold CPU has no counterpart in the peer's: row b-cpu-hash subtracts it.
const HASH_PROBE_MIB = 256
const HASH_PROBE = `const { createHash } = require('node:crypto')
const chunk = require('node:crypto').randomBytes(65536)
const hash = createHash('sha256')
hash.update(chunk)
const start = process.cpuUsage()
for (let i = 0; i < ${HASH_PROBE_MIB * 16}; i++) hash.update(chunk)
hash.digest()
const used = process.cpuUsage(start)
process.stdout.write(String((used.user + used.system) / 1e6))`

export async function probeSha256Seconds (): Promise<number> {
  const run = await runCommand('sha256 probe', process.execPath, ['-e', HASH_PROBE])
  const seconds = Number(run.stdout)
  if (run.code !== 0 || !Number.isFinite(seconds)) return Number.NaN
  return seconds * 1024 / HASH_PROBE_MIB
}

// Kernel CPU to write new page cache, per GiB (dd of zeros into a new file, no fsync). A cold
// miss writes the whole object, so this is part of every caching proxy's cost here. It reads the
// machine's state more than a floor: ~0.2 s on bare metal and right after --drop-caches, several
// times that on a VM whose idle memory goes back to the host (balloon free page reporting, DAMON
// pageout) or whose memory is full of page cache to reclaim (1.6-1.9 s here on 2026-12-06).
export async function probePageCacheWriteSeconds (dir: string): Promise<number> {
  const file = join(dir, 'page-cache-probe')
  const before = await reapedChildrenSeconds()
  const dd = await runCommand('dd', 'dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${PROBE_MIB}`, 'status=none'])
  const seconds = await reapedChildrenSeconds() - before
  await rm(file, { force: true })
  if (dd.code !== 0) return Number.NaN
  return seconds * 1024 / PROBE_MIB
}
