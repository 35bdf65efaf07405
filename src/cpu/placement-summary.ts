// The model's view of one placement (where each vCPU may run): demand per pCPU on top of the host's
// other load, predicted shares (fairness.ts, learned-sharing.ts), and what they mean, as one
// PlacementSummary. Every candidate placement (candidates.ts) is summarised here, by the same model.
import { predictSharesOf, shareFairness } from './fairness.js';
import { predictLearnedShares } from './learned-sharing.js';
import { PcpuSums } from './pcpu-sums.js';
import { spreadOf } from './placement.js';
import { worstFractionOfFairShare } from './sharing.js';
import { otherLoadFloor, pourLevel } from './usage.js';

/** What the host gives our vCPUs: per pCPU the other load it carries and the capacity left (1 − other); both undefined when there is none. */
export interface HostRoom {
  pcpus: number;
  other: number[] | undefined;
  capacity: number[] | undefined;
  /** Per vCPU, its CPU weight; undefined when all are 1. */
  weights?: number[] | undefined;
  /** Per vCPU, 1 when learned clock-bound (learned-sharing.ts); undefined when none is, and every prediction is water-filling. */
  clockBound?: Uint8Array | undefined;
  /** Per vCPU 1 when learned to share a crowded pCPU by runnable time (learned-sharing.ts, crowdedOf). */
  crowded?: Uint8Array | undefined;
}

export function hostRoom(pcpus: number, other: readonly number[] | undefined): HostRoom {
  if (!other || other.length !== pcpus || other.every((o) => o < otherLoadFloor)) return { pcpus, other: undefined, capacity: undefined };
  const clipped = other.map((o) => (o < otherLoadFloor ? 0 : Math.min(1, o)));
  return { pcpus, other: clipped, capacity: clipped.map((o) => 1 - o) };
}

/** A placement as predicted by the model (fairness.ts): demand per pCPU and what it means. */
export interface PlacementSummary {
  demandLoads: number[];
  /** max − min of demandLoads, points. */
  spreadPoints: number;
  /** Spread of predicted usage (min(1, demand load)), points. */
  usageSpreadPoints: number;
  /** Predicted Jain index of share/demand over non-idle vCPUs (equal fractions = 1, even if all are starved). */
  fairness: number;
  /** Predicted total share / total demand: how much of the demand the host serves. */
  served: number;
  /** Smallest predicted share / fair share (global max-min share of all pCPUs) over non-idle vCPUs. */
  worstFractionOfFairShare: number;
  /** Predicted share of each vCPU (fraction of a pCPU), in measurement order. */
  shares: readonly number[];
}

/** pCPUs to points (1 pCPU = 100 points), to the hundredth. */
export const points = (pcpus: number): number => Math.round(pcpus * 10000) / 100;

/**
 * Demand per pCPU on top of other load: a vCPU pinned to one pCPU adds there; one allowed on several
 * is poured onto the least loaded of them (the host's scheduler moves a runnable thread off a pCPU a
 * host process keeps busy), the most constrained first.
 */
function loadsBesideOther(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom): number[] {
  const levels = room.other!.slice();
  const flexible = new Map<readonly number[], number>();
  demands.forEach((d, i) => {
    const set = where[i]!;
    if (set.length === 1) levels[set[0]!] = levels[set[0]!]! + d;
    else flexible.set(set, (flexible.get(set) ?? 0) + d);
  });
  const sets = [...flexible.entries()].sort((a, b) => a[0].length - b[0].length || b[1] - a[1]);
  for (const [set, total] of sets) pourLevel(levels, set, total);
  return levels;
}

export function withOther(loads: number[], room: HostRoom): number[] {
  if (room.other) for (let p = 0; p < loads.length; p++) loads[p] = loads[p]! + (room.other[p] ?? 0);
  return loads;
}

export function summarize(demands: readonly number[], shares: readonly number[], fair: readonly number[], loads: number[]): PlacementSummary {
  let totalDemand = 0;
  let totalShare = 0;
  for (let i = 0; i < demands.length; i++) totalDemand += demands[i]!;
  for (let i = 0; i < shares.length; i++) totalShare += shares[i]!;
  return {
    demandLoads: loads,
    spreadPoints: points(spreadOf(loads)),
    usageSpreadPoints: points(spreadOf(loads.map((l) => Math.min(1, l)))),
    fairness: shareFairness(demands, shares),
    served: totalDemand > 0 ? totalShare / totalDemand : 1,
    worstFractionOfFairShare: worstFractionOfFairShare(demands, shares, fair),
    shares,
  };
}

/** Demand per pCPU (other load included) when each vCPU's demand is spread evenly over its set (sets are disjoint: the host levels each). */
export function setLoads(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom): number[] {
  if (room.other) return loadsBesideOther(demands, where, room);
  const bySet = new Map<readonly number[], number>();
  demands.forEach((d, i) => bySet.set(where[i]!, (bySet.get(where[i]!) ?? 0) + d));
  const loads = new Array<number>(room.pcpus).fill(0);
  for (const [set, total] of bySet) for (const p of set) loads[p] = (loads[p] ?? 0) + total / set.length;
  return withOther(loads, room);
}

/** Summary of a placement given each vCPU's allowed pCPUs; loads spread a vCPU's demand evenly over them, on top of other load. */
export function summarizePlacement(demands: readonly number[], where: readonly (readonly number[])[], room: HostRoom, fair: readonly number[]): PlacementSummary {
  const waterFilled = predictSharesOf(demands, where, room.pcpus, room.capacity, room.weights, true);
  const shares = room.clockBound ? predictLearnedShares(demands, where, room.clockBound, waterFilled, room.pcpus, room.capacity, room.weights, room.crowded) : waterFilled;
  if (room.other) return summarize(demands, shares, fair, loadsBesideOther(demands, where, room));
  return summarize(demands, shares, fair, demandLoadsOf(demands, where, room.pcpus));
}

/** Demand per pCPU: each vCPU's demand spread evenly over the pCPUs it may use. */
export function demandLoadsOf(demands: readonly number[], where: readonly (readonly number[])[], pcpus: number): number[] {
  const loads = new PcpuSums(pcpus);
  for (let i = 0; i < demands.length; i++) loads.add(where[i]!, demands[i]! / where[i]!.length);
  return loads.values();
}

/** Two normalised pCPU lists (sorted, unique: affinities and plans) name the same pCPUs; O(1) when their lengths differ. */
export function sameNormalized(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
