import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../ground/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with strict checking; every mistake becomes a one-line UsageError. */
export function parseCommandLine<T extends Options>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message.split('\n')[0]}`);
  }
}
