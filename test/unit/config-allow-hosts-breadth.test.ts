// allowHosts entries that are broader than they look are refused at start (issue 12 item 14):
// a `*.suffix` whose suffix is a public suffix (the Public Suffix List through tldts, private
// domains included, so `*.github.io` counts like `*.co.uk`), and the unspecified addresses
// 0.0.0.0/8 and `::`, which reach this machine's own services. Every bad entry is listed at once.
import t from 'tap'

import { normalizeAllowHost } from '../../config/allow-hosts.js'
import { parseConfig } from '../../config/load-config.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('wildcards over a public suffix are refused; narrower ones are kept', async (t) => {
  for (const entry of ['*.co.uk', '*.github.io', '*.s3.amazonaws.com', '*.com.au', '*.CO.UK:8443', '*.blob.core.windows.net']) {
    t.throws(() => normalizeAllowHost(entry), { message: /is as broad as a top-level domain: '[^']+' is a public suffix/ }, entry)
  }
  for (const entry of ['*.hf.co', '*.corp.example', '*.bbc.co.uk', '*.user.github.io', '*.example.com:8443']) {
    t.equal(normalizeAllowHost(entry), entry.toLowerCase(), entry)
  }
  t.equal(normalizeAllowHost('co.uk'), 'co.uk', 'an exact name is one host, whatever its suffix')
})

t.test('unspecified addresses are refused in every spelling', async (t) => {
  for (const entry of ['0.0.0.0', '0.0.0.0:8080', '0.1.2.3', '[::]', '[::]:8443', '[0:0::0]', '[::ffff:0.0.0.0]']) {
    t.throws(() => normalizeAllowHost(entry), { message: /is an unspecified address/ }, entry)
  }
  t.equal(normalizeAllowHost('10.0.0.5'), '10.0.0.5', 'other literals are kept')
  t.equal(normalizeAllowHost('[::1]:8443'), '[::1]:8443')
})

t.test('every too-broad entry is named at once, each with its fix', async (t) => {
  const message = configError(t, () => parseConfig({ allowHosts: ['ok.example', '*.co.uk', '0.0.0.0', '*.github.io', '[::]'] }, { env: {}, cwd }))
  const lines = message.split('\n').filter((line) => line.startsWith('  - '))
  t.equal(lines.length, 4)
  t.match(lines[0], "  - allowHosts[1]: '*.co.uk' is as broad as a top-level domain: 'co.uk' is a public suffix")
  t.match(lines[0], 'List the hosts you need')
  t.match(lines[1], "  - allowHosts[2]: '0.0.0.0' is an unspecified address")
  t.match(lines[2], "  - allowHosts[3]: '*.github.io' is as broad as a top-level domain")
  t.match(lines[3], "  - allowHosts[4]: '[::]' is an unspecified address")
})
