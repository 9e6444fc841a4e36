// Local staging for any store (docs/design.md "The store contract"): the temp file of each
// in-flight body, its resume checkpoint, and the quarantine of bodies that failed their digest.
// Always on the local disk, whatever the store commits to (a rename on disk, an upload to S3):
// readers tail the temp file while it grows (growing-file-reader.ts), and a restart resumes from
// the last checkpoint.
//   <dir>/<k>.part              in-flight body      <dir>/<k>.part.json   resume state
//   <quarantineDir>/<k>-<time>.bin                  bodies that failed their digest, with a .json note
import { constants as fsc } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, truncate, type FileHandle, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import writeFileAtomic from 'write-file-atomic'
import { CacheIoError } from '../errors.js'

/** What a restart needs to resume an interrupted download from `durable` bytes. */
export interface ResumeState {
  key: string
  url: string
  etag: string | null
  lastModified: string | null
  size: number | null
  /** The stored headers of the response being downloaded (for the entry's metadata). */
  headers: Record<string, string | string[]>
  policy: Record<string, unknown>
  immutable: boolean
  /** Bytes known to be on disk (fsynced) at the last checkpoint. */
  durable: number
}

export interface StagingOptions {
  /** Temp files and resume checkpoints. */
  dir: string
  quarantineDir: string
  now: () => number
  /**
   * A directory on a temp file's path is missing (issue 12 item 4: the cache directory was
   * removed under the running server): the owning store recreates its layout, then the open is
   * tried once more.
   */
  recover: () => Promise<void>
}

export class Staging {
  readonly dir: string
  readonly quarantineDir: string
  readonly #now: () => number
  readonly #recover: () => Promise<void>
  readonly #resumable = new Map<string, ResumeState>()

  constructor (opts: StagingOptions) {
    this.dir = opts.dir
    this.quarantineDir = opts.quarantineDir
    this.#now = opts.now
    this.#recover = opts.recover
  }

  path (key: string): string { return join(this.dir, `${key}.part`) }

  /** Interrupted downloads found at start and not taken yet. */
  get resumable (): number { return this.#resumable.size }

  async makeLayout (): Promise<void> {
    await Promise.all([this.dir, this.quarantineDir].map(async (d) => await mkdir(d, { recursive: true })))
  }

  /** Opens (creating or truncating to `from`) the temp file of an in-flight download. */
  async open (key: string, from = 0): Promise<FileHandle> {
    const path = this.path(key)
    try {
      const handle = await open(path, fsc.O_RDWR | fsc.O_CREAT, 0o644).catch(async (err: unknown) => {
        if (!isMissingDir(err)) throw err
        // Issue 12 item 4: the cache directory was removed under the running server (a tmp
        // cleaner, a re-mounted volume). Recreate the layout and try once more, instead of
        // answering 500 to every miss until a restart.
        await this.#recover()
        return await open(path, fsc.O_RDWR | fsc.O_CREAT, 0o644)
      })
      await handle.truncate(from)
      return handle
    } catch (err: unknown) {
      throw ioError(path, err)
    }
  }

  /** An interrupted download of `key` found at start, to resume; taken at most once. */
  takeResumable (key: string): ResumeState | undefined {
    const state = this.#resumable.get(key)
    this.#resumable.delete(key)
    return state
  }

  /** The temp files are gone with their directory: nothing is resumable any more. */
  forgetResumable (): void {
    this.#resumable.clear()
  }

  /** Records `state.durable` bytes (fsynced by the caller) as the resume point of its download. */
  async checkpoint (state: ResumeState): Promise<void> {
    await writeAtomically(`${this.path(state.key)}.json`, JSON.stringify(state))
  }

  async remove (key: string): Promise<void> {
    await rm(this.path(key), { force: true })
    await rm(`${this.path(key)}.json`, { force: true })
  }

  /** The checkpoint of a temp file that left staging (committed or quarantined). */
  async forget (key: string): Promise<void> {
    await rm(`${this.path(key)}.json`, { force: true })
  }

  /** Moves a temp body that failed verification aside, with a note of why. */
  async quarantine (key: string, note: Record<string, unknown>): Promise<string> {
    const target = await this.#moveToQuarantine(this.path(key), key, note)
    await this.forget(key)
    return target
  }

  /** Moves a committed body (a file at `source`) that failed `cache verify` aside, with a note. */
  async quarantineFile (source: string, key: string, note: Record<string, unknown>): Promise<string> {
    const target = this.#quarantineTarget(key)
    try {
      await mkdir(this.quarantineDir, { recursive: true })
      await rename(source, target)
      await writeFile(`${target}.json`, JSON.stringify({ ...note, quarantinedAt: new Date(this.#now()).toISOString() }, null, 2))
    } catch (err: unknown) {
      throw ioError(target, err)
    }
    return target
  }

  async #moveToQuarantine (source: string, key: string, note: Record<string, unknown>): Promise<string> {
    const target = this.#quarantineTarget(key)
    await mkdir(this.quarantineDir, { recursive: true })
    await rename(source, target)
    await writeFile(`${target}.json`, JSON.stringify({ ...note, quarantinedAt: new Date(this.#now()).toISOString() }, null, 2))
    return target
  }

  #quarantineTarget (key: string): string {
    return join(this.quarantineDir, `${key}-${this.#now()}.bin`)
  }

  /** Bytes the staging filesystem has free for this process, or null when it cannot tell. */
  async freeBytes (): Promise<number | null> {
    try {
      const fs = await statfs(this.dir)
      return fs.bavail * fs.bsize
    } catch {
      return null
    }
  }

  /** Creates and removes an empty file (for /_/healthz): a full disk with inodes left still passes. */
  async probe (): Promise<void> {
    const probe = join(this.dir, `.healthz-${process.pid}`)
    await (await open(probe, 'w', 0o644)).close()
    await rm(probe, { force: true })
  }

  /** At start: keeps interrupted downloads that can be resumed (truncated to their durable length), deletes the rest. */
  async load (): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.part')) {
        if (!name.endsWith('.part.json')) await rm(join(this.dir, name), { force: true })
        continue
      }
      const key = name.slice(0, -'.part'.length)
      const path = join(this.dir, name)
      const state = await readJson<ResumeState>(`${path}.json`)
      const size = await stat(path).then((s) => s.size, () => -1)
      const usable = state !== null && state.key === key && state.durable > 0 && size >= state.durable &&
        (state.etag !== null || state.lastModified !== null)
      if (usable) {
        await truncate(path, state.durable)
        this.#resumable.set(key, state)
      } else {
        await this.remove(key)
      }
    }
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.part.json') && !this.#resumable.has(name.slice(0, -'.part.json'.length))) {
        await rm(join(this.dir, name), { force: true })
      }
    }
  }
}

/** ENOENT or ENOTDIR: a directory on the path is missing (or is no longer a directory). */
export function isMissingDir (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

export function ioError (path: string, err: unknown): Error {
  const wrapped = new CacheIoError(path, err instanceof Error ? err.message : String(err))
  wrapped.cause = err
  return wrapped
}

export async function readJson<T> (path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    return null
  }
}

/** Temp file, fsync, rename (write-file-atomic): a reader sees the old file or the new one, never a torn one. */
export async function writeAtomically (path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text, { mode: 0o644, fsync: true })
}
