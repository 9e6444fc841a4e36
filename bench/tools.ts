import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand } from './children.js'

// The bench must run on a fresh Debian machine: a missing tool is installed with apt-get,
// saying so on stderr, with one `apt-get update` per run at most.

const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/bin']
let aptUpdated = false

export function findTool (name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SBIN_DIRS]
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

export async function ensureTool (name: string, packages: string[]): Promise<string> {
  const found = findTool(name)
  if (found !== undefined) return found
  const first = packages[0] ?? name
  if (process.getuid?.() !== 0) {
    throw new Error(`${name} is not installed and the bench is not root: run \`sudo apt-get install -y ${first}\`, then run the bench again`)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!aptUpdated) {
    process.stderr.write(`bench: ${name} not found; running \`apt-get update\`\n`)
    const update = await runCommand('apt-get update', 'apt-get', ['update'], { env })
    if (update.code !== 0) throw new Error(`apt-get update failed (exit ${String(update.code)}):\n${update.stderr}`)
    aptUpdated = true
  }
  for (const pkg of packages) {
    process.stderr.write(`bench: ${name} not found; running \`apt-get install -y ${pkg}\`\n`)
    const install = await runCommand(`apt-get install ${pkg}`, 'apt-get', ['install', '-y', '--no-install-recommends', pkg], { env })
    const installed = findTool(name)
    if (install.code === 0 && installed !== undefined) {
      process.stderr.write(`bench: installed ${pkg} (${installed})\n`)
      return installed
    }
    process.stderr.write(`bench: apt-get install ${pkg} failed (exit ${String(install.code)}): ${install.stderr.trim().split('\n').slice(-3).join(' | ')}\n`)
  }
  throw new Error(`could not install ${name} with apt-get (tried ${packages.join(', ')}); install it by hand and run the bench again`)
}
