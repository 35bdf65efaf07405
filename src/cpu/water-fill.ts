// The water-filling kernel: weighted max-min sharing of one capacity among demands.
//
// Each demand d (weight w; all equal without weights) gets min(d, w·λ) for the highest level λ the
// capacity allows: what CFS gives threads of these weights (cgroup cpu.weight, libvirt cpu_shares).
// The demands are taken in ascending d/w, ties in place order (what a stable sort gives): by
// insertion sort when few (one pCPU's fragments: no allocation), by the radix order of
// stable-order.ts when many (4,000 released vCPUs: insertion sort there is quadratic).
//
// Two readings of that one sweep, kept apart because they round differently and every prediction
// built on them is compared to the last bit (bench/decision-equivalence.ts):
//   shares (fillShares)  rank by rank, share = min(d, r·w / W) of what is left r over the weight left
//                        W, r −= share (unweighted: r / (n − rank), the hot path: no weights read);
//   level  (fillLevel)   λ = r / W at the first demand above w·λ, r having lost every demand before
//                        it; Infinity when every demand fits (learned sharing: min(d, w·λ) per vCPU).
// Inputs: demands ≥ 0 and weights > 0 (fillShares also reads a negative demand as 0); `waterFill`
// is the array entry point, clamping as the predictions always did.

import { ascendingOrder } from './stable-order.js';

/** Up to this many demands are ordered by insertion sort (no allocation), more by ascendingOrder. */
const fewDemands = 32;

/**
 * The order of the `n` demands from `from` by ascending demand / weight (demand without weights),
 * ties in place order: positions 0..n−1 in order[0..n). `scratch` (length ≥ n) is used when given
 * and few; many demands get a fresh array.
 */
function fillOrder(demands: Float64Array, weights: Float64Array | undefined, from: number, n: number, scratch: Uint32Array | undefined): Uint32Array {
  if (n > fewDemands) {
    if (weights === undefined) return ascendingOrder(demands.subarray(from, from + n));
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) keys[k] = demands[from + k]! / weights[from + k]!;
    return ascendingOrder(keys);
  }
  const order = scratch ?? new Uint32Array(n);
  // Stable: only strictly larger keys move.
  if (weights === undefined) {
    for (let k = 0; k < n; k++) {
      const key = demands[from + k]!;
      let at = k;
      while (at > 0 && demands[from + order[at - 1]!]! > key) {
        order[at] = order[at - 1]!;
        at--;
      }
      order[at] = k;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const key = demands[from + k]! / weights[from + k]!;
      let at = k;
      while (at > 0 && demands[from + order[at - 1]!]! / weights[from + order[at - 1]!]! > key) {
        order[at] = order[at - 1]!;
        at--;
      }
      order[at] = k;
    }
  }
  return order;
}

/**
 * Weighted max-min split of `capacity` (≥ 0) among the `n` demands from `from` (weights at the same
 * places, each > 0; all equal when omitted): the share of each, in place order, into shares[0..n).
 * `order`: scratch of length ≥ n, to allocate nothing when n is small.
 */
export function fillShares(
  demands: Float64Array,
  capacity: number,
  weights: Float64Array | undefined,
  shares: Float64Array | number[],
  from = 0,
  n = demands.length - from,
  order?: Uint32Array,
): void {
  const ranked = fillOrder(demands, weights, from, n, order);
  let remaining = capacity;
  if (weights === undefined) {
    for (let rank = 0; rank < n; rank++) {
      const k = ranked[rank]!;
      const share = Math.min(Math.max(0, demands[from + k]!), remaining / (n - rank));
      shares[k] = share;
      remaining -= share;
    }
    return;
  }
  let weightLeft = 0;
  for (let k = 0; k < n; k++) weightLeft += weights[from + k]!;
  for (let rank = 0; rank < n; rank++) {
    const k = ranked[rank]!;
    const w = weights[from + k]!;
    const share = Math.min(Math.max(0, demands[from + k]!), (remaining * w) / weightLeft);
    shares[k] = share;
    remaining -= share;
    weightLeft -= w;
  }
}

/**
 * The water level λ of the same split: Σ min(d, w·λ) = capacity over the `n` demands from `from`
 * (weights at the same places; all 1 when omitted); Infinity when every demand fits.
 */
export function fillLevel(demands: Float64Array, capacity: number, weights: Float64Array | undefined, from = 0, n = demands.length - from, order?: Uint32Array): number {
  const ranked = fillOrder(demands, weights, from, n, order);
  let weightLeft = 0;
  if (weights === undefined) weightLeft = n;
  else for (let k = 0; k < n; k++) weightLeft += weights[from + k]!;
  let remaining = Math.max(0, capacity);
  for (let rank = 0; rank < n; rank++) {
    const k = from + ranked[rank]!;
    const w = weights === undefined ? 1 : weights[k]!;
    const level = remaining / weightLeft;
    if (demands[k]! > w * level) return level;
    remaining -= demands[k]!;
    weightLeft -= w;
  }
  return Infinity;
}

/**
 * Max-min fair split of `capacity` among `demands` (a missing or negative demand is 0), weighted by
 * `weights` when given (a missing weight is 1, none below 1e-9); the share of each, in input order.
 */
export function waterFill(demands: readonly number[], capacity = 1, weights?: readonly number[]): number[] {
  const n = demands.length;
  const values = new Float64Array(n);
  const shares = new Array<number>(n).fill(0);
  if (weights === undefined) {
    // The demands as they are: a negative one sorts first and gets 0, as a 0 would.
    for (let i = 0; i < n; i++) values[i] = demands[i] ?? 0;
    fillShares(values, Math.max(0, capacity), undefined, shares);
    return shares;
  }
  const ws = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = Math.max(0, demands[i] ?? 0);
    ws[i] = Math.max(1e-9, weights[i] ?? 1);
  }
  fillShares(values, Math.max(0, capacity), ws, shares);
  return shares;
}
