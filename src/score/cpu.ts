import type { PinAction } from '../ground/actions.js';
import type { TraceInterval } from '../ground/trace-record.js';
import { fairShares, groupByValue, guestCapacity, jainIndex } from './fairness.js';
import { sameCpuSet } from '../ground/cpu-list.js';
import { tallyTrials, type TrialCounts } from './trials.js';

// How well a run balanced the pCPUs and how fairly the VMs were served.
//
// * spread: max − min of the interval's pcpuUsage, in percentage points (recomputed, not read
//   from the trace). Intervals without a CPU measurement (the first of a run) are skipped.
// * balanced at: the first measured interval from which the spread stays ≤ threshold to the end.
// * pin change: a pin action whose pcpus differ (as a set) from its `previous`, and that did not
//   fail. One recorded in interval n was decided on interval n's observation, so "after balance"
//   counts those with n ≥ the balanced interval: they disturbed a host already balanced.
// * fairness: per VM, Σreceived / Σdemand (Jain over VMs, and within groups of equal demand) and
//   Σreceived / Σfair share, where the fair share is what max-min fair sharing of all pCPUs among
//   the vCPUs would give (see fairShares). Truth when the interval has it, else the measurement.
// * short windows (cpu.shortWindow: shorter than half the interval, nothing decided on them) count
//   in none of these: each interval weighs the same in them, so a 110 ms window of noise would
//   weigh as much as a full one, and one late spike would move "balanced at" past it.
// * trials: the scheduler's trials (cpu.trial, src/cpu/trials.ts) started, kept, reverted and
//   abandoned, proposals held by rule, and the pin changes the reverts made (in pin changes too).

export interface CpuScoreOptions {
  /** Spread (max − min pCPU usage, percentage points) at or below which the host counts as balanced. */
  balanceThresholdPoints: number;
  /** VMs whose mean demand is within ±this fraction of each other form an equal-demand group. */
  equalDemandTolerance: number;
}

export const defaultCpuScoreOptions: CpuScoreOptions = { balanceThresholdPoints: 5, equalDemandTolerance: 0.05 };

export interface VmCpuShare {
  domain: string;
  /** Mean per interval, fractions of one pCPU (summed over the VM's vCPUs). */
  demand: number;
  received: number;
  fairShare: number;
  /** received / demand over the window. */
  receivedOverDemand: number;
  /** received / fair share over the window (1 = all a perfect placement could give). */
  fractionOfFairShare: number;
}

export interface CpuFairness {
  /** Where demand and received came from: the simulator's truth, the trace's measurement, or both. */
  source: 'truth' | 'measured' | 'mixed';
  fromInterval: number;
  intervals: number;
  /** Jain's index of received/demand over all VMs. Below 1 also when unequal demands are served fairly. */
  jainAll: number | undefined;
  /** Jain's index of received/demand within each group of (near) equal demand; groups of one are left out. */
  groups: { demand: number; domains: string[]; jain: number }[];
  jainWithinGroupsMin: number | undefined;
  /** Jain's index of the fraction of fair share: 1 when every VM got the same part of what it could have. */
  jainFairShare: number | undefined;
  meanFractionOfFairShare: number | undefined;
  worstFractionOfFairShare: { domain: string; fraction: number } | undefined;
  vms: VmCpuShare[];
}

export interface PinChange {
  interval: number;
  timeMs: number;
  domain: string;
  vcpu: number;
  from: number[];
  to: number[];
}

export interface CpuTrials extends TrialCounts {
  /** Pin changes made by reverts (counted in pinChanges too). */
  revertPinChanges: number;
  /** Demand epochs the trials ran in (the last trial event's epoch). */
  epochs: number | undefined;
}

