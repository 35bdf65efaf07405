import type { DomainRef, HostObservation } from '../ground/hypervisor.js';
import type { Action, SetCpuWeightAction } from '../ground/actions.js';
import type { ActionFailure, RestoreContribution } from '../ground/controller.js';
import { domainKey } from '../ground/domain-identity.js';
import { renderWeightReason, type WeightTrigger, type WeightWhy } from '../ground/weight-why.js';
import type { CpuMeasurement } from './usage.js';

// CPU weights (libvirt cpu_shares = weight × 1024) the vCPU scheduler keeps on the domains, as pure
// functions over plain data (`WeightKeeping`, part of the controller's state: it survives JSON).
//
// Configured weights (`vms.NAME.cpuWeight`, the CPU option `weights`): a weight is set once per
// *appearance* of a domain in the run's scope: when it is first seen, when it is seen again after it
// was gone (stopped and started), and when its cpu_shares went back from what we set to something
// else while it stayed, or it started anew between two observations (the host starts a new cgroup): its
// id changed or its vCPU time began again, which tell it even when it restarted right after our change
// (a run short enough that the new one's time is already past the old one's needs the id). Within one
// appearance it is never set twice: a weight the host does not keep is not set again, and one
// someone changes by hand is set back once, not fought over every interval. The weight each domain
// had before our first change is remembered for `--restore`. Only domains in the observation are
// considered, and the run's observation holds only the domains in its scope (src/host/scoped-host.ts).
//
// Levers (`requestLever`): a weight the policy raises on a domain to change how the host shares
// (e.g. so a clock-bound guest finishes its window beside busy ones), not because it matters more.
// A lever never lowers a domain below its configured weight (the weight set is the larger of the
// two); released, the domain goes back to its configured weight (or, unconfigured, to the weight it
// had before our first change). Fair shares never count a lever: while one is in force the
// measurement carries the domain's configured weight (`withFairWeights`). `--restore` puts back
// every weight we changed, lever or configured, to what the domain had before our first change.

/** What the keeper remembers of one domain (by domainKey). */
export interface KeptWeight {
  ref: DomainRef;
  /** Seen in the last successful observation. */
  present: boolean;
  /** The weight it should hold was dealt with in this appearance (set, or found already there). */
  handled: boolean;
  /** The weight we want it to hold in this appearance, once handled. */
  wanted?: number;
  /** Its weight at the last observation. */
  last?: number;
  /** Its vCPUs' time (Σ ns) at the last observation: less now means it started again in between. */
  cpuTimeNs?: number;
  /** The host's id of its run at the last observation: another now means it started again in between. */
  id?: number;
  /** Its weight before our first change. */
  before?: number;
  /** A change of ours took effect (so --restore puts `before` back). */
  changed: boolean;
  /** The weight the policy asks for as a lever, and why (absent: none asked). */
  lever?: { weight: number; reason: string };
  /** The lever weight in force when the wanted weight was last dealt with (absent: none). */
  leverSet?: number;
}

/** The keeper's bookkeeping: plain data, part of the vCPU scheduler's state. */
export interface WeightKeeping {
  domains: Record<string, KeptWeight>;
}

/** A domain whose weight we changed, and the weight it had before (1: a default guest). */
export interface WeightedDomain {
  ref: DomainRef;
  before: number;
}

export function initialWeightKeeping(): WeightKeeping {
  return { domains: {} };
}

const sameWeight = (a: number, b: number): boolean => Math.abs(a - b) * 1024 < 0.5;

/** The weight that counts for fair shares: the configured one, else what it had before our first change, else what it has. */
function fairWeight(kept: KeptWeight, configured: number | undefined, observed: number): number {
  return configured ?? kept.before ?? observed;
}

/** Whether a lever of ours is asked for or still in force on the domain. */
function leverInForce(kept: KeptWeight): boolean {
  return kept.lever !== undefined || kept.leverSet !== undefined;
}

