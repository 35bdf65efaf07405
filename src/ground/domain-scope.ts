import type { DomainRef } from './hypervisor.js';

// Which domains of a host a run may see and act on. A pattern is a domain's exact name, a glob
// (`*` any run of characters, `?` one character, `[abc]` one of a set) or a UUID (matched on the
// domain's UUID, any case). A domain is managed when it matches an `only` pattern (or there are
// none), matches no `exclude` pattern, and is not named in `unmanaged` (the config file's
// `vms.NAME.manage: false`).

export interface DomainScope {
  only: readonly string[];
  exclude: readonly string[];
  unmanaged: readonly string[];
}

export const everyDomain: DomainScope = { only: [], exclude: [], unmanaged: [] };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(pattern: string): boolean {
  return UUID.test(pattern);
}

/** True when the scope limits anything. */
export function isScoped(scope: DomainScope): boolean {
  return scope.only.length > 0 || scope.exclude.length > 0 || scope.unmanaged.length > 0;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        const set = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        source += set.startsWith('!') ? `[^${set.slice(1)}]` : `[${set}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** One pattern as a test of a domain. */
export function patternMatcher(pattern: string): (domain: DomainRef) => boolean {
  if (isUuid(pattern)) {
    const uuid = pattern.toLowerCase();
    return (d) => d.uuid.toLowerCase() === uuid;
  }
  if (!/[*?[]/.test(pattern)) return (d) => d.name === pattern;
  const re = globToRegExp(pattern);
  return (d) => re.test(d.name);
}

/** The scope as one test: may the run see and act on this domain? */
export function scopeMatcher(scope: DomainScope): (domain: DomainRef) => boolean {
  const only = scope.only.map(patternMatcher);
  const exclude = scope.exclude.map(patternMatcher);
  const unmanaged = new Set(scope.unmanaged);
  return (d) => (only.length === 0 || only.some((m) => m(d))) && !exclude.some((m) => m(d)) && !unmanaged.has(d.name);
}

/** Patterns from repeated flags, each possibly a comma-separated list; empty items dropped. */
export function splitPatterns(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((p) => p.trim()).filter((p) => p !== '');
}

/** One line saying what the scope leaves out, for the start of a run. */
export function describeScope(scope: DomainScope): string {
  const parts: string[] = [];
  if (scope.only.length > 0) parts.push(`only ${scope.only.join(', ')}`);
  if (scope.exclude.length > 0) parts.push(`excluding ${scope.exclude.join(', ')}`);
  if (scope.unmanaged.length > 0) parts.push(`not ${scope.unmanaged.join(', ')} (manage: false)`);
  return parts.length === 0 ? 'every domain' : parts.join('; ');
}
