// Predicted shares under a placement, and how fair they are.
//
// Model: each pCPU hands out 1.0 of CPU time per second, max-min fairly (water-filling) among the
// demands placed on it — a vCPU asking for less than an equal split gets all it asks for, the rest
// is split evenly among the others. A vCPU allowed on several pCPUs is modelled as an equal
// fragment of its demand on each (the host's scheduler moves it around among them).
// Fairness is Jain's index of share/demand: 1 when every vCPU gets the same fraction of what it wants.

/** Max-min fair split of `capacity` among `demands` (each ≥ 0); returns the share of each, in input order. */
export function waterFill(demands: readonly number[], capacity = 1): number[] {
  const order = demands.map((_, i) => i).sort((a, b) => (demands[a] ?? 0) - (demands[b] ?? 0));
  const shares = new Array<number>(demands.length).fill(0);
  let remaining = Math.max(0, capacity);
  order.forEach((i, rank) => {
    const equalSplit = remaining / (order.length - rank);
    const share = Math.min(Math.max(0, demands[i] ?? 0), equalSplit);
    shares[i] = share;
    remaining -= share;
  });
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
  const fragments: { item: number; demand: number }[][] = Array.from({ length: pcpus }, () => []);
  items.forEach((item, i) => {
    const where = item.pcpus.filter((p) => p >= 0 && p < pcpus);
    for (const p of where) fragments[p]?.push({ item: i, demand: item.demand / where.length });
  });
  const shares = new Array<number>(items.length).fill(0);
  for (const onPcpu of fragments) {
    const split = waterFill(onPcpu.map((f) => f.demand));
    onPcpu.forEach((f, k) => {
      shares[f.item] = (shares[f.item] ?? 0) + (split[k] ?? 0);
    });
  }
  return shares;
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
