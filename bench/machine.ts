import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { promisify } from 'node:util'

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
