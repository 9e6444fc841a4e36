// Cluster-wide single flight (issue 19 item 3; docs/design.md "Replicas and leases"). A miss's
// Download gets a ClusterFlight as its "upstream": on its first request it claims the key's
// lease. The leader then talks to the real upstream; a follower asks the leader's peer listener,
// which serves the leader's growing temp file, so the follower's Download keeps what every
// Download has (resume with Range + If-Range, length and digest checks, local joiners, its own
// staged copy). When the leader dies, the follower's resume request re-reads the lease and waits
// until it is stale, then takes it over and resumes from the real upstream: its clients see a
// stall, the dead leader's own clients an aborted transfer, nobody a clean wrong end.
import { PassThrough, pipeline, type Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Agent, request as undiciRequest } from 'undici'
import type { Download } from '../cache/download.js'
import { ClusterLeaderUnreachableError } from '../errors.js'
import { combineFieldLines, type Upstream, type UpstreamRequest, type UpstreamResponse } from '../upstream/upstream.js'
import { HTTP_DATE_RESOLUTION_MS, type HeldLease, type Leases } from './lease.js'

export const PEER_PATH = '/_/peer/objects/'
/** A follower re-reads the lease this often (a fraction of the TTL) while the leader cannot serve. */
export const FOLLOWER_POLL_FRACTION = 4
/** ...but never more often than this, in ms. */
export const MIN_FOLLOWER_POLL_MS = 100
/**
 * A follower waits at most this many TTLs for a leader that does not serve (refused, 409) before
 * failing the request: a dead leader's lease is stale after one TTL (plus a second of HTTP-date
 * resolution), so reaching this means a live leader that cannot be reached.
 */
export const FOLLOWER_WAIT_TTLS = 3
/** Headers a peer answer adds for the follower's hop only; not the upstream's. */
const PEER_ONLY_HEADERS = ['cache-status', 'age']

export interface ClusterStats {
  acquired: number
  takenOver: number
  lost: number
  released: number
  peerBytes: number
  followersWaiting: number
  followersStreaming: number
}

/** What the status page and /_/metrics show of the cluster (issue 19 item 7). */
export interface ClusterSnapshot extends ClusterStats {
  /** Leases this replica holds now (downloads it leads for the cluster). */
  leasesHeld: number
  /** The origin peers reach this replica at (cluster.advertiseUrl or the peer listener's). */
  advertised: string
  leaseTtl: number
}

/** The store's side of a fill (S3Store): whether this replica uploads the body it stages. */
export interface PeerFills {
  /** Staged from the leader's peer listener: the leader uploads it. */
  servedByPeer: (key: string) => void
  /** Led here (first claim or takeover): the commit uploads it. */
  leading: (key: string) => void
}

export interface SingleFlightOptions {
  leases: Leases
  fills?: PeerFills
  /** Sent as a bearer token to peers (cluster.token); null on a loopback-only cluster. */
  token: string | null
  log: Logger
}

export class ClusterSingleFlight {
  readonly leases: Leases
  readonly stats: ClusterStats = { acquired: 0, takenOver: 0, lost: 0, released: 0, peerBytes: 0, followersWaiting: 0, followersStreaming: 0 }
  readonly #opts: SingleFlightOptions
  /** Peers are plain HTTP on the internal network; a body may legitimately pause as long as the leader's upstream does. */
  readonly #agent = new Agent({ connect: { timeout: 10_000 }, headersTimeout: 60_000, bodyTimeout: 300_000 })

  constructor (opts: SingleFlightOptions) {
    this.#opts = opts
    this.leases = opts.leases
  }

