// What the scheduler remembers per vCPU (demand history, predicted share) as lists in measurement
// order beside their keys (vcpuKey), instead of Records keyed by vCPU: a Record interns and indexes
// 4,000 fresh key strings per interval, three times per decision (look up, keep histories, keep
// predictions), which cost more than the rest of a decision on a balanced host. Lists stay plain
// data (the state survives JSON). A host lists its vCPUs in the same order interval after interval,
// so last interval's entry is found by position and a Map is built only when the order changed.

/** Finds last interval's entry of a vCPU: at the same position when the key matches there, else by key. */
export class PreviousByKey<T> {
  private byKey: Map<string, T> | undefined;
  /** True while every lookup so far was found at its own position. */
  aligned = true;

  constructor(
    private readonly keys: readonly string[],
    private readonly values: readonly T[],
  ) {}

  /** Last interval's key at `position` (to be reused when it names the same vCPU instead of building an equal string). */
  keyAt(position: number): string | undefined {
    return this.keys[position];
  }

  get(key: string, position: number): T | undefined {
    if (this.keys[position] === key) return this.values[position];
    this.aligned = false;
    this.byKey ??= new Map(this.keys.map((k, j) => [k, this.values[j]!]));
    return this.byKey.get(key);
  }
}

/**
 * The entries to keep, one per distinct key: `from[j]` is the measurement position whose value the
 * j-th kept entry takes (a key listed twice keeps its last value at its first place, as a Record
 * would). Undefined `from` when the keys are distinct (kept as measured), which is known without a
 * Set when they are exactly last interval's (distinct) keys.
 */
export function keptEntries(keys: readonly string[], sameAsPrevious: boolean): { keys: readonly string[]; from: number[] | undefined } {
  if (sameAsPrevious || new Set(keys).size === keys.length) return { keys, from: undefined };
  const last = new Map<string, number>();
  keys.forEach((key, i) => last.set(key, i));
  return { keys: [...last.keys()], from: [...last.values()] };
}

/** `values` in the kept entries' order (see keptEntries). */
export function keptValues<T>(values: readonly T[], from: readonly number[] | undefined): T[] {
  return from ? from.map((i) => values[i]!) : values.slice();
}
