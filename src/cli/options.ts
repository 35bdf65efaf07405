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

export function positiveNumber(value: string | undefined, what: string): number {
  const n = value === undefined ? NaN : Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive number of seconds, got '${value ?? ''}'`);
  }
  return n;
}

export function positiveInteger(value: string | undefined, what: string): number {
  const n = value === undefined ? NaN : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive whole number, got '${value ?? ''}'`);
  return n;
}

export function nonNegativeNumber(value: string | undefined, what: string): number {
  const n = value === undefined ? NaN : Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${what} must be a number ≥ 0, got '${value ?? ''}'`);
  return n;
}
