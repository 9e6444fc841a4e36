// The last few errors dsmirror reported, for the status page (/_/): a person looking at a failed
// download wants the code, the URL and the fix without grepping logs. A fixed-size ring, so a
// flood of refused requests costs nothing but the oldest rows.
import { redactUrl } from './http/redact-url.js'

export const RECENT_ERRORS_MAX = 50

export interface RecentError {
  /** Epoch milliseconds. */
  at: number
  /** `DSM_*` code. */
  code: string
  /** The HTTP status the client got, or null when the response had already started (a download that failed mid-body). */
  status: number | null
  method: string | null
  /** The request target, or the upstream URL of a failed download; as received, so escape it before display. */
  url: string
  message: string
  reqId: string | null
}

export interface RecentErrorsOptions {
  max?: number
  now?: () => number
}

export class RecentErrors {
  readonly #max: number
  readonly #now: () => number
  readonly #ring: RecentError[] = []
  #next = 0

  constructor (opts: RecentErrorsOptions = {}) {
    this.#max = Math.max(1, opts.max ?? RECENT_ERRORS_MAX)
    this.#now = opts.now ?? Date.now
  }

  record (error: Omit<RecentError, 'at'>): void {
    // Shown on /_/ to every reader: credentials in URLs are redacted on the way in (issue 12 item 12).
    const entry = { ...error, url: redactUrl(error.url), message: redactUrl(error.message), at: this.#now() }
    if (this.#ring.length < this.#max) this.#ring.push(entry)
    else this.#ring[this.#next] = entry
    this.#next = (this.#next + 1) % this.#max
  }

  /** Newest first. */
  list (): RecentError[] {
    const oldestFirst = this.#ring.length < this.#max ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)]
    return [...oldestFirst].reverse()
  }
}
