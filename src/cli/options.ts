import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../ground/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const NEGATIVE_NUMBER = /^-(\d|\.\d)/;
/** Stands in for a negative number while parseArgs runs (it would take `-1` for an option). */
const NEGATIVE_MARK = '\u0000negative:';

/**
 * parseArgs with strict checking; every mistake becomes a one-line UsageError. A negative number
 * (`--interval -1`, `vcpu_scheduler -1`) is taken as a value, so the check of that value can say
 * what is wrong with it instead of parseArgs calling it an ambiguous option.
 */
export function parseCommandLine<T extends Options>(argv: string[], options: T, command: string) {
  const args = argv.map((a) => (NEGATIVE_NUMBER.test(a) ? `${NEGATIVE_MARK}${a}` : a));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    let message = (err as Error).message.split('\n')[0]!.split(NEGATIVE_MARK).join('');
    // parseArgs adds advice about '--' that ends in an unclosed quote; the option's name is what matters.
    if ((err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') message = `${message.split('. ')[0]} (try --help)`;
    throw new UsageError(`${command}: ${message}`);
  }
  const unmark = (v: unknown): unknown => (typeof v === 'string' && v.startsWith(NEGATIVE_MARK) ? v.slice(NEGATIVE_MARK.length) : Array.isArray(v) ? v.map(unmark) : v);
  for (const key of Object.keys(parsed.values)) (parsed.values as Record<string, unknown>)[key] = unmark((parsed.values as Record<string, unknown>)[key]);
  parsed.positionals = parsed.positionals.map((p) => unmark(p) as string);
  return parsed;
}
