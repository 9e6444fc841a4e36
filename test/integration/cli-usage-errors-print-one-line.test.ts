// Issue 10 item 6: a command line the CLI cannot parse (unknown command or option, a missing or
// extra argument) gets one line on stderr and exit 2, never a stack trace; a command that refuses
// its arguments after parsing (purge without a prefix, a bad --shell) gets one line and exit 1.
// Help and version still exit 0. Runs the built CLI (npx tsc -p tsconfig.build.json).
import t, { type Test } from 'tap'
import { runDsmirror, type CliRun } from '../helpers/cli.js'

const STACK_FRAME = /^\s+at /m

function oneLine (stderr: string): boolean {
  return stderr.trimEnd().split('\n').length === 1
}

/** Runs the CLI and checks its exit code and its one-line, stack-free message. */
async function expectOneLine (t: Test, args: string[], code: number, message: RegExp): Promise<CliRun> {
  const run = await runDsmirror(args)
  const name = `dsmirror ${args.join(' ')}`
  t.equal(run.code, code, `${name} exits ${code}`)
  t.match(run.stderr, message, name)
  t.ok(oneLine(run.stderr), `${name} prints one line: ${JSON.stringify(run.stderr)}`)
  t.notMatch(run.stderr, STACK_FRAME, `${name} prints no stack trace`)
  return run
}

t.test('usage errors: one line, exit 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['serve', '--nope'], /unknown option '--nope'/],
    [['cache', 'ls', '--config'], /option '-c, --config <file>' argument missing/],
    [['doctor', 'a', 'b'], /too many arguments/]
  ]
  for (const [args, message] of cases) {
    const run = await expectOneLine(t, args, 2, message)
    t.match(run.stderr, /^dsmirror: /, `dsmirror ${args.join(' ')} says who is talking`)
  }
})

t.test('a command group without its command: its usage, exit 2', async (t) => {
  const run = await runDsmirror(['trust'])
  t.equal(run.code, 2)
  t.match(run.stderr, /Usage: dsmirror trust/)
  t.notMatch(run.stderr, STACK_FRAME)
})

t.test('arguments a command refuses: one line, exit 1', async (t) => {
  for (const [args, message] of [
    [['cache', 'purge'], /give a prefix .* or --all/],
    [['trust', 'env', '--shell', 'tcsh'], /--shell tcsh is not supported/],
    [['prefetch'], /Nothing to prefetch/]
  ] as Array<[string[], RegExp]>) {
    await expectOneLine(t, args, 1, message)
  }
})

t.test('help and version exit 0', async (t) => {
  const help = await runDsmirror(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: dsmirror/)
  const version = await runDsmirror(['--version'])
  t.equal(version.code, 0)
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
})
