// The optimiser: given each vCPU's demand and where it sits now, find a one-pCPU-per-vCPU placement
// whose demand loads are as even as achievable, reached with as few pin changes as possible.
//
// Three candidates are built and the cheapest good one wins:
//   from-current  start from today's placement, move (or swap) vCPUs from the most to the least
//                 loaded pCPU until the spread is within tolerance of the best found by the others;
//   sticky-lpt    largest demand first, keep each vCPU where it is while its pCPU stays under the
//                 ideal load, otherwise put it on the least loaded pCPU; then improve locally;
//   lpt           classic longest-processing-time from scratch, its pCPUs relabelled to overlap the
//                 current placement as much as possible; then improve locally to convergence.
// Among the candidates whose spread is within `tolerance` of the best one, the one with the fewest
// pin changes is chosen (ties: smaller spread).

import { ascendingOrder, descendingOrder } from './stable-order.js';

export interface PlacementItem {
  demand: number;
  /** pCPU the vCPU sits on now (its single pin, or where it was last seen running); undefined when unknown. */
  home: number | undefined;
  /** True when it is pinned to exactly `home`, so leaving it there costs no pin change. */
  pinned: boolean;
}

export interface PlacementPlan {
  strategy: 'from-current' | 'sticky-lpt' | 'lpt';
  /** pCPU of each item, in item order. */
  assignment: number[];
  /** Sum of demands per pCPU. */
  loads: number[];
  /** max load − min load, in pCPUs (×100 for points). */
  spread: number;
  /** Items whose pin changes under this plan. */
  changes: number;
}

const eps = 1e-9;

/** Load each pCPU carries before any item is placed: its other load (usage.ts), or nothing. */
function startLoads(pcpus: number, base?: readonly number[]): number[] {
  const loads = new Array<number>(pcpus).fill(0);
  if (base) for (let p = 0; p < pcpus; p++) loads[p] = base[p] ?? 0;
  return loads;
}

export function loadsOf(items: readonly PlacementItem[], assignment: readonly number[], pcpus: number, base?: readonly number[]): number[] {
  const loads = startLoads(pcpus, base);
  items.forEach((item, i) => {
    const p = assignment[i] ?? 0;
    loads[p] = (loads[p] ?? 0) + item.demand;
  });
  return loads;
}

export function spreadOf(loads: readonly number[]): number {
  if (loads.length === 0) return 0;
  let max = -Infinity;
  let min = Infinity;
  for (const l of loads) {
    if (l > max) max = l;
    if (l < min) min = l;
  }
  return max - min;
}

/** No placement's busiest pCPU carries less than this: the largest single demand, or the average load. */
export function makespanLowerBound(demands: readonly number[], pcpus: number): number {
  let total = 0;
  let largest = 0;
  for (const d of demands) {
    total += d;
    if (d > largest) largest = d;
  }
  return Math.max(largest, pcpus > 0 ? total / pcpus : 0);
}

function isChange(item: PlacementItem, pcpu: number): boolean {
  return !item.pinned || item.home !== pcpu;
}

export function pinChanges(items: readonly PlacementItem[], assignment: readonly number[]): number {
  let changes = 0;
  items.forEach((item, i) => {
    if (isChange(item, assignment[i] ?? -1)) changes++;
  });
  return changes;
}

/**
 * Indexed binary heap of pCPUs over the caller's `loads` array: the least loaded on top (or the most
 * loaded, `most`), ties to the lower index, as a scan with a strict comparison finds them.
 */
class LoadHeap {
  private readonly heap: Int32Array;
  private readonly position: Int32Array;
  constructor(
    private readonly loads: number[],
    private readonly most = false,
  ) {
    const n = loads.length;
    this.heap = new Int32Array(n);
    this.position = new Int32Array(n);
    for (let p = 0; p < n; p++) {
      this.heap[p] = p;
      this.position[p] = p;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
  }
  add(pcpu: number, demand: number): void {
    this.loads[pcpu] = (this.loads[pcpu] ?? 0) + demand;
    this.update(pcpu);
  }
  /** Restores the order after the caller changed `loads[pcpu]`. */
  update(pcpu: number): void {
    const i = this.position[pcpu]!;
    this.up(i);
    this.down(this.position[pcpu]!);
  }
  top(): number {
    if (this.heap.length === 0) throw new Error('LoadHeap: empty heap');
    return this.heap[0]!;
  }
  /** a comes out before b. */
  private less(a: number, b: number): boolean {
    const la = this.loads[a]!;
    const lb = this.loads[b]!;
    if (this.most) return la > lb || (la === lb && a < b);
    return la < lb || (la === lb && a < b);
  }
  private place(i: number, pcpu: number): void {
    this.heap[i] = pcpu;
    this.position[pcpu] = i;
  }
  private up(i: number): void {
    const h = this.heap;
    const pcpu = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(pcpu, h[parent]!)) break;
      this.place(i, h[parent]!);
      i = parent;
    }
    this.place(i, pcpu);
  }
  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const pcpu = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(h[r]!, h[l]!) ? r : l;
      if (!this.less(h[child]!, pcpu)) break;
      this.place(i, h[child]!);
      i = child;
    }
    this.place(i, pcpu);
  }
}

