import { readFileSync } from 'node:fs';

// The version of virtbalance that is running, from its package.json (shipped with the package;
// two levels above dist/src/app/ both in a checkout and in an installed package).

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
