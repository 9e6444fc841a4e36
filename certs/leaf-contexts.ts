// Leaves the forward proxy presents inside a CONNECT tunnel (research/forward-proxy.md §3.2,
// §3.3): one per host, minted from the CONNECT authority (never copied from the upstream's
// certificate, which dsmirror has not fetched yet), ECDSA P-256 with its own key, SAN = that host
// only, notBefore back-dated by CLOCK_SKEW_MS, lifetime forwardProxy.leafLifetime.
//
// The LRU holds promises, so concurrent first CONNECTs to one host mint once. An entry is used for
// two thirds of the leaf's lifetime, then re-minted, so a client never gets a leaf close to its
// end. Time comes from the injected clock (as everywhere in certs/).
import { createSecureContext, type SecureContext } from 'node:tls'
import { LRUCache } from 'lru-cache'
import { issueLeaf, type KeyPairPem } from './local-ca.js'

/** mitmproxy caps its store at 100; a leaf is ~1 KiB plus a context, and minting costs ~7 ms. */
export const DEFAULT_LEAF_CACHE_ENTRIES = 1000
/** Share of the leaf lifetime a cached leaf is served for before a new one is minted. */
const REUSE_FRACTION = 2 / 3

export interface MintedLeaf extends KeyPairPem {
  secureContext: SecureContext
  notAfterMs: number
}

export interface LeafContextsOptions {
  /** The interception CA (certificate and key). */
  issuer: KeyPairPem
  lifetimeMs: number
  maxEntries?: number
  now?: () => number
  /** Told of every leaf minted (metrics). */
  onMint?: (host: string) => void
}

export class LeafContexts {
  readonly #issuer: KeyPairPem
  readonly #lifetimeMs: number
  readonly #now: () => number
  readonly #onMint: ((host: string) => void) | undefined
  readonly #cache: LRUCache<string, { leaf: Promise<MintedLeaf>, reuseUntil: number }>
  #minted = 0

  constructor (opts: LeafContextsOptions) {
    this.#issuer = opts.issuer
    this.#lifetimeMs = opts.lifetimeMs
    this.#now = opts.now ?? Date.now
    this.#onMint = opts.onMint
    this.#cache = new LRUCache({ max: opts.maxEntries ?? DEFAULT_LEAF_CACHE_ENTRIES })
  }

  /** Leaves minted since start. */
  get minted (): number { return this.#minted }

  /** The leaf for `host` (canonical, lower-case, no port): cached, or minted now. */
  async get (host: string): Promise<MintedLeaf> {
    const now = this.#now()
    const cached = this.#cache.get(host)
    if (cached !== undefined && now < cached.reuseUntil) return await cached.leaf
    const leaf = this.#mint(host, now)
    this.#cache.set(host, { leaf, reuseUntil: now + Math.floor(this.#lifetimeMs * REUSE_FRACTION) })
    // A failed mint is not remembered: the next CONNECT tries again.
    leaf.catch(() => { if (this.#cache.get(host)?.leaf === leaf) this.#cache.delete(host) })
    return await leaf
  }

  async #mint (host: string, now: number): Promise<MintedLeaf> {
    const pair = await issueLeaf({ issuer: this.#issuer, names: [host], lifetimeMs: this.#lifetimeMs, now: new Date(now) })
    this.#minted++
    this.#onMint?.(host)
    // The leaf alone: the interception root is the client's trust anchor, sending it adds nothing.
    return { ...pair, secureContext: createSecureContext({ cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' }), notAfterMs: now + this.#lifetimeMs }
  }
}