/** Item indices by descending demand, ties in item order. */
export function byDemandDescending(items: readonly PlacementItem[]): Uint32Array {
  const demands = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) demands[i] = items[i]!.demand;
  return descendingOrder(demands);
}

/** Longest processing time first: largest demand onto the least loaded pCPU. */
export function lptAssignment(items: readonly PlacementItem[], pcpus: number, order = byDemandDescending(items), base?: readonly number[]): number[] {
  const assignment = new Array<number>(items.length).fill(0);
  const heap = new LoadHeap(startLoads(pcpus, base));
  for (const i of order) {
    const p = heap.top();
    assignment[i] = p;
    heap.add(p, items[i]!.demand);
  }
  return assignment;
}

/** Renames the groups of an assignment (group k → pCPU π(k)) so that as many items as possible stay home. Greedy matching on overlap counts. */
export function relabelForOverlap(items: readonly PlacementItem[], assignment: readonly number[], pcpus: number): number[] {
  const pairs = overlapPairs(items, assignment, pcpus);
  const target = new Array<number>(pcpus).fill(-1);
  const taken = new Array<boolean>(pcpus).fill(false);
  for (const key of pairs) {
    const group = Math.floor(key / pcpus);
    const pcpu = key % pcpus;
    if (target[group] !== -1 || taken[pcpu]) continue;
    target[group] = pcpu;
    taken[pcpu] = true;
  }
  let free = 0;
  for (let group = 0; group < pcpus; group++) {
    if (target[group] !== -1) continue;
    while (taken[free]) free++;
    target[group] = free;
    taken[free] = true;
  }
  return assignment.map((group) => target[group] ?? group);
}

/**
 * The (group, home) pairs of an assignment as keys group·pcpus + home, most items first, ties by
 * key. Counted in a Map; ordered by a native sort of the distinct keys and a counting sort by
 * count (stable, so ties stay in key order) instead of a comparator sort of the Map's entries.
 */
function overlapPairs(items: readonly PlacementItem[], assignment: readonly number[], pcpus: number): number[] {
  const overlap = new Map<number, number>();
  for (let i = 0; i < items.length; i++) {
    const home = items[i]!.home;
    if (home === undefined) continue;
    const key = (assignment[i] ?? 0) * pcpus + home;
    overlap.set(key, (overlap.get(key) ?? 0) + 1);
  }
  const keys = Float64Array.from(overlap.keys()).sort();
  // NaN keys (a home that is no number) have no place in a numeric order: sort those the comparator's way.
  if (keys.length > 0 && Number.isNaN(keys[keys.length - 1]!)) return [...overlap.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([key]) => key);
  let most = 0;
  for (const count of overlap.values()) most = Math.max(most, count);
  // Counting sort by count, descending: slot[c] is where the first key seen with count c goes.
  const slot = new Int32Array(most + 2);
  for (const count of overlap.values()) slot[most - count + 1]!++;
  for (let c = 1; c < slot.length; c++) slot[c] = slot[c]! + slot[c - 1]!;
  const pairs = new Array<number>(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    pairs[slot[most - overlap.get(key)!]!++] = key;
  }
  return pairs;
}

/** Items stay home; items without a known home go, largest first, to the least loaded pCPU. */
export function currentAssignment(items: readonly PlacementItem[], pcpus: number, order = byDemandDescending(items), base?: readonly number[]): number[] {
  const assignment = new Array<number>(items.length).fill(-1);
  const loads = startLoads(pcpus, base);
  items.forEach((item, i) => {
    if (item.home !== undefined && item.home >= 0 && item.home < pcpus) {
      assignment[i] = item.home;
      loads[item.home] = (loads[item.home] ?? 0) + item.demand;
    }
  });
  const heap = new LoadHeap(loads);
  for (const i of order) {
    if (assignment[i] !== -1) continue;
    const p = heap.top();
    assignment[i] = p;
    heap.add(p, items[i]!.demand);
  }
  return assignment;
}

