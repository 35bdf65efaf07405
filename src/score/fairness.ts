// Fairness measures used by the CPU score.

import { jainIndex as jain, predictSharesUnpinned } from '../cpu/fairness.js';

/** Jain's fairness index of the values (the scheduler's own definition); undefined for none. */
export function jainIndex(values: number[]): number | undefined {
  return values.length === 0 ? undefined : jain(values);
}

/**
 * Groups items whose value is within ±tolerance of each other: sorted ascending, a group takes
 * every item up to (1 + tolerance) × its smallest member. Deterministic, and a chain of small
 * steps cannot grow a group without bound.
 */
export function groupByValue<T>(items: T[], value: (item: T) => number, tolerance: number): T[][] {
  const sorted = [...items].sort((a, b) => value(a) - value(b));
  const groups: T[][] = [];
  let current: T[] = [];
  let base = 0;
  for (const item of sorted) {
    const v = value(item);
    if (current.length > 0 && v <= base * (1 + tolerance) + 1e-12) {
      current.push(item);
      continue;
    }
    if (current.length > 0) groups.push(current);
    current = [item];
    base = v;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * Max-min fair share of `capacity` pCPUs among vCPUs with the given demands (each capped at one
 * pCPU): what a perfect placement could give each; the scheduler's own unpinned prediction.
 */
export function fairShares(demands: number[], capacity: number, pcpuCapacity?: readonly number[], weights?: readonly number[]): number[] {
  return predictSharesUnpinned(demands.map((d) => Math.max(0, d)), capacity, pcpuCapacity, weights);
}

/** What each pCPU has left for the guests once the host's other load (not guests) took its part; undefined when none was recorded. */
export function guestCapacity(entry: { truth?: { otherLoad?: { received: number[] } }; cpu?: { pcpuOther?: number[] } }): number[] | undefined {
  // A simulated run's truth says exactly; without truth, what the scheduler measured.
  const other = entry.truth ? entry.truth.otherLoad?.received : entry.cpu?.pcpuOther;
  return other?.map((o) => Math.max(0, 1 - o));
}
