// What every `dsmirror` command shares: config loading, the logger, command groups. Part of the
// CLI entry (the only code that reads process.env and argv); cli.ts registers the commands.
import { createRequire } from 'node:module'
import type { Command } from 'commander'
import pino, { type Logger } from 'pino'
import { loadConfig } from '../../config/load-config.js'
import type { DsmirrorConfig } from '../../config/schema.js'

const require = createRequire(import.meta.url)

/**
 * A command that refuses its arguments after commander parsed them (purge without a prefix or
 * --all, an unknown --shell): cli.ts prints its message on one line, no stack, and exits 1.
 */
export class CommandRefusedError extends Error {}

export interface ConfigOption {
  config?: string
}

/** The config from `--config FILE` (else $DSMIRROR_CONFIG, else defaults) and DSMIRROR_* variables. */
export async function loadCliConfig (opts: ConfigOption): Promise<DsmirrorConfig> {
  return await loadConfig({ ...(opts.config !== undefined ? { file: opts.config } : {}), env: process.env, cwd: process.cwd() })
}

export function createLogger (config: Pick<DsmirrorConfig, 'log'>): Logger {
  const options = {
    level: config.log.level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]', 'headers.authorization'], censor: '[redacted]' }
  }
  // Pretty only for a person at a terminal; JSON lines for everything else.
  if (process.stdout.isTTY === true) {
    try {
      require.resolve('pino-pretty')
      return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } })
    } catch {}
  }
  return pino(options)
}

/**
 * The subcommand `name` of `program`, made on first use, so several modules can add commands to
 * one group (`certs show`, `certs bundle`) without knowing about each other.
 */
export function commandGroup (program: Command, name: string, description: string): Command {
  return program.commands.find((command) => command.name() === name) ?? program.command(name).description(description)
}

export const CONFIG_FLAGS = '-c, --config <file>'
export const CONFIG_FLAGS_HELP = 'YAML or JSON config file (default: $DSMIRROR_CONFIG, else built-in defaults)'