/** LPT that keeps a vCPU home while home stays under the ideal load (+ tolerance). */
export function stickyLptAssignment(
  items: readonly PlacementItem[],
  pcpus: number,
  tolerance: number,
  order = byDemandDescending(items),
  base?: readonly number[],
): number[] {
  const loads = startLoads(pcpus, base);
  const baseTotal = loads.reduce((a, b) => a + b, 0);
  const demands = items.map((i) => i.demand);
  const ideal = (baseTotal > 0 ? Math.max(makespanLowerBound(demands, pcpus), (demands.reduce((a, b) => a + b, 0) + baseTotal) / pcpus) : makespanLowerBound(demands, pcpus)) + tolerance;
  const assignment = new Array<number>(items.length).fill(0);
  const heap = new LoadHeap(loads);
  for (const i of order) {
    const item = items[i]!;
    const home = item.home;
    const p = home !== undefined && home >= 0 && home < pcpus && (loads[home] ?? 0) + item.demand <= ideal + eps ? home : heap.top();
    assignment[i] = p;
    heap.add(p, item.demand);
  }
  return assignment;
}

/**
 * Local search: repeatedly shift load from a heavier to a lighter pCPU by moving one vCPU, or by
 * swapping two when no single move helps, always toward equal loads of the pair. Moves are
 * preferred over swaps unless a swap balances the pair better by more than `tolerance`. Every step
 * lowers Σ load², so it terminates; it stops early once the spread is ≤ `stopAtSpread`.
 */
export function improveLocally(
  items: readonly PlacementItem[],
  start: readonly number[],
  pcpus: number,
  stopAtSpread: number,
  tolerance: number,
  base?: readonly number[],
): number[] {
  const assignment = start.slice();
  const loads = loadsOf(items, assignment, pcpus, base);
  // Who sits on each pCPU, indexed when the first pair is tried: a placement already within
  // `stopAtSpread` never needs it.
  let members: number[][] = [];
  let position: number[] = [];
  const indexMembers = (): void => {
    if (members.length === pcpus) return;
    members = Array.from({ length: pcpus }, () => []);
    position = new Array<number>(items.length).fill(0);
    assignment.forEach((p, i) => {
      position[i] = members[p]!.length;
      members[p]!.push(i);
    });
  };
  const demands = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) demands[i] = items[i]!.demand;
  const demand = (i: number): number => demands[i]!;

  const relocate = (i: number, to: number): void => {
    const from = assignment[i]!;
    const list = members[from]!;
    const last = list.pop()!;
    if (last !== i) {
      list[position[i]!] = last;
      position[last] = position[i]!;
    }
    position[i] = members[to]!.length;
    members[to]!.push(i);
    assignment[i] = to;
    loads[from] = loads[from]! - demand(i);
    loads[to] = loads[to]! + demand(i);
    busiest?.update(from);
    busiest?.update(to);
    idlest?.update(from);
    idlest?.update(to);
  };
  // The busiest and the idlest pCPU (first index on ties) from heaps instead of a scan per step.
  const busiest = pcpus > 0 ? new LoadHeap(loads, true) : undefined;
  const idlest = pcpus > 0 ? new LoadHeap(loads) : undefined;
  // Change in pin changes if item i ends up on `to` instead of where it is now.
  const changeCost = (i: number, to: number): number => Number(isChange(items[i]!, to)) - Number(isChange(items[i]!, assignment[i]!));

  // Whether any swap moves between eps and gap − eps of demand from hi to lo: an O(|hi| + |lo|)
  // test that spares the O(|hi|·|lo|) search on pairs whose vCPUs are all alike.
  const someSwapShifts = (onHi: readonly number[], onLo: readonly number[], gap: number): boolean => {
    let maxHi = -Infinity;
    let minHi = Infinity;
    for (const i of onHi) {
      const d = demands[i]!;
      if (d > maxHi) maxHi = d;
      if (d < minHi) minHi = d;
    }
    let maxLo = -Infinity;
    let minLo = Infinity;
    for (const j of onLo) {
      const d = demands[j]!;
      if (d > maxLo) maxLo = d;
      if (d < minLo) minLo = d;
    }
    return maxHi - minLo > eps && minHi - maxLo < gap - eps;
  };

  const tryPair = (hi: number, lo: number): boolean => {
    const gap = loads[hi]! - loads[lo]!;
    if (gap <= 2 * eps) return false;
    indexMembers();
    let move = -1;
    let moveResidual = Infinity;
    let moveCost = Infinity;
    for (const i of members[hi]!) {
      const d = demand(i);
      if (d <= eps || d >= gap - eps) continue;
      const residual = Math.abs(gap - 2 * d);
      const cost = changeCost(i, lo);
      if (residual < moveResidual - eps || (residual <= moveResidual + eps && cost < moveCost)) {
        move = i;
        moveResidual = residual;
        moveCost = cost;
      }
    }
    let swapHi = -1;
    let swapLo = -1;
    let swapResidual = Infinity;
    if ((move === -1 || moveResidual > tolerance) && someSwapShifts(members[hi]!, members[lo]!, gap)) {
      for (const i of members[hi]!) {
        for (const j of members[lo]!) {
          const delta = demand(i) - demand(j);
          if (delta <= eps || delta >= gap - eps) continue;
          const residual = Math.abs(gap - 2 * delta);
          if (residual < swapResidual - eps) {
            swapHi = i;
            swapLo = j;
            swapResidual = residual;
          }
        }
      }
    }
    if (move !== -1 && moveResidual <= swapResidual + tolerance) {
      relocate(move, lo);
      return true;
    }
    if (swapHi !== -1) {
      relocate(swapHi, lo);
      relocate(swapLo, hi);
      return true;
    }
    return false;
  };

  const maxSteps = 4 * items.length + 4 * pcpus + 100;
  for (let step = 0; step < maxSteps; step++) {
    const hi = busiest?.top() ?? 0;
    const lo = idlest?.top() ?? 0;
    if (loads[hi]! - loads[lo]! <= stopAtSpread + eps) break;
    if (tryPair(hi, lo)) continue;
    // The extreme pair is stuck: try the busiest against every lighter pCPU, then the idlest against every heavier one.
    const ascending = ascendingOrder(Float64Array.from(loads));
    let improved = false;
    for (const q of ascending) {
      if (loads[q]! >= loads[hi]! - eps) break;
      if (q !== lo && tryPair(hi, q)) {
        improved = true;
        break;
      }
    }
    if (!improved) {
      for (let k = ascending.length - 1; k >= 0; k--) {
        const q = ascending[k]!;
        if (loads[q]! <= loads[lo]! + eps) break;
        if (q !== hi && tryPair(q, lo)) {
          improved = true;
          break;
        }
      }
    }
    if (!improved) break;
  }
  return assignment;
}

