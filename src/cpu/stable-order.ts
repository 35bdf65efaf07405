// Index orders by a numeric key, as a stable comparator sort would give them, without the comparator.
//
// Sorting 4,000 indices with `(a, b) => key[a] - key[b] || a - b` costs a closure call per
// comparison. Many keys (the scheduler's 4,000 demands) are sorted by a least-significant-digit
// radix sort of the keys' bits, which is stable, so ties keep index order by construction (−0 is
// made 0 first: the comparator ties them). Fewer keys: sorting a Float64Array of the keys natively,
// then each index finds its rank: the first sorted position of its key (binary search, `<` so that
// −0 and 0 tie), plus how many earlier indices had the same key.

/** Indices 0..n−1 in ascending order of `keys`, ties in index order. NaN keys fall back to the comparator sort. */
export function ascendingOrder(keys: Float64Array): Uint32Array {
  const n = keys.length;
  const order = new Uint32Array(n);
  if (n <= smallSort) return insertionOrder(keys, order);
  if (n >= radixFrom) {
    const byRadix = radixOrder(keys);
    if (byRadix) return byRadix;
  }
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

/** From this many keys the radix sort beats a native sort plus a binary search per key. */
const radixFrom = 256;

/** Radix digits of the 64-bit sortable key: [word (0 low, 1 high), shift, bits]. */
const digits: readonly (readonly [number, number, number])[] = [
  [0, 0, 11],
  [0, 11, 11],
  [0, 22, 10],
  [1, 0, 11],
  [1, 11, 11],
  [1, 22, 10],
];

/**
 * Ascending order of `keys` (ties in index order) by an LSD radix sort of their IEEE bits, mapped so
 * that unsigned order is numeric order (sign bit set on non-negatives, all bits inverted on
 * negatives); undefined when a key is NaN (no numeric order).
 */
function radixOrder(keys: Float64Array): Uint32Array | undefined {
  const n = keys.length;
  const bits = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (key !== key) return undefined;
    bits[i] = key + 0; // −0 → 0
  }
  const halves = new Uint32Array(bits.buffer);
  const low = new Uint32Array(n);
  const high = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const l = halves[2 * i]!;
    const h = halves[2 * i + 1]!;
    const negative = (h & 0x80000000) !== 0;
    low[i] = negative ? ~l >>> 0 : l;
    high[i] = negative ? ~h >>> 0 : (h | 0x80000000) >>> 0;
  }
  let order = new Uint32Array(n);
  let next = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const count = new Uint32Array(1 << 11);
  for (const [half, shift, width] of digits) {
    const word = half === 0 ? low : high;
    const mask = (1 << width) - 1;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(word[i]! >>> shift) & mask]!++;
    // A digit every key shares moves nothing.
    if (count[(word[0]! >>> shift) & mask] === n) continue;
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      next[count[(word[i]! >>> shift) & mask]!++] = i;
    }
    [order, next] = [next, order];
  }
  return order;
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
