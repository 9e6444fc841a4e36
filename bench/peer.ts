// A caching proxy under test (dsmirror, or nginx as its peer), as the measurements see it.
export interface Peer {
  name: string
  // The process whose memory is sampled; its descendants are counted too.
  pid: number
  // URL that fetches upstream `path` (e.g. /big/a1/big.bin) through this proxy.
  url: (path: string) => string
  stop: () => Promise<void>
}

export type CacheOutcome = 'hit' | 'in-flight' | 'miss' | 'unknown'

// RFC 9211 Cache-Status, as dsmirror sends it (`dsmirror; hit`, `dsmirror; fwd=miss; stored`,
// `dsmirror; hit; detail=in-flight`) and as the bench's nginx config renders
// $upstream_cache_status (`nginx; HIT`, `nginx; MISS`).
export function classifyCacheStatus (header: string): CacheOutcome {
  const params = header.toLowerCase().split(';').map((part) => part.trim())
  if (params.includes('hit')) return params.some((p) => p.startsWith('detail=in-flight')) ? 'in-flight' : 'hit'
  if (params.some((p) => p === 'miss' || p.startsWith('fwd='))) return 'miss'
  return 'unknown'
}
