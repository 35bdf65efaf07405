// Predicted shares under a placement, and how fair they are.
//
// Model: each pCPU hands out 1.0 of CPU time per second, max-min fairly (water-filling) among the
// demands placed on it — a vCPU asking for less than an equal split gets all it asks for, the rest
// is split evenly among the others. A vCPU allowed on several pCPUs is modelled as an equal
// fragment of its demand on each (the host's scheduler moves it around among them).
// Fairness is Jain's index of share/demand: 1 when every vCPU gets the same fraction of what it wants.

import { fillShares, waterFill } from './water-fill.js';

export { waterFill } from './water-fill.js';

/**
 * Weighted max-min split of `capacity`: each gets min(demand, weight·λ) for the highest level λ the
 * capacity allows (what CFS gives threads of these weights, cgroup cpu.weight / libvirt cpu_shares).
 * Equal weights give exactly waterFill's split.
 */
export function weightedWaterFill(demands: readonly number[], weights: readonly number[], capacity = 1): number[] {
  return waterFill(demands, capacity, weights);
}

/** True when some weight differs from 1 (the unweighted paths are exact and faster). */
export function isWeighted(weights: readonly number[] | undefined): weights is readonly number[] {
  return weights !== undefined && weights.some((w) => w !== 1);
}

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one value takes everything; 1 for no values. */
export function jainIndex(values: readonly number[]): number {
  if (values.length === 0) return 1;
  let sum = 0;
  let sumSq = 0;
  for (const x of values) {
    sum += x;
    sumSq += x * x;
  }
  return sumSq === 0 ? 1 : (sum * sum) / (values.length * sumSq);
}

/** A vCPU for share prediction: its demand and the pCPUs it may run on (one entry when pinned). */
export interface ShareItem {
  demand: number;
  pcpus: readonly number[];
  /** CPU weight against the others (libvirt cpu_shares relative to the default); 1 when omitted. */
  weight?: number;
}

/**
 * Predicted CPU share of each item (fraction of one pCPU) under the water-filling model. `capacity`
 * is what each pCPU has for these items (1 less its other load, see usage.ts); all 1 when omitted.
 */
export function predictShares(items: readonly ShareItem[], pcpus: number, capacity?: readonly number[]): number[] {
  const weighted = items.some((item) => item.weight !== undefined && item.weight !== 1);
  return predictSharesOf(
    items.map((item) => item.demand),
    items.map((item) => item.pcpus),
    pcpus,
    capacity,
    weighted ? items.map((item) => item.weight ?? 1) : undefined,
  );
}

/**
 * predictShares on parallel lists (what the scheduler has at hand): each vCPU's demand, the pCPUs it
 * may run on, its weight. `normalized`: every list is sorted, unique and valid (the scheduler's), so
 * one as long as the host is every pCPU, known without reading it.
 */
export function predictSharesOf(
  demands: readonly number[],
  where: readonly (readonly number[])[],
  pcpus: number,
  capacity?: readonly number[],
  weights?: readonly number[],
  normalized = false,
): number[] {
  const n = demands.length;
  if (isWeighted(weights)) return predictSharesWeighted(demands, where, weights, pcpus, capacity);
  const whole = capacity === undefined || isWhole(capacity, pcpus);
  const everywhere = normalized ? (list: readonly number[]): boolean => list.length === pcpus : (list: readonly number[]): boolean => isEveryPcpu(list, pcpus);
  if (whole && pcpus > 0 && where.every(everywhere)) return predictSharesEverywhere(demands, pcpus);
  // Per pCPU, the items placed there (in item order) and their fragment of demand, laid out one
  // pCPU after another: pCPU p's fragments are at [start[p], start[p + 1]).
  const start = new Int32Array(pcpus + 1);
  const fragments = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const list = where[i]!;
    let count = 0;
    for (let k = 0; k < list.length; k++) {
      const p = list[k]!;
      if (p >= 0 && p < pcpus) {
        count++;
        if (Number.isInteger(p)) start[p + 1]!++;
      }
    }
    fragments[i] = demands[i]! / count;
  }
  for (let p = 0; p < pcpus; p++) start[p + 1] = start[p + 1]! + start[p]!;
  const total = start[pcpus]!;
  const who = new Int32Array(total);
  const fragmentDemands = new Float64Array(total);
  const fill = start.slice(0, pcpus);
  for (let i = 0; i < n; i++) {
    const list = where[i]!;
    for (let k = 0; k < list.length; k++) {
      const p = list[k]!;
      if (p >= 0 && p < pcpus && Number.isInteger(p)) {
        const at = fill[p]!++;
        who[at] = i;
        fragmentDemands[at] = fragments[i]!;
      }
    }
  }
  const shares = new Array<number>(n).fill(0);
  // A pCPU can carry more fragments than there are items (an affinity listing a pCPU twice).
  let longest = 0;
  for (let p = 0; p < pcpus; p++) longest = Math.max(longest, start[p + 1]! - start[p]!);
  const split = new Float64Array(longest);
  const order = new Uint32Array(longest);
  // pCPUs carrying exactly the same fragments (every vCPU allowed on all of them) split them the
  // same way: water-fill once and reuse.
  let previous = -1;
  for (let p = 0; p < pcpus; p++) {
    const from = start[p]!;
    const count = start[p + 1]! - from;
    if (!(previous >= 0 && (whole || capacity?.[p] === capacity?.[previous]) && sameFragments(who, fragmentDemands, from, start[previous]!, count, start[previous + 1]! - start[previous]!))) {
      fillShares(fragmentDemands, whole ? 1 : Math.max(0, capacity?.[p] ?? 1), undefined, split, from, count, order);
    }
    previous = p;
    for (let k = 0; k < count; k++) {
      const i = who[from + k]!;
      shares[i] = shares[i]! + split[k]!;
    }
  }
  return shares;
}

