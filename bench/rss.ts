import { readFile, readdir } from 'node:fs/promises'

// Resident memory of a process and its descendants (nginx's workers), from /proc, sampled on a
// timer. VmHWM is the kernel's own peak for one process since it started, which catches a spike
// between two samples.

const SAMPLE_INTERVAL_MS = 100

function statusField (status: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
}

async function readStatus (pid: number): Promise<string | undefined> {
  return await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined)
}

async function descendants (pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [])
  const children: number[] = []
  for (const task of tasks) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    for (const child of text.split(' ')) if (child.trim() !== '') children.push(Number(child))
  }
  const nested = await Promise.all(children.map(descendants))
  return [...children, ...nested.flat()]
}

export interface RssSummary {
  // Tree VmRSS in the first sample, when sampling started: the process before the load.
  firstTreeRssBytes: number
  // Largest sum of VmRSS over the process tree seen in one sample.
  peakTreeRssBytes: number
  // Largest VmHWM of any process in the tree when sampling stopped.
  peakHwmBytes: number
  samples: number
}

export interface RssSampler {
  stop: () => Promise<RssSummary>
}

export function sampleRss (pid: number): RssSampler {
  let peakTree = 0
  let firstTree: number | undefined
  const hwm = new Map<number, number>()
  let samples = 0
  let busy: Promise<void> = Promise.resolve()

  async function sample (): Promise<void> {
    const pids = [pid, ...await descendants(pid)]
    let total = 0
    for (const p of pids) {
      const status = await readStatus(p)
      if (status === undefined) continue
      total += statusField(status, 'VmRSS') ?? 0
      hwm.set(p, Math.max(hwm.get(p) ?? 0, statusField(status, 'VmHWM') ?? 0))
    }
    firstTree ??= total
    peakTree = Math.max(peakTree, total)
    samples++
  }

  const timer = setInterval(() => {
    // A slow sample is never overlapped by the next one.
    busy = busy.then(sample)
  }, SAMPLE_INTERVAL_MS)
  busy = busy.then(sample)

  return {
    stop: async () => {
      clearInterval(timer)
      await busy.then(sample)
      return { firstTreeRssBytes: firstTree ?? 0, peakTreeRssBytes: peakTree, peakHwmBytes: Math.max(0, ...hwm.values()), samples }
    }
  }
}