/** The weight changes this observation calls for, each with its reason, and the bookkeeping after them. `weights`: configured, by domain name. */
export function planWeights(keeping: WeightKeeping, observation: HostObservation, weights: Readonly<Record<string, number>>): { keeping: WeightKeeping; actions: SetCpuWeightAction[] } {
  const domains: Record<string, KeptWeight> = structuredClone(keeping.domains);
  const actions: SetCpuWeightAction[] = [];
  const seen = new Set<string>();
  for (const d of observation.domains) {
    const key = domainKey(d);
    seen.add(key);
    const observed = d.cpuWeight ?? 1;
    const cpuTimeNs = d.vcpus.reduce((sum, v) => sum + v.timeNs, 0);
    const kept: KeptWeight = domains[key] ?? { ref: { name: d.name, uuid: d.uuid }, present: false, handled: false, changed: false };
    kept.ref = { name: d.name, uuid: d.uuid };
    domains[key] = kept;
    const configured = weights[d.name];
    // What it should hold: the configured weight; with a lever, the larger of the lever and the weight that counts; a released lever, the weight that counts.
    const floor = fairWeight(kept, configured, observed);
    const wanted = kept.lever ? Math.max(kept.lever.weight, floor) : kept.leverSet !== undefined ? floor : configured;
    let trigger: WeightTrigger | undefined;
    if (!kept.present) {
      kept.handled = false;
      trigger = { event: kept.last === undefined ? 'first-seen' : 'running-again' };
    } else if ((kept.id !== undefined && d.id !== undefined && d.id !== kept.id) || (kept.cpuTimeNs !== undefined && cpuTimeNs < kept.cpuTimeNs)) {
      kept.handled = false;
      trigger = { event: 'restarted' };
    } else if (kept.wanted !== undefined && kept.last !== undefined && sameWeight(kept.last, kept.wanted) && !sameWeight(observed, kept.wanted)) {
      kept.handled = false;
      trigger = { event: 'changed-elsewhere', wanted: kept.wanted, observed };
    } else if (kept.handled && wanted !== undefined && (kept.wanted === undefined || !sameWeight(kept.wanted, wanted))) {
      // The policy asked for another lever (or released it): a new weight to deal with, once.
      kept.handled = false;
    }
    kept.present = true;
    kept.last = observed;
    kept.cpuTimeNs = cpuTimeNs;
    if (d.id !== undefined) kept.id = d.id;
    else delete kept.id;
    if (wanted === undefined || kept.handled || (d.state !== 'running' && d.state !== 'blocked')) continue;
    kept.handled = true;
    kept.wanted = wanted;
    const releasing = !kept.lever && kept.leverSet !== undefined;
    if (kept.lever) kept.leverSet = kept.lever.weight;
    else delete kept.leverSet;
    if (sameWeight(observed, wanted)) continue;
    kept.before ??= observed;
    const change = { from: observed, to: wanted };
    let why: WeightWhy;
    if (kept.lever && wanted > floor) why = { rule: 'lever', ...change, figures: { floor, lever: kept.lever.reason } };
    else if (releasing) why = { rule: 'lever-released', ...change, figures: { configured: configured !== undefined } };
    else if (configured !== undefined) why = { rule: 'configured', ...change, figures: { ...(trigger ? { trigger } : {}), leverAskedNoMore: kept.lever !== undefined } };
    else why = { rule: 'lever-no-more', ...change, figures: {} };
    actions.push({ kind: 'set-cpu-weight', domain: { name: d.name, uuid: d.uuid }, weight: wanted, previous: observed, reason: renderWeightReason(d.name, why), why });
  }
  for (const [key, kept] of Object.entries(domains)) {
    if (seen.has(key)) continue;
    // Gone: what --restore needs is kept; a domain we never changed is forgotten (a long run sees many come and go).
    if (kept.changed || weights[kept.ref.name] !== undefined) kept.present = false;
    else delete domains[key];
  }
  return { keeping: { domains }, actions };
}

/**
 * After the interval's actions were applied (or not: a dry run): a weight set counts as changed
 * when it did not fail; one not attempted for want of a connection is tried again next interval.
 */
