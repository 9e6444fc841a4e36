import { spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { setPriority } from 'node:os'

// Every process the bench starts goes through here, so a failed step, Ctrl-C or SIGTERM
// never leaves an nginx, a dsmirror or a curl running. Each child gets its own process group
// (`detached`) so a signal reaches nginx's workers too, not just its master.

const KILL_GRACE_MS = 5000

export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface TrackedChild {
  name: string
  pid: number
  process: ChildProcess
  exited: Promise<ChildExit>
  isRunning: () => boolean
  stop: (signal?: NodeJS.Signals) => Promise<ChildExit>
}

const running = new Set<TrackedChild>()

export function spawnTracked (name: string, command: string, args: string[], options: SpawnOptions = {}): TrackedChild {
  const child = spawn(command, args, { stdio: 'ignore', ...options, detached: true })
  if (child.pid === undefined) {
    // spawn reports ENOENT asynchronously; a missing pid means the start failed.
    throw new Error(`could not start ${name} (${command}): no pid`)
  }
  const pid = child.pid
  let alive = true
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false
      running.delete(tracked)
      resolve({ code, signal })
    })
    child.once('error', () => {
      alive = false
      running.delete(tracked)
      resolve({ code: null, signal: null })
    })
  })
  const tracked: TrackedChild = {
    name,
    pid,
    process: child,
    exited,
    isRunning: () => alive,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (!alive) return await exited
      signalGroup(pid, signal)
      const timer = setTimeout(() => { signalGroup(pid, 'SIGKILL') }, KILL_GRACE_MS)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    }
  }
  running.add(tracked)
  return tracked
}

function signalGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // Already gone.
  }
}

export async function stopAllChildren (): Promise<void> {
  await Promise.all([...running].map(async (child) => await child.stop()))
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

// Runs a command to completion, collecting its output (tracked, so Ctrl-C stops it too).
export async function runCommand (name: string, command: string, args: string[], options: SpawnOptions = {}): Promise<RunResult> {
  const child = spawnTracked(name, command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [exit] = await Promise.all([
    child.exited,
    child.process.stdout ? once(child.process.stdout, 'close') : undefined,
    child.process.stderr ? once(child.process.stderr, 'close') : undefined
  ])
  return { code: exit.code, stdout, stderr }
}

let hooksInstalled = false

// On a signal: stop every child, then exit with the conventional 128 + signal number.
// On a plain exit (an uncaught error) children get a synchronous SIGTERM to their group,
// which nginx's master and dsmirror both handle by shutting down.
export function installCleanupHooks (): void {
  if (hooksInstalled) return
  hooksInstalled = true
  const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }
  for (const [signal, code] of Object.entries(codes) as Array<[NodeJS.Signals, number]>) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${running.size} child process(es)\n`)
      stopAllChildren().finally(() => process.exit(code))
    })
  }
  process.once('exit', () => {
    for (const child of running) signalGroup(child.pid, 'SIGTERM')
  })
}

export const BENCH_NICE = -10

// On a shared machine other work (a test run, a build) takes CPU from whatever is being measured.
// As root the bench raises the priority of its own threads; every process it then starts
// (curl, nginx, dsmirror) inherits it from the spawning thread, so both peers run at the same
// priority and background work mostly waits. Returns the nice value in effect.
export function raiseBenchPriority (): number {
  if (process.getuid?.() !== 0) return 0
  // setpriority on Linux acts on one thread: set every thread that exists now; threads made later
  // by these inherit it.
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      setPriority(Number(tid), BENCH_NICE)
    } catch {
      return 0
    }
  }
  return BENCH_NICE
}