/** predictShares with weights: per pCPU, a weighted water-filling of the fragments there (each carrying its vCPU's weight). */
function predictSharesWeighted(demands: readonly number[], where: readonly (readonly number[])[], weights: readonly number[], pcpus: number, capacity?: readonly number[]): number[] {
  const onPcpu: { item: number; demand: number; weight: number }[][] = Array.from({ length: Math.max(0, pcpus) }, () => []);
  where.forEach((list, i) => {
    const valid = list.filter((p) => Number.isInteger(p) && p >= 0 && p < pcpus);
    for (const p of valid) onPcpu[p]!.push({ item: i, demand: demands[i]! / valid.length, weight: weights[i] ?? 1 });
  });
  const shares = new Array<number>(demands.length).fill(0);
  onPcpu.forEach((fragments, p) => {
    const split = waterFill(fragments.map((f) => f.demand), Math.max(0, capacity?.[p] ?? 1), fragments.map((f) => f.weight));
    fragments.forEach((f, k) => (shares[f.item] = shares[f.item]! + split[k]!));
  });
  return shares;
}

/** Every pCPU's capacity is 1 (no other load). */
export function isWhole(capacity: readonly number[], pcpus: number): boolean {
  for (let p = 0; p < pcpus; p++) if ((capacity[p] ?? 1) !== 1) return false;
  return true;
}

/** Σ capacity over `pcpus` pCPUs (each pCPU 1 when no capacity is given). */
export function totalCapacity(pcpus: number, capacity?: readonly number[]): number {
  if (capacity === undefined) return pcpus;
  let total = 0;
  for (let p = 0; p < pcpus; p++) total += Math.max(0, capacity[p] ?? 1);
  return total;
}

/** The largest capacity of one pCPU: no vCPU (one thread) can get more. */
export function largestCapacity(pcpus: number, capacity?: readonly number[]): number {
  if (capacity === undefined) return pcpus > 0 ? 1 : 0;
  let largest = 0;
  for (let p = 0; p < pcpus; p++) largest = Math.max(largest, capacity[p] ?? 1);
  return largest;
}

/** Exactly [0, 1, …, pcpus − 1]. */
function isEveryPcpu(list: readonly number[], pcpus: number): boolean {
  if (list.length !== pcpus) return false;
  for (let p = 0; p < pcpus; p++) if (list[p] !== p) return false;
  return true;
}

/** predictShares when every item may run on every pCPU: every pCPU carries the same fragments, so one split, added once per pCPU. */
function predictSharesEverywhere(demands: readonly number[], pcpus: number): number[] {
  const split = waterFill(demands.map((demand) => demand / pcpus));
  const shares = new Array<number>(demands.length).fill(0);
  // Added once per pCPU (as the per-pCPU model sums it, rounding included); vCPUs at the water level share one split: summed once.
  const sums = new Map<number, number>();
  for (let i = 0; i < demands.length; i++) {
    const fragment = split[i]!;
    let share = sums.get(fragment);
    if (share === undefined) {
      share = 0;
      for (let p = 0; p < pcpus; p++) share += fragment;
      sums.set(fragment, share);
    }
    shares[i] = share;
  }
  return shares;
}

function sameFragments(who: Int32Array, demands: Float64Array, from: number, otherFrom: number, n: number, otherN: number): boolean {
  if (n !== otherN) return false;
  for (let k = 0; k < n; k++) if (who[from + k] !== who[otherFrom + k] || !Object.is(demands[from + k], demands[otherFrom + k])) return false;
  return true;
}

/**
 * Predicted shares when every vCPU may run on every pCPU: one water-filling of all demands over the
 * pCPUs' total capacity (each fragment model collapses to this), no vCPU above one pCPU's capacity.
 */
export function predictSharesUnpinned(demands: readonly number[], pcpus: number, capacity?: readonly number[], weights?: readonly number[]): number[] {
  const whole = capacity === undefined || isWhole(capacity, pcpus);
  const largest = whole ? 1 : largestCapacity(pcpus, capacity);
  const room = whole ? pcpus : totalCapacity(pcpus, capacity);
  if (isWeighted(weights)) return waterFill(demands.map((d) => Math.min(1, largest, d)), room, weights);
  if (whole) return waterFill(demands.map((d) => Math.min(1, d)), pcpus);
  return waterFill(demands.map((d) => Math.min(1, largest, d)), room);
}

/** Demands below this are idle vCPUs: their share/demand ratio says nothing and is left out. */
export const idleDemand = 0.01;

/** Jain's index of share/demand over the vCPUs that want CPU (demand ≥ idleDemand). */
export function shareFairness(demands: readonly number[], shares: readonly number[]): number {
  const ratios: number[] = [];
  demands.forEach((d, i) => {
    if (d >= idleDemand) ratios.push(Math.min(1, (shares[i] ?? 0) / d));
  });
  return jainIndex(ratios);
}

/** Predicted fairness of a placement in one call (what `score` reuses). */
export function placementFairness(items: readonly ShareItem[], pcpus: number): number {
  return shareFairness(items.map((i) => i.demand), predictShares(items, pcpus));
}
