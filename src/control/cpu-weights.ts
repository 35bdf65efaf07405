import type { DomainRef, HostObservation } from '../ground/hypervisor.js';
import type { Action, SetCpuWeightAction } from '../ground/actions.js';
import { domainKey } from '../ground/domain-identity.js';

// The configured CPU weights (`vms.NAME.cpuWeight`: libvirt cpu_shares = weight × 1024), kept on
// the domains they name for as long as the run lasts. A weight is set once per *appearance* of a
// domain in the run's scope: when it is first seen, when it is seen again after it was gone (stopped
// and started), and when its cpu_shares went back from what we set to something else while it
// stayed, or its vCPU time began again (restarted between two observations: the host starts a new
// cgroup; the time tells it even when it restarted right after our change). Within one appearance
// it is never set twice: a weight the host does not keep is not set again, and one someone changes
// by hand is set back once, not fought over every interval. The weight each domain had before our first change is remembered for
// `--restore`. Only domains in the observation are considered, and the run's observation holds
// only the domains in its scope (src/host/scoped-host.ts).

/** A domain whose weight we changed, and the weight it had before (1: a default guest). */
export interface WeightedDomain {
  ref: DomainRef;
  before: number;
}

interface KeptDomain {
  ref: DomainRef;
  /** Seen in the last successful observation. */
  present: boolean;
  /** The configured weight was dealt with in this appearance (set, or found already there). */
  handled: boolean;
  /** The weight we want it to hold in this appearance, once handled. */
  wanted?: number;
  /** Its weight at the last observation. */
  last?: number;
  /** Its vCPUs' time (Σ ns) at the last observation: less now means it started again in between. */
  cpuTimeNs?: number;
  /** Its weight before our first change. */
  before?: number;
  /** A change of ours took effect (so --restore puts `before` back). */
  changed: boolean;
}

const sameWeight = (a: number, b: number): boolean => Math.abs(a - b) * 1024 < 0.5;
const shares = (w: number): number => Math.round(w * 1024);

export class CpuWeightKeeper {
  private readonly domains = new Map<string, KeptDomain>();

  /** `weights`: by domain name, as configured. */
  constructor(readonly weights: Readonly<Record<string, number>>) {}

  /** The weight changes this observation calls for, each with its reason. */
  plan(observation: HostObservation): SetCpuWeightAction[] {
    const actions: SetCpuWeightAction[] = [];
    const seen = new Set<string>();
    for (const d of observation.domains) {
      const key = domainKey(d);
      seen.add(key);
      const observed = d.cpuWeight ?? 1;
      const cpuTimeNs = d.vcpus.reduce((sum, v) => sum + v.timeNs, 0);
      const kept = this.domains.get(key) ?? { ref: { name: d.name, uuid: d.uuid }, present: false, handled: false, changed: false };
      kept.ref = { name: d.name, uuid: d.uuid };
      this.domains.set(key, kept);
      const wanted = this.weights[d.name];
      let why: string | undefined;
      if (!kept.present) {
        kept.handled = false;
        why = kept.last === undefined ? 'first seen in scope' : 'running again after it was gone';
      } else if (kept.cpuTimeNs !== undefined && cpuTimeNs < kept.cpuTimeNs) {
        kept.handled = false;
        why = 'restarted (its vCPU time began again from zero)';
      } else if (kept.wanted !== undefined && kept.last !== undefined && sameWeight(kept.last, kept.wanted) && !sameWeight(observed, kept.wanted)) {
        kept.handled = false;
        why = `its cpu_shares went from ${shares(kept.wanted)} to ${shares(observed)} (restarted, or changed by someone else)`;
      }
      kept.present = true;
      kept.last = observed;
      kept.cpuTimeNs = cpuTimeNs;
      if (wanted === undefined || kept.handled || (d.state !== 'running' && d.state !== 'blocked')) continue;
      kept.handled = true;
      kept.wanted = wanted;
      if (sameWeight(observed, wanted)) continue;
      kept.before ??= observed;
      actions.push({
        kind: 'set-cpu-weight',
        domain: { name: d.name, uuid: d.uuid },
        weight: wanted,
        previous: observed,
        reason: `${d.name}: CPU weight ${fmt(observed)} → ${fmt(wanted)} (cpu_shares ${shares(observed)} → ${shares(wanted)}), vms.${d.name}.cpuWeight; ${why ?? 'configured'}`,
      });
    }
    for (const [key, kept] of this.domains) {
      if (seen.has(key)) continue;
      // Gone: what --restore needs is kept; a domain we never changed is forgotten (a long run sees many come and go).
      if (kept.changed || this.weights[kept.ref.name] !== undefined) kept.present = false;
      else this.domains.delete(key);
    }
    return actions;
  }

  /**
   * After the interval's actions were applied (or not: a dry run): a weight set counts as changed
   * when it did not fail; one not attempted for want of a connection is tried again next interval.
   */
  settle(actions: readonly Action[], failures: readonly { action: Action; error: string }[], dryRun: boolean): void {
    const failed = new Map(failures.map((f) => [f.action, f.error]));
    for (const action of actions) {
      if (action.kind !== 'set-cpu-weight') continue;
      const kept = this.domains.get(domainKey(action.domain));
      if (!kept) continue;
      const error = failed.get(action);
      if (error === undefined && !dryRun) kept.changed = true;
      else if (error?.startsWith('not attempted: no connection')) kept.handled = false;
    }
  }

  /** The domains whose weight we changed, with the weight each had before our first change. */
  changed(): WeightedDomain[] {
    return [...this.domains.values()].filter((k) => k.changed && k.before !== undefined).map((k) => ({ ref: { ...k.ref }, before: k.before! }));
  }
}

function fmt(w: number): string {
  return String(Math.round(w * 1000) / 1000);
}
