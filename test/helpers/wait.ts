// The one way a test waits for something to happen: poll a condition until it holds or a deadline
// passes, then fail with a message that says what never happened. An unbounded `while (!x) sleep`
// hangs until tap's file timeout when the code under test is wrong, and the timeout names no cause
// (issue 10 item 8).
import { setTimeout as sleep } from 'node:timers/promises'

/** Long enough for a loaded 2-core CI machine, short enough that a hang fails well before tap's timeout. */
export const DEFAULT_WAIT_MS = 30_000
export const DEFAULT_POLL_MS = 5

export interface WaitOptions {
  /** What is being waited for, for the failure message: "the upstream to see the first request". */
  what: string
  timeoutMs?: number
  pollMs?: number
}

/**
 * Resolves with the first truthy value `check` returns (sync or async); rejects once `timeoutMs`
 * has passed without one.
 */
export async function waitUntil<T> (check: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS
  const giveUpAt = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== null && value !== false && value !== 0 && value !== '') return value as NonNullable<T>
    if (Date.now() >= giveUpAt) throw new Error(`gave up after ${timeoutMs} ms waiting for ${opts.what}`)
    await sleep(opts.pollMs ?? DEFAULT_POLL_MS)
  }
}
