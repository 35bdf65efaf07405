// Predicted shares under a placement, and how fair they are.
//
// Model: each pCPU hands out 1.0 of CPU time per second, max-min fairly (water-filling) among the
// demands placed on it — a vCPU asking for less than an equal split gets all it asks for, the rest
// is split evenly among the others. A vCPU allowed on several pCPUs is modelled as an equal
// fragment of its demand on each (the host's scheduler moves it around among them).
// Fairness is Jain's index of share/demand: 1 when every vCPU gets the same fraction of what it wants.

/** Max-min fair split of `capacity` among `demands` (each ≥ 0); returns the share of each, in input order. */
export function waterFill(demands: readonly number[], capacity = 1): number[] {
  const n = demands.length;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = demands[i] ?? 0;
  // Ascending demand, ties in input order (what a stable sort by demand gives).
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]! || a - b);
  const shares = new Array<number>(n).fill(0);
  let remaining = Math.max(0, capacity);
  for (let rank = 0; rank < n; rank++) {
    const i = order[rank]!;
    const equalSplit = remaining / (n - rank);
    const share = Math.min(Math.max(0, values[i]!), equalSplit);
    shares[i] = share;
    remaining -= share;
  }
  return shares;
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
}

/** Predicted CPU share of each item (fraction of one pCPU) under the water-filling model. */
export function predictShares(items: readonly ShareItem[], pcpus: number): number[] {
  // Per pCPU, the items placed there (in item order) and their fragment of demand.
  const onItems: number[][] = Array.from({ length: pcpus }, () => []);
  const onDemands: number[][] = Array.from({ length: pcpus }, () => []);
  items.forEach((item, i) => {
    let count = 0;
    for (const p of item.pcpus) if (p >= 0 && p < pcpus) count++;
    if (count === 0) return;
    const fragment = item.demand / count;
    for (const p of item.pcpus) {
      if (p >= 0 && p < pcpus) {
        onItems[p]?.push(i);
        onDemands[p]?.push(fragment);
      }
    }
  });
  const shares = new Array<number>(items.length).fill(0);
  // pCPUs carrying exactly the same fragments (every vCPU allowed on all of them) split them the
  // same way: water-fill once and reuse.
  let previousItems: number[] | undefined;
  let previousDemands: number[] | undefined;
  let split: number[] = [];
  for (let p = 0; p < pcpus; p++) {
    const who = onItems[p]!;
    const demands = onDemands[p]!;
    if (!(previousItems && previousDemands && sameFragments(who, demands, previousItems, previousDemands))) split = waterFill(demands);
    previousItems = who;
    previousDemands = demands;
    for (let k = 0; k < who.length; k++) {
      const i = who[k]!;
      shares[i] = (shares[i] ?? 0) + (split[k] ?? 0);
    }
  }
  return shares;
}

function sameFragments(items: readonly number[], demands: readonly number[], otherItems: readonly number[], otherDemands: readonly number[]): boolean {
  if (items.length !== otherItems.length) return false;
  for (let k = 0; k < items.length; k++) if (items[k] !== otherItems[k] || !Object.is(demands[k], otherDemands[k])) return false;
  return true;
}

/** Predicted shares when every vCPU may run on every pCPU: one water-filling of all demands over `pcpus` (each fragment model collapses to this). */
export function predictSharesUnpinned(demands: readonly number[], pcpus: number): number[] {
  return waterFill(demands.map((d) => Math.min(1, d)), pcpus);
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
