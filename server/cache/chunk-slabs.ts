// Recycled 1 MiB slabs a download copies the upstream's bytes into (issue 14). undici hands over
// each TLS record's plaintext as a fresh Buffer (16 KiB); kept until written to disk and served,
// they outlive V8's young-generation collections, and the promoted backing stores set off a
// Mark-Compact every few MiB (`--trace-gc`: ~20 per 256 MiB cold miss, a quarter of the process's
// CPU on its GC threads). Copied once into a slab, a record dies young and is collected cheaply;
// the slabs themselves are reused, so the old generation stops growing. Same reasoning as the
// read buffer pool of the hit path (file-pump.ts). Hand-written: Node has no recycled-slab pool.

/** One slab: copies of consecutive body bytes, starting at body offset `start`. */
export interface Slab {
  readonly buffer: Buffer
  start: number
  used: number
  /** Views handed to readers and not yet reported written by their socket. */
  refs: number
  /** No longer needed by the download (written, out of its memory window). */
  retired: boolean
}

export const SLAB_BYTES = 1024 * 1024
/** Free slabs kept for the next download; the rest go to the garbage collector. */
export const SLABS_KEPT = 32

const free: Buffer[] = []

function recycle (slab: Slab): void {
  if (free.length < SLABS_KEPT) free.push(slab.buffer)
}

/** A body's bytes as copies in slabs, in order; one per download. */
export class SlabCopier {
  #fill: Slab | null = null
  #live: Slab[] = []

  /** Copies `chunk`, which is body bytes from `at`, and returns views of the copy (one per slab). */
  copy (chunk: Buffer, at: number): Array<{ view: Buffer; slab: Slab }> {
    const out: Array<{ view: Buffer; slab: Slab }> = []
    let done = 0
    while (done < chunk.length) {
      let slab = this.#fill
      if (slab === null || slab.used === SLAB_BYTES || slab.start + slab.used !== at + done) {
        slab = { buffer: free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES), start: at + done, used: 0, refs: 0, retired: false }
        this.#fill = slab
        this.#live.push(slab)
      }
      const n = chunk.copy(slab.buffer, slab.used, done, Math.min(chunk.length, done + SLAB_BYTES - slab.used))
      out.push({ view: slab.buffer.subarray(slab.used, slab.used + n), slab })
      slab.used += n
      done += n
    }
    return out
  }

  /** Retires every slab whose bytes all lie before body offset `offset`. */
  retireBefore (offset: number): void {
    while (this.#live.length > 0) {
      const slab = this.#live[0] as Slab
      if (slab === this.#fill || slab.start + slab.used > offset) return
      this.#live.shift()
      retire(slab)
    }
  }

  /** Retires every slab (the download settled, or its byte stream restarted). */
  retireAll (): void {
    for (const slab of this.#live) retire(slab)
    this.#live = []
    this.#fill = null
  }
}

function retire (slab: Slab): void {
  slab.retired = true
  if (slab.refs === 0) recycle(slab)
}

export function refSlab (slab: Slab): void {
  slab.refs++
}

/** A reader's socket is done with a view; a slab a socket never reports back on is simply not reused. */
export function unrefSlab (slab: Slab): void {
  if (--slab.refs === 0 && slab.retired) recycle(slab)
}