export interface CpuScore {
  thresholdPoints: number;
  /** Intervals that carry a CPU measurement (the first interval of a run has none; short windows are left out). */
  intervals: number;
  /** Windows left out as shorter than half the interval (cpu.shortWindow). */
  shortWindows: number;
  spread: { perInterval: { interval: number; timeMs: number; points: number }[]; mean: number; max: number; final: number } | undefined;
  /** First interval from which the spread stays at or below the threshold to the end; undefined if it never does. */
  balancedAtInterval: number | undefined;
  /** Intervals from the start of the trace to balancedAtInterval. */
  intervalsUntilBalanced: number | undefined;
  secondsUntilBalanced: number | undefined;
  pinChanges: { total: number; afterBalance: number | undefined; failed: number; changes: PinChange[] };
  /** Over the settled part of the run: from balancedAtInterval, or all of it when it never balanced. */
  fairness: CpuFairness | undefined;
  /** Over every interval, including the settling at the start. */
  fairnessWholeRun: CpuFairness | undefined;
  /** The scheduler's trials; undefined when the trace has none (a trace from before trials, or another scheduler's). */
  trials: CpuTrials | undefined;
}

export function spreadPoints(pcpuUsage: number[]): number {
  if (pcpuUsage.length === 0) return 0;
  return (Math.max(...pcpuUsage) - Math.min(...pcpuUsage)) * 100;
}

function hasCpu(i: TraceInterval): boolean {
  return i.cpu !== undefined && i.cpu.elapsedNs > 0 && i.cpu.pcpuUsage.length > 0 && i.cpu.shortWindow !== true;
}


function samePin(a: PinAction, b: PinAction): boolean {
  return a.domain.name === b.domain.name && a.vcpu === b.vcpu && sameCpuSet(a.pcpus, b.pcpus);
}

/** Pin actions that moved a vCPU (pcpus differ from where it was allowed before) and did not fail; one whose domain went away meanwhile (unapplied) is neither. */
export function pinChanges(intervals: TraceInterval[]): { changes: PinChange[]; failed: number } {
  const changes: PinChange[] = [];
  let failed = 0;
  for (const entry of intervals) {
    const failedPins = entry.failures.map((f) => f.action).filter((a): a is PinAction => a.kind === 'pin');
    const unappliedPins = (entry.unapplied ?? []).map((u) => u.action).filter((a): a is PinAction => a.kind === 'pin');
    for (const action of entry.actions) {
      if (action.kind !== 'pin' || sameCpuSet(action.pcpus, action.previous)) continue;
      if (unappliedPins.some((u) => samePin(u, action))) continue;
      if (failedPins.some((f) => samePin(f, action))) {
        failed++;
        continue;
      }
      changes.push({ interval: entry.interval, timeMs: entry.timeMs, domain: action.domain.name, vcpu: action.vcpu, from: action.previous, to: action.pcpus });
    }
  }
  return { changes, failed };
}

export function scoreCpu(intervals: TraceInterval[], pcpus: number | undefined, options: CpuScoreOptions = defaultCpuScoreOptions): CpuScore {
  const measured = intervals.filter(hasCpu);
  const perInterval = measured.map((i) => ({ interval: i.interval, timeMs: i.timeMs, points: spreadPoints(i.cpu!.pcpuUsage) }));
  const spread = perInterval.length === 0
    ? undefined
    : {
        perInterval,
        mean: perInterval.reduce((a, s) => a + s.points, 0) / perInterval.length,
        max: Math.max(...perInterval.map((s) => s.points)),
        final: perInterval[perInterval.length - 1]!.points,
      };

  let balancedAt: { interval: number; timeMs: number } | undefined;
  for (let k = perInterval.length - 1; k >= 0; k--) {
    const s = perInterval[k]!;
    if (s.points > options.balanceThresholdPoints) break;
    balancedAt = s;
  }
  const start = intervals[0];
  const { changes, failed } = pinChanges(intervals);
  const afterBalance = balancedAt === undefined ? undefined : changes.filter((c) => c.interval >= balancedAt!.interval).length;

  const capacity = pcpus && pcpus > 0 ? pcpus : measured[0]?.cpu?.pcpuUsage.length ?? 0;
  const settled = balancedAt === undefined ? intervals : intervals.filter((i) => i.interval >= balancedAt!.interval);
  return {
    thresholdPoints: options.balanceThresholdPoints,
    intervals: measured.length,
    shortWindows: intervals.filter((i) => i.cpu?.shortWindow === true).length,
    spread,
    balancedAtInterval: balancedAt?.interval,
    intervalsUntilBalanced: balancedAt && start ? balancedAt.interval - start.interval : undefined,
    secondsUntilBalanced: balancedAt && start ? (balancedAt.timeMs - start.timeMs) / 1000 : undefined,
    pinChanges: { total: changes.length, afterBalance, failed, changes },
    fairness: fairnessOver(settled, capacity, options),
    fairnessWholeRun: fairnessOver(intervals, capacity, options),
    trials: trialsOf(intervals, changes),
  };
}

