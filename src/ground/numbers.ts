import { UsageError } from './errors.js';

// Numbers given by a person (flags, config values as text): a clear one-line UsageError when not what is asked.

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
