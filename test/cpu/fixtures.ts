// Hand-built measurements and a tiny host model for the scheduler tests.
// The model: each pCPU splits 1.0 max-min fairly among the vCPUs on it (the same water-filling the
// policy predicts with); a vCPU's measured demand is its true demand plus optional noise.
import type { PinAction } from '../../src/ground/actions.js';
import { predictShares, jainIndex } from '../../src/cpu/fairness.js';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState, type CpuDecision } from '../../src/cpu/scheduler.js';
import { type CpuSchedulerOptions } from '../../src/cpu/options.js';
import { pcpuDemandOf, pcpuUsageOf, vcpuKey, type CpuMeasurement, type VcpuLoad } from '../../src/cpu/usage.js';

export interface Vm {
  name: string;
  vcpu?: number;
  /** True demand, fraction of one pCPU. */
  demand: number;
  affinity: number[];
  pcpu?: number;
}

export function vms(demands: readonly number[], pins: readonly (number | number[])[]): Vm[] {
  return demands.map((demand, i) => {
    const pin = pins[i] ?? 0;
    const affinity = Array.isArray(pin) ? pin : [pin];
    return { name: `vm${i}`, demand, affinity, pcpu: affinity[0] };
  });
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/** What measureCpu would report for these VMs on `pcpus` pCPUs, with per-VM demand noise (fractions). */
export function measurementOf(pcpus: number, list: readonly Vm[], noise: readonly number[] = []): CpuMeasurement {
  const shares = predictShares(list.map((v) => ({ demand: v.demand, pcpus: v.affinity })), pcpus);
  const vcpus: VcpuLoad[] = list.map((v, i) => {
    const demand = clamp01(v.demand + (noise[i] ?? 0));
    return {
      domain: { name: v.name, uuid: `uuid-${v.name}` },
      vcpu: v.vcpu ?? 0,
      affinity: v.affinity,
      pcpu: v.pcpu,
      usage: Math.min(demand, shares[i] ?? 0),
      demand,
    };
  });
  return { elapsedNs: 1e9, pcpus, vcpus, pcpuUsage: pcpuUsageOf(vcpus, pcpus), pcpuDemand: pcpuDemandOf(vcpus, pcpus) };
}

export function applyPins(list: readonly Vm[], actions: readonly PinAction[]): Vm[] {
  const byKey = new Map(actions.map((a) => [vcpuKey(a.domain, a.vcpu), a]));
  return list.map((v) => {
    const a = byKey.get(vcpuKey({ name: v.name, uuid: `uuid-${v.name}` }, v.vcpu ?? 0));
    return a ? { ...v, affinity: a.pcpus, pcpu: a.pcpus[0] } : v;
  });
}

export interface Run {
  decisions: CpuDecision[];
  /** Placement after each interval's actions. */
  placements: Vm[][];
  /** pCPU usage spread (points) measured in each interval, before its actions (includes the noise). */
  usageSpread: number[];
  /** The same without noise: what the placement itself achieves. */
  trueUsageSpread: number[];
}

/** Runs the policy for `intervals` intervals against the model host. `noise(i)` gives the per-VM noise of interval i. */
export function runIntervals(pcpus: number, start: readonly Vm[], intervals: number, options: CpuSchedulerOptions, noise?: (interval: number) => number[]): Run {
  let placement = start.slice();
  let state = initialCpuSchedulerState();
  const run: Run = { decisions: [], placements: [], usageSpread: [], trueUsageSpread: [] };
  for (let i = 0; i < intervals; i++) {
    const m = measurementOf(pcpus, placement, noise?.(i));
    run.usageSpread.push(spreadPoints(m.pcpuUsage));
    run.trueUsageSpread.push(spreadPoints(measurementOf(pcpus, placement).pcpuUsage));
    const decision = decideCpu(m, state, options);
    state = decision.state;
    placement = applyPins(placement, decision.actions);
    run.decisions.push(decision);
    run.placements.push(placement);
  }
  return run;
}

export function spreadPoints(values: readonly number[]): number {
  return values.length === 0 ? 0 : (Math.max(...values) - Math.min(...values)) * 100;
}

/** Jain's index of share/demand among VMs of (nearly) equal true demand, the worst group. */
export function worstGroupFairness(pcpus: number, list: readonly Vm[]): number {
  const shares = predictShares(list.map((v) => ({ demand: v.demand, pcpus: v.affinity })), pcpus);
  const groups = new Map<string, number[]>();
  list.forEach((v, i) => {
    const key = v.demand.toFixed(2);
    groups.set(key, [...(groups.get(key) ?? []), (shares[i] ?? 0) / v.demand]);
  });
  return Math.min(...[...groups.values()].map(jainIndex));
}

export { seededRandom } from '../../src/host/sim/random.js';