function trialsOf(intervals: TraceInterval[], changes: PinChange[]): CpuTrials | undefined {
  if (!intervals.some((i) => i.cpu?.trial !== undefined)) return undefined;
  const t = tallyTrials(intervals);
  const revertIntervals = new Set(intervals.filter((i) => i.cpu?.trial?.event === 'reverted').map((i) => i.interval));
  return {
    started: t.started,
    kept: t.kept,
    reverted: t.reverted,
    abandoned: t.abandoned,
    held: t.held,
    heldBy: t.heldBy,
    revertPinChanges: changes.filter((c) => revertIntervals.has(c.interval)).length,
    epochs: t.epoch,
  };
}

interface VcpuSample {
  domain: string;
  demand: number;
  received: number;
}

/** Per-vCPU demand and received of one interval: the simulator's truth when present, else the measurement. */
function samplesOf(entry: TraceInterval): { samples: VcpuSample[]; source: 'truth' | 'measured' } | undefined {
  if (entry.cpu?.shortWindow === true) return undefined;
  if (entry.truth && entry.truth.vcpus.length > 0) {
    return { samples: entry.truth.vcpus.map((v) => ({ domain: v.domain, demand: v.demand, received: v.received })), source: 'truth' };
  }
  if (hasCpu(entry)) {
    return { samples: entry.cpu!.vcpus.map((v) => ({ domain: v.domain, demand: v.demand, received: v.usage })), source: 'measured' };
  }
  return undefined;
}

