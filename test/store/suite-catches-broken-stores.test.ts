// The conformance suite (cache-store.suite.ts) fails on stores that break the contract: each
// broken store of broken-stores.ts is run through the whole suite in a child process, which
// must exit non-zero with the assertion that names the broken rule among its failures. The
// plain DiskStore, run the same way, passes: the failures come from the stores, not the harness.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv } from '../helpers/child-env.js'

const RUNNER = fileURLToPath(new URL('./run-suite-on.ts', import.meta.url))
/** One whole suite run on a loaded 2-core machine takes ~20 s, most of it loading TypeScript. */
const CHILD_TIMEOUT_MS = 150_000

async function runSuiteOn (store: string): Promise<{ code: number | null; stdout: string }> {
  return await new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', RUNNER, store], {
      env: childEnv({ TAP_COLORS: '0' }),
      timeout: CHILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024
    }, (_err, stdout) => { resolve({ code: child.exitCode, stdout }) })
  })
}

/** The names of the failed assertions in TAP output (`not ok N - name`). */
function failures (tap: string): string[] {
  return [...tap.matchAll(/^\s*not ok \d+ - (.*?)(?: # time=.*)?$/gm)].map((m) => m[1] ?? '')
}

t.test('the suite passes on DiskStore run the same way', async (t) => {
  const run = await runSuiteOn('disk-store')
  t.same(failures(run.stdout), [], 'no failed assertion')
  t.equal(run.code, 0, 'exit 0')
})

const EXPECTED: Record<string, string> = {
  'metadata-before-durable-body': 'crash between body and metadata: the entry is gone after a restart',
  'ignores-max-size': 'LRU eviction under maxSize: ',
  'list-drops-entries': 'listing with cursors: every entry once, in key order'
}

for (const [store, assertion] of Object.entries(EXPECTED)) {
  t.test(`the suite fails on a store that ${store.replace(/-/g, ' ')}`, async (t) => {
    const run = await runSuiteOn(store)
    t.not(run.code, 0, 'the child exits non-zero')
    const failed = failures(run.stdout)
    t.ok(failed.some((name) => name.startsWith(assertion)), `'${assertion}' is among the failures: ${JSON.stringify(failed)}`)
  })
}
