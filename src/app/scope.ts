import { describeScope, isScoped, type DomainScope } from '../ground/domain-scope.js';
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