function fairnessOver(intervals: TraceInterval[], capacity: number, options: CpuScoreOptions): CpuFairness | undefined {
  const totals = new Map<string, { demand: number; received: number; fair: number }>();
  const sources = new Set<'truth' | 'measured'>();
  let counted = 0;
  let fromInterval: number | undefined;
  for (const entry of intervals) {
    const got = samplesOf(entry);
    if (!got || capacity <= 0) continue;
    counted++;
    fromInterval ??= entry.interval;
    sources.add(got.source);
    // Beside other load (host processes), the fair share is of what it leaves.
    // Weighted guests (their weight is in the interval's measurement) have weighted fair shares.
    const weightOf = new Map((entry.cpu?.vcpus ?? []).filter((v) => v.weight !== undefined).map((v) => [v.domain, v.weight!]));
    const weights = weightOf.size > 0 ? got.samples.map((s) => weightOf.get(s.domain) ?? 1) : undefined;
    const shares = fairShares(got.samples.map((s) => s.demand), capacity, guestCapacity(entry), weights);
    got.samples.forEach((s, k) => {
      const t = totals.get(s.domain) ?? { demand: 0, received: 0, fair: 0 };
      t.demand += s.demand;
      t.received += s.received;
      t.fair += shares[k]!;
      totals.set(s.domain, t);
    });
  }
  if (counted === 0 || fromInterval === undefined) return undefined;

  const vms: VmCpuShare[] = [...totals.entries()]
    .filter(([, t]) => t.demand > 0)
    .map(([domain, t]) => ({
      domain,
      demand: t.demand / counted,
      received: t.received / counted,
      fairShare: t.fair / counted,
      receivedOverDemand: t.received / t.demand,
      fractionOfFairShare: t.fair > 0 ? t.received / t.fair : 1,
    }))
    .sort((a, b) => a.domain.localeCompare(b.domain, undefined, { numeric: true }));

  // Equal demand and equal weight should get equal shares; a heavier guest is meant to get more.
  const weightOfVm = new Map<string, number>();
  for (const entry of intervals) for (const v of entry.cpu?.vcpus ?? []) if (v.weight !== undefined) weightOfVm.set(v.domain, v.weight);
  const groups = [...new Set(vms.map((v) => weightOfVm.get(v.domain) ?? 1))]
    .flatMap((w) => groupByValue(vms.filter((v) => (weightOfVm.get(v.domain) ?? 1) === w), (v) => v.demand, options.equalDemandTolerance))
    .filter((g) => g.length > 1)
    .map((g) => ({
      demand: g.reduce((a, v) => a + v.demand, 0) / g.length,
      domains: g.map((v) => v.domain),
      jain: jainIndex(g.map((v) => v.receivedOverDemand))!,
    }));
  const worst = vms.reduce<VmCpuShare | undefined>((w, v) => (w === undefined || v.fractionOfFairShare < w.fractionOfFairShare ? v : w), undefined);
  return {
    source: sources.size === 2 ? 'mixed' : sources.has('truth') ? 'truth' : 'measured',
    fromInterval,
    intervals: counted,
    jainAll: jainIndex(vms.map((v) => v.receivedOverDemand)),
    groups,
    jainWithinGroupsMin: groups.length === 0 ? undefined : Math.min(...groups.map((g) => g.jain)),
    jainFairShare: jainIndex(vms.map((v) => Math.min(1, v.fractionOfFairShare))),
    meanFractionOfFairShare: vms.length === 0 ? undefined : vms.reduce((a, v) => a + v.fractionOfFairShare, 0) / vms.length,
    worstFractionOfFairShare: worst ? { domain: worst.domain, fraction: worst.fractionOfFairShare } : undefined,
    vms,
  };
}

export interface NeedlessPinChanges {
  /** The fraction of its fair share every guest had to get for the placement to count as settled. */
  fairFraction: number;
  /** First interval in which every guest got `fairFraction` of its fair share (by the truth). */
  settledAtInterval: number | undefined;
  /** Pin changes after that interval. */
  changes: PinChange[];
}

/**
 * Pin changes that nothing real called for, in a run whose workloads never really change (the
 * grader's noisy variants: only noise moves): every change after the first interval in which the
 * placement served every guest at least `fairFraction` of its max-min fair share. Needs the
 * simulator's truth; meaningless where demands do change. A change recorded in that interval is
 * not counted: a judged program's changes in interval k were made during the window the truth of k
 * measures.
 */
export function needlessPinChanges(intervals: TraceInterval[], pcpus: number, fairFraction = 0.8): NeedlessPinChanges {
  const { changes } = pinChanges(intervals);
  let settled: number | undefined;
  for (const entry of intervals) {
    if (entry.interval === 0 || !entry.truth || entry.truth.vcpus.length === 0) continue;
    const samples = entry.truth.vcpus;
    const weightOf = new Map((entry.cpu?.vcpus ?? []).filter((v) => v.weight !== undefined).map((v) => [v.domain, v.weight!]));
    const weights = weightOf.size > 0 ? samples.map((s) => weightOf.get(s.domain) ?? 1) : undefined;
    const shares = fairShares(samples.map((s) => s.demand), pcpus, guestCapacity(entry), weights);
    const perGuest = new Map<string, { received: number; fair: number }>();
    samples.forEach((s, k) => {
      const g = perGuest.get(s.domain) ?? { received: 0, fair: 0 };
      g.received += s.received;
      g.fair += shares[k]!;
      perGuest.set(s.domain, g);
    });
    if ([...perGuest.values()].every((g) => g.received >= fairFraction * g.fair)) {
      settled = entry.interval;
      break;
    }
  }
  return { fairFraction, settledAtInterval: settled, changes: settled === undefined ? [] : changes.filter((c) => c.interval > settled!) };
}
