// The environment of a child process a test starts (the dsmirror CLI, a tool): only what it
// needs, so the developer's shell (SSL_CERT_FILE, HTTPS_PROXY, DSMIRROR_*) cannot change the
// outcome, plus the variables that move the clock, so a suite run under `faketime` (issue 8,
// `.ci/run`'s shifted runs) shifts its children too instead of testing two dates at once.
const CLOCK_VARIABLES = /^(LD_PRELOAD|FAKETIME|FAKETIME_.+|DONT_FAKE_MONOTONIC|NO_FAKE_STAT)$/

export function childEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clock = Object.fromEntries(Object.entries(process.env).filter(([name]) => CLOCK_VARIABLES.test(name)))
  return { PATH: process.env.PATH ?? '', ...clock, ...extra }
}
