// `dsmirror certs show`: the certificates the HTTPS listener serves, read from dataDir and the
// config without starting a server. Exits 1 when they cannot be used (e.g. key and certificate
// do not match), so a deploy script can check before it restarts the service.
import type { Command } from 'commander'
import { formatCertificateReport, reportServingCertificates } from '../../certs/certificate-report.js'
import { commandGroup, CONFIG_FLAGS, CONFIG_FLAGS_HELP, loadCliConfig, type ConfigOption } from './cli-common.js'

export function registerCertsCommands (program: Command): void {
  commandGroup(program, 'certs', 'Inspect the certificates dsmirror serves and trusts.')
    .command('show')
    .description('Print the local CA (SHA-256 fingerprint, validity, permitted names) and the served leaf, or the tls.certFile chain.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--json', 'print JSON instead of text')
    .action(async (opts: ConfigOption & { json?: boolean }) => {
      const report = await reportServingCertificates(await loadCliConfig(opts))
      process.stdout.write(opts.json === true ? JSON.stringify(report, null, 2) + '\n' : formatCertificateReport(report))
      if (report.problems.length > 0) process.exitCode = 1
    })
}
