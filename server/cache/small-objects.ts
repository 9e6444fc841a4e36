// Small JSON records kept in the CacheStore beside the bodies (the Hugging Face mode's file
// metadata and last branch resolutions), so what the mode knows survives a restart: with the Hub
// down after one, cached commits still resolve (issue 11 item 5). Each record is an ordinary
// committed entry (temp file, commit, durable), keyed in a namespace no URL or blob can reach, and
// evicted like any other entry: a lost record only means the Hub is asked again.
import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { CacheStore, EntryMeta } from './cache-store.js'

/** A record larger than this is not kept (an EntryNotFound answer with a large body, say). */
export const MAX_SMALL_OBJECT_BYTES = 64 * 1024

export interface SmallObjectsOptions {
  store: CacheStore
  log: Logger
  now: () => number
}

function smallKey (id: string): string {
  return createHash('sha256').update(`dsmirror-record:${id}`).digest('hex')
}

export class SmallObjects {
  readonly #opts: SmallObjectsOptions
  /** Writes of one key run one after the other: they share its temp file. */
  readonly #writing = new Map<string, Promise<void>>()

  constructor (opts: SmallObjectsOptions) {
    this.#opts = opts
  }

  /** The record stored under `id`, or undefined (none, evicted, unreadable). */
  async get (id: string): Promise<unknown> {
    const key = smallKey(id)
    try {
      const body = await this.#opts.store.openBody(key)
      if (body === null) return undefined
      try {
        if (body.size > MAX_SMALL_OBJECT_BYTES) return undefined
        const buffer = Buffer.alloc(body.size)
        let read = 0
        while (read < body.size) {
          const n = await body.read(buffer.subarray(read), body.size - read, read)
          if (n === 0) break
          read += n
        }
        return JSON.parse(buffer.subarray(0, read).toString('utf8'))
      } finally {
        await body.close()
      }
    } catch (err: unknown) {
      this.#opts.log.warn({ err, id }, 'a stored record could not be read; it is asked for again')
      return undefined
    }
  }

  /** Stores `value` under `id` (replacing any); never throws: a record not kept is asked for again. */
  async put (id: string, value: unknown): Promise<void> {
    const key = smallKey(id)
    const previous = this.#writing.get(key) ?? Promise.resolve()
    const write = previous.then(async () => { await this.#write(key, id, value) }).catch((err: unknown) => {
      this.#opts.log.warn({ err, id }, 'a record could not be stored; it is asked for again after a restart')
    })
    this.#writing.set(key, write)
    await write
    if (this.#writing.get(key) === write) this.#writing.delete(key)
  }

  /** Resolves once every write started has ended. */
  async idle (): Promise<void> {
    await Promise.all([...this.#writing.values()])
  }

  async #write (key: string, id: string, value: unknown): Promise<void> {
    const { store, now } = this.#opts
    const body = Buffer.from(JSON.stringify(value))
    if (body.length > MAX_SMALL_OBJECT_BYTES) return
    const room = await store.reserve(body.length)
    if (typeof room === 'string') return
    if (!room.use(body.length)) {
      room.release()
      return
    }
    const handle = await store.staging.open(key).catch((err: unknown) => {
      room.release()
      throw err
    })
    let committed = false
    try {
      let done = 0
      while (done < body.length) done += (await handle.write(body, done, body.length - done, done)).bytesWritten
      const at = now()
      const meta: EntryMeta = {
        key,
        url: `dsmirror-record:${id}`,
        status: 200,
        headers: { 'content-type': 'application/json' },
        size: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        etag: null,
        lastModified: null,
        fetchedAt: at,
        lastAccess: at,
        immutable: true,
        policy: {}
      }
      const { durable } = await store.commit(meta, handle, room)
      committed = true
      await durable
    } catch (err: unknown) {
      // Before the commit the room and the temp file are still ours; after it, the store's.
      if (!committed) {
        room.release()
        await store.staging.remove(key).catch(() => {})
      }
      throw err
    } finally {
      await handle.close().catch(() => {})
    }
  }
}