  get log (): Logger { return this.#opts.log }
  get token (): string | null { return this.#opts.token }
  get agent (): Agent { return this.#agent }
  get fills (): PeerFills | undefined { return this.#opts.fills }

  /** The "upstream" of a miss's Download (mirror-cache's one hook); `watch` it once created. */
  flight (key: string, upstream: Upstream): ClusterFlight {
    return new ClusterFlight(this, key, upstream)
  }

  snapshot (): ClusterSnapshot {
    return { ...this.stats, leasesHeld: this.leases.held.size, advertised: this.leases.addr, leaseTtl: this.leases.ttlMs }
  }

  async close (): Promise<void> {
    for (const lease of [...this.leases.held.values()]) await lease.release()
    await this.#agent.close()
  }
}

export class ClusterFlight {
  readonly #cluster: ClusterSingleFlight
  readonly #key: string
  readonly #upstream: Upstream
  #lease: HeldLease | null = null
  #done = false

  constructor (cluster: ClusterSingleFlight, key: string, upstream: Upstream) {
    this.#cluster = cluster
    this.#key = key
    this.#upstream = upstream
  }

  /** Releases the lease once the download is committed and durable, or has failed. */
  watch (download: Download): void {
    const check = (): void => {
      if (download.state === 'committed') {
        download.off('change', check)
        void download.durable().then(() => this.#finish())
      } else if (download.state === 'failed') {
        download.off('change', check)
        void this.#finish()
      }
    }
    download.on('change', check)
    check()
  }

  async #finish (): Promise<void> {
    this.#done = true
    const lease = this.#lease
    this.#lease = null
    if (lease !== null) await lease.release()
  }

  async request (url: URL, req: UpstreamRequest): Promise<UpstreamResponse> {
    // A leader keeps its upstream, fenced or not: its own clients are served from its temp file.
    if (this.#lease !== null) return await this.#upstream.request(url, req)
    const cluster = this.#cluster
    const deadline = Date.now() + FOLLOWER_WAIT_TTLS * cluster.leases.ttlMs + HTTP_DATE_RESOLUTION_MS
    const pollMs = Math.max(MIN_FOLLOWER_POLL_MS, Math.floor(cluster.leases.ttlMs / FOLLOWER_POLL_FRACTION))
    let leader = ''
    cluster.stats.followersWaiting++
    try {
      for (;;) {
        const claim = await cluster.leases.claim(this.#key)
        if (claim.role === 'leader') {
          if (this.#done) { void claim.lease.release() } else this.#lease = claim.lease
          cluster.fills?.leading(this.#key)
          cluster.log.info({ key: this.#key, url: url.href, takeover: claim.takeover }, 'leading the download across replicas')
          return await this.#upstream.request(url, req)
        }
        leader = claim.addr
        const answer = await this.#fromPeer(claim.addr, url, req)
        if (answer !== null) {
          // Before the Download stages a byte: no parts of it are spooled to the bucket here.
          cluster.fills?.servedByPeer(this.#key)
          return answer
        }
        req.signal?.throwIfAborted()
        if (Date.now() > deadline) throw new ClusterLeaderUnreachableError(url.href, leader, String(FOLLOWER_WAIT_TTLS * cluster.leases.ttlMs))
        await sleep(pollMs, undefined, req.signal === undefined ? {} : { signal: req.signal })
      }
    } finally {
      cluster.stats.followersWaiting--
    }
  }

  /** The leader's answer, or null when it cannot serve (refused, reset, 409): re-read the lease. */
  async #fromPeer (addr: string, url: URL, req: UpstreamRequest): Promise<UpstreamResponse | null> {
    const cluster = this.#cluster
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(req.headers as Record<string, string>)) {
      if (name.toLowerCase() !== 'host') headers[name] = value
    }
    if (cluster.token !== null) headers.authorization = `Bearer ${cluster.token}`
    let res
    try {
      res = await undiciRequest(new URL(PEER_PATH + this.#key, addr), {
        method: 'GET',
        headers,
        dispatcher: cluster.agent,
        ...(req.signal === undefined ? {} : { signal: req.signal })
      })
    } catch (err: unknown) {
      if (req.signal?.aborted === true) throw err
      cluster.log.info({ key: this.#key, leader: addr, reason: err instanceof Error ? err.message : String(err) }, 'the leader did not answer; re-reading the lease')
      return null
    }
    if (res.statusCode === 409 || res.statusCode >= 500 || res.statusCode === 401 || res.statusCode === 403) {
      res.body.resume()
      if (res.statusCode === 401 || res.statusCode === 403) cluster.log.error({ key: this.#key, leader: addr, status: res.statusCode }, 'the leader refused this replica\'s cluster.token')
      return null
    }
    const responseHeaders = combineFieldLines(res.headers)
    for (const name of PEER_ONLY_HEADERS) Reflect.deleteProperty(responseHeaders, name)
    cluster.stats.followersStreaming++
    return { status: res.statusCode, headers: responseHeaders, body: this.#counted(res.body), url }
  }

  #counted (body: Readable): Readable {
    const stats = this.#cluster.stats
    const counter = new PassThrough({
      transform (chunk: Buffer, _encoding, done) {
        stats.peerBytes += chunk.length
        done(null, chunk)
      }
    })
    // pipeline: an error on either side destroys both, so a leader's reset reaches the Download.
    pipeline(body, counter, () => { stats.followersStreaming-- })
    return counter
  }
}
