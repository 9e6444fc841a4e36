import { request } from 'node:http'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TrackedChild } from './children.js'

const DEFAULT_WAIT_MS = 30_000
const POLL_MS = 100
const LOG_TAIL_CHARS = 4000

export interface WaitForHttpOptions {
  timeoutMs?: number
  // Any HTTP answer means the server is up (for a plain proxy with no health route).
  anyStatus?: boolean
}

async function probe (url: string): Promise<number | undefined> {
  return await new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 2000 }, (res) => {
      res.resume()
      res.once('end', () => { resolve(res.statusCode) })
      res.once('error', () => { resolve(undefined) })
    })
    req.once('timeout', () => { req.destroy() })
    req.once('error', () => { resolve(undefined) })
    req.end()
  })
}

export async function logTail (logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '')
  return text.length > LOG_TAIL_CHARS ? '…' + text.slice(-LOG_TAIL_CHARS) : text
}

// Waits until `url` answers 200 (or anything, with anyStatus) while `child` keeps running;
// a child that exits or never answers is reported with the end of its log.
export async function waitForHttp (url: string, child: TrackedChild, logFile: string, options: WaitForHttpOptions = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_WAIT_MS)
  let last: number | undefined
  while (Date.now() < deadline) {
    if (!child.isRunning()) {
      const exit = await child.exited
      throw new Error(`${child.name} exited (code ${String(exit.code)}, signal ${String(exit.signal)}) before ${url} answered; ${logFile}:\n${await logTail(logFile)}`)
    }
    last = await probe(url)
    if (last === 200 || (options.anyStatus === true && last !== undefined)) return
    await sleep(POLL_MS)
  }
  throw new Error(`${child.name} did not answer ${url} with 200 in time (last status ${String(last)}); ${logFile}:\n${await logTail(logFile)}`)
}
