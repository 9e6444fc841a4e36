// The message of the DSM_CONFIG_INVALID error a config call throws; fails the test when it throws none.
import type { Test } from 'tap'
import { isDsmError } from '../../server/errors.js'

function messageOf (t: Test, err: unknown): string {
  t.ok(isDsmError(err) && err.code === 'DSM_CONFIG_INVALID', 'throws DSM_CONFIG_INVALID')
  return err instanceof Error ? err.message : String(err)
}

export function configError (t: Test, fn: () => unknown): string {
  try {
    fn()
  } catch (err: unknown) {
    return messageOf(t, err)
  }
  t.fail('expected a ConfigInvalidError')
  return ''
}

export async function configErrorAsync (t: Test, promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err: unknown) {
    return messageOf(t, err)
  }
  t.fail('expected a ConfigInvalidError')
  return ''
}