export function settleWeights(keeping: WeightKeeping, actions: readonly Action[], failures: readonly ActionFailure[], dryRun: boolean): WeightKeeping {
  const domains: Record<string, KeptWeight> = structuredClone(keeping.domains);
  const failed = new Map(failures.map((f) => [f.action, f.error]));
  for (const action of actions) {
    if (action.kind !== 'set-cpu-weight') continue;
    const kept = domains[domainKey(action.domain)];
    if (!kept) continue;
    const error = failed.get(action);
    if (error === undefined && !dryRun) kept.changed = true;
    else if (error?.startsWith('not attempted: no connection')) kept.handled = false;
  }
  return { domains };
}

/** The lines the operator reads for the interval's weight changes (rare and lasting: each is also a log line). */
export function weightLogLines(actions: readonly Action[], failures: readonly ActionFailure[], dryRun: boolean): string[] {
  const failed = new Set(failures.map((f) => f.action));
  return actions.filter((a) => a.kind === 'set-cpu-weight' && !failed.has(a)).map((a) => (dryRun ? `would set: ${a.reason}` : a.reason));
}

/**
 * Asks for a weight on a domain as a lever (`weight` undefined: releases it). Only a domain the
 * keeper has seen can be asked for; the next `planWeights` sets it (never below the configured weight).
 */
export function requestLever(keeping: WeightKeeping, domain: DomainRef, weight: number | undefined, reason = ''): WeightKeeping {
  const key = domainKey(domain);
  const kept = keeping.domains[key];
  if (!kept) return keeping;
  const next: KeptWeight = { ...kept };
  if (weight === undefined) delete next.lever;
  else next.lever = { weight, reason };
  return { domains: { ...keeping.domains, [key]: next } };
}

/** The domains whose weight we changed (lever or configured), with the weight each had before our first change. */
export function changedWeights(keeping: WeightKeeping): WeightedDomain[] {
  return Object.values(keeping.domains)
    .filter((k) => k.changed && k.before !== undefined)
    .map((k) => ({ ref: { ...k.ref }, before: k.before! }));
}

/**
 * The measurement as fair shares must see it: a domain with a lever of ours in force counts its
 * configured weight (or, unconfigured, the weight it had before our first change), not the lever.
 */
export function withFairWeights(m: CpuMeasurement, keeping: WeightKeeping | undefined, weights: Readonly<Record<string, number>>): CpuMeasurement {
  if (!keeping || !Object.values(keeping.domains).some(leverInForce)) return m;
  return {
    ...m,
    vcpus: m.vcpus.map((v) => {
      const kept = keeping.domains[domainKey(v.domain)];
      if (!kept || !leverInForce(kept)) return v;
      const w = fairWeight(kept, weights[v.domain.name], v.weight ?? 1);
      const { weight: _lever, ...rest } = v;
      return w === 1 ? rest : { ...rest, weight: w };
    }),
  };
}

/** `--restore`: each weight we changed, set back to what the domain had before, where the domain still runs. */
export function restoreWeights(keeping: WeightKeeping, now: HostObservation): RestoreContribution {
  return restoreChangedWeights(changedWeights(keeping), now);
}

/** Each of these weights set back to what the domain had before, where the domain still runs; a note for each that cannot be. */
export function restoreChangedWeights(weights: readonly WeightedDomain[], now: HostObservation): RestoreContribution {
  const actions: SetCpuWeightAction[] = [];
  const notes: string[] = [];
  for (const w of weights) {
    const d = now.domains.find((x) => domainKey(x) === domainKey(w.ref));
    if (!d || (d.state !== 'running' && d.state !== 'blocked')) {
      notes.push(`${w.ref.name}: ${d ? d.state : 'no longer runs here'}, its CPU weight (cpu_shares ${Math.round(w.before * 1024)} before the run) not put back`);
      continue;
    }
    const current = d.cpuWeight ?? 1;
    if (sameWeight(current, w.before)) continue;
    const why: WeightWhy = { rule: 'restore', from: current, to: w.before, figures: {} };
    actions.push({ kind: 'set-cpu-weight', domain: { name: d.name, uuid: d.uuid }, weight: w.before, previous: current, reason: renderWeightReason(d.name, why), why });
  }
  return { actions, notes };
}
