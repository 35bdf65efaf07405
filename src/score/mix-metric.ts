// The one figure the random-mix bench (issue #17) judges every policy by: the worst guest's median
// received share over its max-min fair share in the second half of a run, from the simulator's
// truth. Per interval and guest: Σ received of its vCPUs / Σ their fair shares, the fair shares
// being max-min (weighted by the configured CPU weights) over every pCPU of the host less what its
// other load received (fairShares and guestCapacity, as the score computes them). Guests that want
// (next to) nothing in an interval are left out of it. Per guest the median over the second half's
// intervals; the worst guest's median is the figure. Also: pin changes after a given interval.

import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { pinChanges } from './cpu.js';
import { fairShares, guestCapacity } from './fairness.js';

/** What the metric needs to know about the run's setup: the host's pCPUs and each guest's configured weight. */
export interface MixSetup {
  host: { pcpus: number };
  domains: ReadonlyArray<{ name: string; weight: number }>;
}

export interface MixMetricOptions {
  /** First interval counted (default: the second half of the intervals that carry truth). */
  fromInterval?: number;
  /** Pin changes are counted in intervals after this one (default 20). */
  pinChangesAfterInterval?: number;
}

export interface GuestFraction {
  domain: string;
  /** Median over the counted intervals of Σ received / Σ fair share. */
  median: number;
  intervals: number;
}

export interface MixMetric {
  /** The worst guest's median fraction of its fair share; 1 when no guest wanted anything. */
  worstFraction: number;
  worstDomain: string | undefined;
  guests: GuestFraction[];
  /** Intervals counted (the second half). */
  intervals: number;
  fromInterval: number;
  /** Pin changes (a pin whose set differs from before, not failed) in intervals after pinChangesAfterInterval. */
  pinChangesAfter: number;
  pinChangesTotal: number;
}

/** A guest wanting less than this (fraction of a pCPU over its vCPUs) in an interval is left out of it. */
export const IDLE_GUEST_DEMAND = 0.01;

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Per interval with truth: each wanting guest's Σ received / Σ max-min fair share. */
export function guestFractionsPerInterval(intervals: readonly TraceInterval[], setup: MixSetup): { interval: number; fractions: Map<string, number> }[] {
  const weightOf = new Map(setup.domains.map((d) => [d.name, d.weight]));
  const out: { interval: number; fractions: Map<string, number> }[] = [];
  for (const entry of intervals) {
    const vcpus = entry.truth?.vcpus;
    if (!vcpus || vcpus.length === 0) continue;
    // The first interval of a run covers no time: nothing was asked yet.
    if (vcpus.every((v) => v.demand === 0 && v.received === 0)) continue;
    const weights = vcpus.map((v) => weightOf.get(v.domain) ?? 1);
    const fair = fairShares(vcpus.map((v) => v.demand), setup.host.pcpus, guestCapacity(entry), weights.some((w) => w !== 1) ? weights : undefined);
    const sums = new Map<string, { demand: number; received: number; fair: number }>();
    vcpus.forEach((v, k) => {
      const s = sums.get(v.domain) ?? { demand: 0, received: 0, fair: 0 };
      s.demand += v.demand;
      s.received += v.received;
      s.fair += fair[k]!;
      sums.set(v.domain, s);
    });
    const fractions = new Map<string, number>();
    for (const [domain, s] of sums) if (s.demand >= IDLE_GUEST_DEMAND && s.fair > 1e-9) fractions.set(domain, s.received / s.fair);
    out.push({ interval: entry.interval, fractions });
  }
  return out;
}

/** The metric of one run (any policy) from its trace lines; `setup` is the scenario that ran. */
export function mixMetric(lines: readonly TraceLine[], setup: MixSetup, options: MixMetricOptions = {}): MixMetric {
  const intervals = lines.filter((l): l is TraceInterval => l.type === 'interval');
  const per = guestFractionsPerInterval(intervals, setup);
  const fromInterval = options.fromInterval ?? per[Math.floor(per.length / 2)]?.interval ?? 0;
  const counted = per.filter((p) => p.interval >= fromInterval);
  const byGuest = new Map<string, number[]>();
  for (const p of counted) for (const [d, f] of p.fractions) byGuest.set(d, [...(byGuest.get(d) ?? []), f]);
  const guests: GuestFraction[] = [...byGuest.entries()]
    .map(([domain, fs]) => ({ domain, median: median(fs), intervals: fs.length }))
    .sort((a, b) => a.domain.localeCompare(b.domain, undefined, { numeric: true }));
  const worst = guests.reduce<GuestFraction | undefined>((w, g) => (w === undefined || g.median < w.median ? g : w), undefined);
  const after = options.pinChangesAfterInterval ?? 20;
  const { changes } = pinChanges(intervals);
  return {
    worstFraction: worst?.median ?? 1,
    worstDomain: worst?.domain,
    guests,
    intervals: counted.length,
    fromInterval,
    pinChangesAfter: changes.filter((c) => c.interval > after).length,
    pinChangesTotal: changes.length,
  };
}
