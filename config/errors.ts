// The DSM_* codes config/ reports (issue 10 item 5: config/ owns its codes and imports nothing
// from server/). server/errors.ts re-exports them and lists them in ERRORS, the one list the
// README error table is checked against (test/unit/error-table.test.ts).
import createError, { type FastifyErrorConstructor } from '@fastify/error'

export const ConfigInvalidError = createError('DSM_CONFIG_INVALID', 'Invalid configuration:\n%s', 500)

/** Every error constructor of config/, for server/errors.ts ERRORS. */
export const CONFIG_ERRORS: readonly FastifyErrorConstructor[] = [ConfigInvalidError]