function plan(strategy: PlacementPlan['strategy'], items: readonly PlacementItem[], assignment: number[], pcpus: number, base?: readonly number[]): PlacementPlan {
  const loads = loadsOf(items, assignment, pcpus, base);
  return { strategy, assignment, loads, spread: spreadOf(loads), changes: pinChanges(items, assignment) };
}

/** Candidates best-first: within `tolerance` of the best spread, fewest pin changes; then smaller spread. */
export function rankPlans(plans: readonly PlacementPlan[], tolerance: number): PlacementPlan[] {
  const best = Math.min(...plans.map((p) => p.spread));
  const near = (p: PlacementPlan): boolean => p.spread <= best + tolerance + eps;
  return [...plans].sort((a, b) => Number(near(b)) - Number(near(a)) || (near(a) ? a.changes - b.changes : 0) || a.spread - b.spread);
}

export interface PlacementResult {
  best: PlacementPlan;
  candidates: PlacementPlan[];
}

/**
 * `tolerance` in pCPUs (0.02 = 2 points). Requires pcpus ≥ 1. `base`: load each pCPU carries that
 * no pin moves (its other load); the loads balanced are base + demands.
 */
export function planPlacement(items: readonly PlacementItem[], pcpus: number, tolerance: number, base?: readonly number[]): PlacementResult {
  if (!(Number.isInteger(pcpus) && pcpus >= 1)) throw new RangeError(`planPlacement: pcpus must be an integer ≥ 1, got ${pcpus}`);
  const based = base !== undefined && base.some((b) => b !== 0) ? base : undefined;
  // Improving far below the tolerance buys nothing the choice below can see.
  const order = byDemandDescending(items);
  // With other load, LPT's groups belong to their pCPUs: they cannot be renamed to overlap today's placement.
  const lptStart = based ? lptAssignment(items, pcpus, order, based) : relabelForOverlap(items, lptAssignment(items, pcpus, order), pcpus);
  const lpt = plan('lpt', items, improveLocally(items, lptStart, pcpus, tolerance / 4, tolerance, based), pcpus, based);
  const target = lpt.spread + tolerance;
  const fromCurrent = plan('from-current', items, improveLocally(items, currentAssignment(items, pcpus, order, based), pcpus, target, tolerance, based), pcpus, based);
  const sticky = plan('sticky-lpt', items, improveLocally(items, stickyLptAssignment(items, pcpus, tolerance, order, based), pcpus, target, tolerance, based), pcpus, based);
  const candidates = rankPlans([fromCurrent, sticky, lpt], tolerance);
  return { best: candidates[0]!, candidates };
}
