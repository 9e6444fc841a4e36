// `npm run soak -- --stampede`: issue 12 item 10. N readers (500) ask together for one cold
// object of ~200 MiB from a local upstream, for a few rounds, each round a fresh cache key (so
// every round is a cold miss that all readers tail). dsmirror's RSS is sampled every 250 ms; the
// run fails if any reader gets a wrong answer, or if the peak RSS passes the stated bound:
// RSS before the first round + the pump's bound (the shared large-buffer budget + readers ×
// PUMP_BUFFERS × SMALL_BUFFER_BYTES) + a fixed allowance for sockets and the rest
// (STAMPEDE_RSS_ALLOWANCE_BYTES). bench/README.md "Soak" states it, bench/results.md the figures.
import { createCipheriv, createHash } from 'node:crypto'
import { Agent, request } from 'undici'
import type { SoakObject } from './soak-upstream.js'

/** The pump's bound (server/cache/file-pump.ts), repeated here: the soak measures a built revision, not this tree. */
export const LARGE_BUFFER_BUDGET_BYTES = 64 * 1024 * 1024
export const SMALL_BUFFER_BYTES = 64 * 1024
export const PUMP_BUFFERS = 4
/** Everything else 500 connections cost (sockets, requests, JS objects), and allocator slack. */
export const STAMPEDE_RSS_ALLOWANCE_BYTES = 128e6
export const DEFAULT_STAMPEDE_READERS = 500
export const DEFAULT_STAMPEDE_BYTES = 200 * 1024 * 1024
export const DEFAULT_STAMPEDE_ROUNDS = 3
const RSS_EVERY_MS = 250
/** Between rounds: the committed body becomes durable, and freed memory can go back. */
const SETTLE_MS = 3000
const ROUND_TIMEOUT_MS = 15 * 60_000

export interface StampedeOptions {
  readers: number
  rounds: number
  object: SoakObject
  /** The dsmirror URL of an upstream path. */
  url: (path: string) => string
  readRss: () => Promise<number | null>
  say: (line: string) => void
}

export interface StampedeResult {
  lines: string[]
  failures: string[]
}

/** An incompressible object of `size` bytes, served by the soak upstream as corpus entry `index`. */
export function makeStampedeObject (index: number, size: number): SoakObject {
  const key = createHash('sha256').update('dsmirror-stampede').digest()
  const bytes = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32)).update(Buffer.alloc(size))
  return { index, path: `/soak/${index}.bin`, size, bytes, sha256: createHash('sha256').update(bytes).digest('hex') }
}

export function stampedeRssBound (baselineBytes: number, readers: number): number {
  return baselineBytes + LARGE_BUFFER_BUDGET_BYTES + readers * PUMP_BUFFERS * SMALL_BUFFER_BYTES + STAMPEDE_RSS_ALLOWANCE_BYTES
}

export async function runStampede (options: StampedeOptions): Promise<StampedeResult> {
  const { readers, rounds, object, say } = options
  const agent = new Agent({ connections: readers, pipelining: 0, headersTimeout: ROUND_TIMEOUT_MS, bodyTimeout: ROUND_TIMEOUT_MS })
  const failures: string[] = []
  const rows: string[] = []
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const baseline = await options.readRss() ?? NaN
  const bound = stampedeRssBound(baseline, readers)
  const tag = Date.now().toString(36)
  say(`stampede: ${readers} readers × ${rounds} rounds on a cold ${(object.size / 2 ** 20).toFixed(0)} MiB object; RSS before ${(baseline / 1e6).toFixed(1)} MB, bound ${(bound / 1e6).toFixed(1)} MB`)
  for (let round = 1; round <= rounds; round++) {
    const path = `${object.path}?n=stampede-${tag}-${round}`
    let peak = 0
    const sampler = setInterval(() => { void options.readRss().then((rss) => { if (rss !== null) peak = Math.max(peak, rss) }) }, RSS_EVERY_MS)
    const before = await options.readRss() ?? NaN
    const started = performance.now()
    const answers = await Promise.all(Array.from({ length: readers }, async (_, i) => {
      try {
        const res = await request(options.url(path), { dispatcher: agent, signal: AbortSignal.timeout(ROUND_TIMEOUT_MS) })
        // Reader 0 proves the bytes; hashing 100 GB for all 500 would measure the load generator.
        const hash = i === 0 ? createHash('sha256') : null
        let bytes = 0
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          bytes += chunk.length
          hash?.update(chunk)
        }
        if (res.statusCode !== 200) return `reader ${i}: status ${res.statusCode}`
        if (bytes !== object.size) return `reader ${i}: ${bytes} of ${object.size} bytes`
        if (hash !== null && hash.digest('hex') !== object.sha256) return `reader ${i}: sha256 mismatch`
        return null
      } catch (err: unknown) {
        return `reader ${i}: ${err instanceof Error ? err.message : String(err)}`
      }
    }))
    const seconds = (performance.now() - started) / 1000
    clearInterval(sampler)
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const after = await options.readRss() ?? NaN
    const errors = answers.filter((a): a is string => a !== null)
    failures.push(...errors.slice(0, 5).map((e) => `round ${round}: ${e}`))
    if (errors.length > 5) failures.push(`round ${round}: ${errors.length - 5} more failed readers`)
    if (!(peak <= bound)) failures.push(`round ${round}: peak RSS ${(peak / 1e6).toFixed(1)} MB > bound ${(bound / 1e6).toFixed(1)} MB`)
    const row = `| ${round} | ${readers - errors.length}/${readers} | ${seconds.toFixed(1)} | ${(readers * object.size / seconds / 1e6).toFixed(0)} | ${(before / 1e6).toFixed(1)} | ${(peak / 1e6).toFixed(1)} | ${(after / 1e6).toFixed(1)} |`
    rows.push(row)
    say(`stampede: round ${round}: ${readers - errors.length}/${readers} complete in ${seconds.toFixed(1)} s; RSS ${(before / 1e6).toFixed(1)} → peak ${(peak / 1e6).toFixed(1)} → ${(after / 1e6).toFixed(1)} MB ${SETTLE_MS / 1000} s later`)
  }
  await agent.close()
  return {
    failures,
    lines: [
      `- stampede: ${readers} readers per round, ${rounds} rounds, each on a fresh cache key of one ${(object.size / 2 ** 20).toFixed(0)} MiB object sent by the local upstream at full speed; reader 0's body sha256-checked, every reader's length and status`,
      `- RSS before the first round ${(baseline / 1e6).toFixed(1)} MB; bound ${(bound / 1e6).toFixed(1)} MB = that + ${LARGE_BUFFER_BUDGET_BYTES / 2 ** 20} MiB large-buffer budget + ${readers} × ${PUMP_BUFFERS} × ${SMALL_BUFFER_BYTES / 1024} KiB + ${STAMPEDE_RSS_ALLOWANCE_BYTES / 1e6} MB`,
      '',
      '| round | complete | seconds | MB/s to all readers | RSS before MB | RSS peak MB | RSS after MB |',
      '|---|---|---|---|---|---|---|',
      ...rows
    ]
  }
}
