import { describeScope, everyDomain, isScoped, type DomainScope } from '../ground/domain-scope.js';
import { ScopedHypervisor } from '../host/scoped-host.js';
import type { Target } from './target.js';

/**
 * The target as a run with this scope sees it: domains out of scope are neither observed nor acted
 * on. Says once what the scope is and, whenever it changes, which running domains it leaves alone.
 */
export function scopeTarget(target: Target, scope: DomainScope, log: (message: string) => void): Target {
  if (!isScoped(scope)) return target;
  log(`managing ${describeScope(scope)}; every other domain is left alone`);
  const hypervisor = new ScopedHypervisor(target.hypervisor, scope, {
    onLeftAlone: (names) => log(names.length === 0 ? 'no running domain is left alone' : `left alone (out of scope): ${names.join(', ')}`),
  });
  return { ...target, hypervisor };
}

/**
 * The drop-ins manage every running domain unless scoped (the assignment's behaviour). Unscoped,
 * the target says once, at the first observation with domains, which ones and how to limit that:
 * a host may run domains the user did not mean to hand over.
 */
export function announceEveryDomain(target: Target, scope: DomainScope, prog: string, log: (message: string) => void): Target {
  if (isScoped(scope)) return target;
  const hypervisor = new ScopedHypervisor(target.hypervisor, everyDomain, {
    onFirstManaged: (names) => log(`${prog} manages every running domain (${names.length}: ${names.join(', ')}) and each one that starts; to limit it, --only PATTERN or --exclude PATTERN (a name, glob or UUID), e.g. --only '${suggestedGlob(names)}'`),
  });
  return { ...target, hypervisor };
}

/** A glob for the largest family of names (`aos_vm1`, `aos_vm2` → `aos_vm*`), else the first name. */
export function suggestedGlob(names: readonly string[]): string {
  const families = new Map<string, number>();
  for (const n of names) {
    const stem = n.replace(/\d+$/, '');
    if (stem !== n && stem !== '') families.set(stem, (families.get(stem) ?? 0) + 1);
  }
  const [best] = [...families].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  return best && best[1] > 1 ? `${best[0]}*` : names[0] ?? '*';
}
