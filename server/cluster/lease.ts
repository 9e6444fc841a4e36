// Per-key download leases in the shared bucket (issue 19 item 3; research/s3-tier.md §2.2): the
// replica whose conditional create wins leads the key's upstream download, the others stream it
// from the leader's peer listener. Every decision reads the store's own clock (a response's Date
// against the lease's LastModified), never this machine's: replicas' clocks may disagree, and
// faketime CI runs move ours by years.
import { randomBytes } from 'node:crypto'
import type { S3Bucket } from '../cache/s3/s3-client.js'
import { ClusterLeaseIoError } from '../errors.js'

/** What a lease object holds. A fresh `nonce` per write keeps every ETag new (RGW compares If-Match by prefix). */
export interface LeaseBody {
  owner: string
  /** The owner's peer origin (cluster.advertiseUrl). */
  addr: string
  key: string
  state: 'leading' | 'released'
  nonce: string
}

export interface ObservedLease {
  body: LeaseBody
  etag: string
  /** ms since the epoch, both from the store: the lease's LastModified and the answer's Date. */
  lastModified: number
  date: number
}

/** The three bucket operations a lease needs; S3LeaseIo is the real one. */
export interface LeaseIo {
  /** If-None-Match: *; null when the object exists (412, or 409 ConditionalRequestConflict). */
  create: (name: string, body: LeaseBody) => Promise<{ etag: string } | null>
  /** If-Match: etag; null when the lease changed (412/409), or is gone. */
  replace: (name: string, body: LeaseBody, etag: string) => Promise<{ etag: string } | null>
  /** null when there is none. */
  read: (name: string) => Promise<ObservedLease | null>
}

/**
 * HTTP-date has whole seconds, so Date − LastModified may read up to 1 s more than the lease's
 * real age: a lease is stale only past TTL plus that, so a live leader is never taken over.
 */
export const HTTP_DATE_RESOLUTION_MS = 1000
/** Lost races in a row before claim() gives up (each one means another replica wrote the lease). */
export const MAX_CLAIM_ROUNDS = 8

export type Claim =
  | { role: 'leader', lease: HeldLease, takeover: boolean }
  | { role: 'follower', addr: string, owner: string }

export interface LeaseTimers {
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

export interface LeaseEvents {
  acquired?: (key: string, takeover: boolean) => void
  /** A heartbeat found the lease changed: another replica took it over. */
  fenced?: (key: string) => void
  released?: (key: string) => void
}

export interface LeasesOptions {
  io: LeaseIo
  /** store.s3.prefix; lease objects live under `<prefix>v1/locks/`. */
  prefix: string
  ttlMs: number
  /** This process's id (random per start, so a restarted replica never mistakes an old lease for its own). */
  owner?: string
  /** This replica's peer origin; set once the peer listener listens (setAddr). */
  addr?: string
  timers?: LeaseTimers
  events?: LeaseEvents
  onError?: (err: unknown, key: string) => void
}

const REAL_TIMERS: LeaseTimers = {
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t },
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
}

export function leaseName (prefix: string, key: string): string {
  return `${prefix}v1/locks/${key.slice(0, 2)}/${key}`
}

export function isStale (lease: ObservedLease, ttlMs: number): boolean {
  return lease.date - lease.lastModified > ttlMs + HTTP_DATE_RESOLUTION_MS
}

export class Leases {
  readonly owner: string
  readonly ttlMs: number
  #addr: string
  readonly #opts: LeasesOptions
  readonly #timers: LeaseTimers
  readonly #held = new Map<string, HeldLease>()

  constructor (opts: LeasesOptions) {
    this.#opts = opts
    this.owner = opts.owner ?? randomBytes(8).toString('hex')
    this.ttlMs = opts.ttlMs
    this.#addr = opts.addr ?? ''
    this.#timers = opts.timers ?? REAL_TIMERS
  }

  get addr (): string { return this.#addr }
  setAddr (addr: string): void { this.#addr = addr }

  /** Leases this replica holds and has not been fenced from. */
  get held (): ReadonlyMap<string, HeldLease> { return this.#held }

  leads (key: string): boolean {
    return this.#held.get(key)?.fenced === false
  }

  /**
   * Leader (create won, or a stale or released lease taken over) or follower (someone else's live
   * lease). Bounded: after MAX_CLAIM_ROUNDS lost races it throws DSM_CLUSTER_LEASE_IO.
   */
  async claim (key: string): Promise<Claim> {
    const name = leaseName(this.#opts.prefix, key)
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const created = await this.#io(key, () => this.#opts.io.create(name, this.#body(key, 'leading')))
      if (created !== null) return this.#lead(key, name, created.etag, false)
      const seen = await this.#io(key, () => this.#opts.io.read(name))
      if (seen === null) continue // deleted between our create and read (a sweeper): create again
      if (seen.body.state === 'leading' && !isStale(seen, this.ttlMs)) {
        return { role: 'follower', addr: seen.body.addr, owner: seen.body.owner }
      }
      const taken = await this.#io(key, () => this.#opts.io.replace(name, this.#body(key, 'leading'), seen.etag))
      if (taken !== null) return this.#lead(key, name, taken.etag, true)
    }
    throw new ClusterLeaseIoError(key, `${MAX_CLAIM_ROUNDS} claims in a row lost a race`)
  }

  #lead (key: string, name: string, etag: string, takeover: boolean): Claim {
    const lease = new HeldLease(this, key, name, etag)
    this.#held.set(key, lease)
    this.#opts.events?.acquired?.(key, takeover)
    lease.schedule()
    return { role: 'leader', lease, takeover }
  }

  async #io<T> (key: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (err: unknown) {
      throw new ClusterLeaseIoError(key, err instanceof Error ? err.message : String(err), { cause: err })
    }
  }

