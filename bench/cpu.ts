import { readFile, readdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'

// Where the CPU went during one timed transfer, from /proc: the proxy's process tree, the bench
// process (which is the upstream), its reaped children (curl), and everything else on the
// machine. "Everything else" is how the bench notices that other work (a test run, a build)
// shared the cores, which on a 2-core machine changes every number.

// USER_HZ: /proc reports CPU times in these ticks; 100 on every Linux the bench targets.
const TICKS_PER_SECOND = 100
const QUIET_WINDOW_MS = 1000

export interface CpuSnapshot {
  at: number
  machineBusy: number
  benchSelf: number
  benchReaped: number
  proxy: number
  proxyMainThread: number
  proxyMinorFaults: number
}

export interface CpuUsage {
  wallSeconds: number
  proxySeconds: number
  // The proxy process's main thread (for Node: the JS thread; the rest is libuv's pool and V8's
  // GC helpers, which Node 20 does not name apart).
  proxyMainThreadSeconds: number
  // Minor page faults of the proxy's process tree: each is a page of memory touched for the first
  // time (fresh buffers, new page cache mapped in), costly on this kind of VM.
  proxyMinorFaults: number
  upstreamSeconds: number
  clientSeconds: number
  otherSeconds: number
  // Share of all the machine's CPUs used by processes outside the bench in the window.
  otherShare: number
}

// Fields of /proc/<pid>/stat after the command name, which may itself hold spaces or ')'.
async function statFields (pid: number | string): Promise<string[] | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

// utime, stime, cutime, cstime are fields 14-17 of stat; index 0 here is field 3.
async function processTicks (pid: number | string, withReaped: boolean): Promise<{ own: number, reaped: number }> {
  const fields = await statFields(pid)
  if (fields === undefined) return { own: 0, reaped: 0 }
  const at = (field: number): number => Number(fields[field - 3] ?? 0)
  return { own: at(14) + at(15), reaped: withReaped ? at(16) + at(17) : 0 }
}

async function treeMinorFaults (pid: number): Promise<number> {
  const fields = await statFields(pid)
  // minflt and cminflt are fields 10 and 11.
  const own = fields === undefined ? 0 : Number(fields[10 - 3] ?? 0) + Number(fields[11 - 3] ?? 0)
  const nested = await Promise.all((await children(pid)).map(treeMinorFaults))
  return own + nested.reduce((sum, faults) => sum + faults, 0)
}

async function children (pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [])
  const found: number[] = []
  for (const task of tasks) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    for (const child of text.split(' ')) if (child.trim() !== '') found.push(Number(child))
  }
  return found
}

async function treeTicks (pid: number): Promise<number> {
  const { own, reaped } = await processTicks(pid, true)
  const nested = await Promise.all((await children(pid)).map(treeTicks))
  return own + reaped + nested.reduce((sum, ticks) => sum + ticks, 0)
}

async function machineBusyTicks (): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8')
  const fields = (text.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
  return user + nice + system + irq + softirq + steal
}

export async function snapshotCpu (proxyPid?: number): Promise<CpuSnapshot> {
  const [machineBusy, bench, proxy, main, faults] = await Promise.all([
    machineBusyTicks(),
    processTicks('self', true),
    proxyPid === undefined ? 0 : treeTicks(proxyPid),
    proxyPid === undefined ? { own: 0 } : processTicks(`${proxyPid}/task/${proxyPid}`, false),
    proxyPid === undefined ? 0 : treeMinorFaults(proxyPid)
  ])
  return {
    at: performance.now(),
    machineBusy,
    benchSelf: bench.own,
    benchReaped: bench.reaped,
    proxy,
    proxyMainThread: main.own,
    proxyMinorFaults: faults
  }
}

// CPU time of the bench's children that have exited and been reaped, in seconds.
export async function reapedChildrenSeconds (): Promise<number> {
  return (await processTicks('self', true)).reaped / TICKS_PER_SECOND
}

export function cpuBetween (start: CpuSnapshot, end: CpuSnapshot): CpuUsage {
  const seconds = (ticks: number): number => ticks / TICKS_PER_SECOND
  const wallSeconds = (end.at - start.at) / 1000
  const proxySeconds = seconds(end.proxy - start.proxy)
  const upstreamSeconds = seconds(end.benchSelf - start.benchSelf)
  const clientSeconds = seconds(end.benchReaped - start.benchReaped)
  const busySeconds = seconds(end.machineBusy - start.machineBusy)
  const otherSeconds = Math.max(0, busySeconds - proxySeconds - upstreamSeconds - clientSeconds)
  return {
    wallSeconds,
    proxySeconds,
    proxyMainThreadSeconds: seconds(end.proxyMainThread - start.proxyMainThread),
    proxyMinorFaults: end.proxyMinorFaults - start.proxyMinorFaults,
    upstreamSeconds,
    clientSeconds,
    otherSeconds,
    otherShare: wallSeconds > 0 ? otherSeconds / (wallSeconds * availableParallelism()) : 0
  }
}

// For a Node proxy, where its CPU went: the JS thread, and the rest (libuv's pool, V8's GC helpers).
// nginx's work happens in worker processes, so its master's main thread is idle and not shown.
function formatThreads (usage: CpuUsage): string {
  const faults = `${(usage.proxyMinorFaults / 1000).toFixed(0)}k page faults`
  if (usage.proxyMainThreadSeconds < usage.proxySeconds / 4) return ` (${faults})`
  const rest = usage.proxySeconds - usage.proxyMainThreadSeconds
  return ` (main thread ${usage.proxyMainThreadSeconds.toFixed(2)}, other threads ${rest.toFixed(2)}; ${faults})`
}

export function formatCpu (usage: CpuUsage, proxyName: string): string {
  const parts = [
    proxyName === '' ? undefined : `${proxyName} ${usage.proxySeconds.toFixed(2)}${formatThreads(usage)}`,
    `upstream ${usage.upstreamSeconds.toFixed(2)}`,
    `curl ${usage.clientSeconds.toFixed(2)}`,
    `other ${usage.otherSeconds.toFixed(2)} (${(usage.otherShare * 100).toFixed(0)}%)`
  ].filter((part) => part !== undefined)
  return `CPU-s ${parts.join(', ')}`
}

// Waits, up to `maxWaitMs`, for a one-second window in which other processes use less than
// `maxOtherShare` of the machine. Returns the last share seen.
export async function waitForQuiet (maxOtherShare: number, maxWaitMs: number): Promise<number> {
  const deadline = Date.now() + maxWaitMs
  let share = 1
  do {
    const start = await snapshotCpu()
    await sleep(QUIET_WINDOW_MS)
    share = cpuBetween(start, await snapshotCpu()).otherShare
    if (share < maxOtherShare) return share
  } while (Date.now() < deadline)
  return share
}
