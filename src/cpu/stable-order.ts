// Index orders by a numeric key, as a stable comparator sort would give them, without the comparator.
//
// Sorting 4,000 indices with `(a, b) => key[a] - key[b] || a - b` costs a closure call per
// comparison; sorting a Float64Array of the keys natively is several times faster. Each index then
// finds its rank: the first sorted position of its key (binary search, `<` so that −0 and 0 tie as
// the comparator has them), plus how many earlier indices had the same key.

/** Indices 0..n−1 in ascending order of `keys`, ties in index order. NaN keys fall back to the comparator sort. */
export function ascendingOrder(keys: Float64Array): Uint32Array {
  const n = keys.length;
  const order = new Uint32Array(n);
  if (n <= smallSort) return insertionOrder(keys, order);
  const sorted = keys.slice().sort();
  if (n > 0 && Number.isNaN(sorted[n - 1]!)) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => keys[a]! - keys[b]! || a - b);
  }
  const taken = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    order[lo + taken[lo]!++] = i;
  }
  return order;
}

/** Indices in descending order of `values`, ties in index order. */
export function descendingOrder(values: ArrayLike<number>): Uint32Array {
  const keys = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) keys[i] = -values[i]!;
  return ascendingOrder(keys);
}

/** Below this many keys a stable insertion sort beats allocating and searching. */
const smallSort = 24;

function insertionOrder(keys: Float64Array, order: Uint32Array): Uint32Array {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    let k = i;
    while (k > 0 && keys[order[k - 1]!]! > key) {
      order[k] = order[k - 1]!;
      k--;
    }
    order[k] = i;
  }
  return order;
}
