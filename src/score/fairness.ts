// Fairness measures used by the CPU score.

/** Jain's fairness index: (Σx)² / (n·Σx²). 1 when all equal, 1/n when one takes everything. */
export function jainIndex(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  let sum = 0;
  let sumSquares = 0;
  for (const v of values) {
    sum += v;
    sumSquares += v * v;
  }
  if (sumSquares === 0) return 1;
  return (sum * sum) / (values.length * sumSquares);
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
 * Max-min fair share of `capacity` pCPUs among vCPUs with the given demands (fractions of one
 * pCPU, so each is capped at 1): every vCPU gets min(demand, level), with the level chosen so the
 * shares add up to min(capacity, Σdemand). This is what a perfect placement could give each.
 */
export function fairShares(demands: number[], capacity: number): number[] {
  const capped = demands.map((d) => Math.max(0, Math.min(1, d)));
  const total = capped.reduce((a, b) => a + b, 0);
  if (total <= capacity) return capped;
  const order = capped.map((d, i) => ({ d, i })).sort((a, b) => a.d - b.d);
  const shares = new Array<number>(capped.length).fill(0);
  let remaining = capacity;
  for (let k = 0; k < order.length; k++) {
    const entry = order[k]!;
    const level = remaining / (order.length - k);
    const share = Math.min(entry.d, level);
    shares[entry.i] = share;
    remaining -= share;
  }
  return shares;
}