  /** @internal */
  body (key: string, state: LeaseBody['state']): LeaseBody { return this.#body(key, state) }
  #body (key: string, state: LeaseBody['state']): LeaseBody {
    return { owner: this.owner, addr: this.#addr, key, state, nonce: randomBytes(12).toString('hex') }
  }

  /** @internal */
  get io (): LeaseIo { return this.#opts.io }
  /** @internal */
  get timers (): LeaseTimers { return this.#timers }
  /** @internal */
  get events (): LeaseEvents { return this.#opts.events ?? {} }
  /** @internal */
  ioError (err: unknown, key: string): void { this.#opts.onError?.(err, key) }
  /** @internal */
  forget (lease: HeldLease): void {
    if (this.#held.get(lease.key) === lease) this.#held.delete(lease.key)
  }
}

/** A lease this replica won: heartbeated every TTL/3 until released or fenced. */
export class HeldLease {
  readonly key: string
  readonly #leases: Leases
  readonly #name: string
  #etag: string
  #fenced = false
  #released = false
  #timer: unknown = null
  #beat: Promise<void> = Promise.resolve()

  constructor (leases: Leases, key: string, name: string, etag: string) {
    this.#leases = leases
    this.key = key
    this.#name = name
    this.#etag = etag
  }

  /** True once a heartbeat found another replica's write: this replica must not act as leader any more. */
  get fenced (): boolean { return this.#fenced }
  get etag (): string { return this.#etag }

  /** @internal */
  schedule (): void {
    if (this.#fenced || this.#released) return
    this.#timer = this.#leases.timers.setTimeout(() => {
      this.#timer = null
      this.#beat = this.heartbeat().finally(() => { this.schedule() })
    }, Math.max(1, Math.floor(this.#leases.ttlMs / 3)))
  }

  /**
   * One If-Match write. 412/409: someone took the lease over, so this replica is fenced (it keeps
   * serving its own clients from its temp file, but no longer answers peers for the key). A
   * failed request is retried at the next beat: the lease is stale only after a whole TTL.
   */
  async heartbeat (): Promise<void> {
    if (this.#fenced || this.#released) return
    let next: { etag: string } | null
    try {
      next = await this.#leases.io.replace(this.#name, this.#leases.body(this.key, 'leading'), this.#etag)
    } catch (err: unknown) {
      this.#leases.ioError(err, this.key)
      return
    }
    if (this.#released) return
    if (next === null) {
      this.#fence()
      return
    }
    this.#etag = next.etag
  }

  #fence (): void {
    if (this.#fenced) return
    this.#fenced = true
    this.#stop()
    this.#leases.forget(this)
    this.#leases.events.fenced?.(this.key)
  }

  #stop (): void {
    if (this.#timer !== null) this.#leases.timers.clearTimeout(this.#timer)
    this.#timer = null
  }

  /**
   * Marks the lease released (If-Match, so a lease taken over meanwhile is left alone). Not a
   * DELETE: RGW 16 ignores If-Match on DeleteObject (rgw-recipe.md §4), so an unconditional delete
   * could remove a new leader's lease. Never rejects.
   */
  async release (): Promise<void> {
    if (this.#released) return
    this.#released = true
    this.#stop()
    this.#leases.forget(this)
    await this.#beat.catch(() => {})
    if (this.#fenced) return
    try {
      await this.#leases.io.replace(this.#name, this.#leases.body(this.key, 'released'), this.#etag)
    } catch (err: unknown) {
      this.#leases.ioError(err, this.key)
    }
    this.#leases.events.released?.(this.key)
  }
}

/** The lease's bucket operations on the S3 store's bucket (server/cache/s3/s3-client.ts), in the If-Match form its start-up probe found. */
export class BucketLeaseIo implements LeaseIo {
  readonly #bucket: S3Bucket

  constructor (bucket: S3Bucket) {
    this.#bucket = bucket
  }

  async create (name: string, body: LeaseBody): Promise<{ etag: string } | null> {
    return await this.#bucket.putIfAbsent(name, Buffer.from(JSON.stringify(body)))
  }

  async replace (name: string, body: LeaseBody, etag: string): Promise<{ etag: string } | null> {
    return await this.#bucket.putIfMatch(name, Buffer.from(JSON.stringify(body)), etag)
  }

  async read (name: string): Promise<ObservedLease | null> {
    const got = await this.#bucket.get(name)
    if (got === null) return null
    const body = parseLeaseBody(got.body.toString('utf8'))
    if (body === null || got.lastModified === null || got.date === null || Number.isNaN(got.date.getTime())) {
      throw new Error(`lease ${name} is not a dsmirror lease (or the store sent no Date)`)
    }
    return { body, etag: got.etag, lastModified: got.lastModified.getTime(), date: got.date.getTime() }
  }
}

function parseLeaseBody (text: string): LeaseBody | null {
  try {
    const value = JSON.parse(text) as Partial<LeaseBody>
    if (typeof value.owner !== 'string' || typeof value.addr !== 'string' || (value.state !== 'leading' && value.state !== 'released')) return null
    return { owner: value.owner, addr: value.addr, key: String(value.key ?? ''), state: value.state, nonce: String(value.nonce ?? '') }
  } catch {
    return null
  }
}
