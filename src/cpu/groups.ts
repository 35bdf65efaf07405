// Grouped placements: vCPUs that share well together, onto pCPU subsets of any size.
//
// A clock-bound vCPU (learned-sharing.ts) beside a busy elastic one gets far less than it asks; two
// clock-bound ones sharing a pCPU drift apart and both get what they ask; busy ones share each other's
// pCPUs evenly. So the classes are by measured behaviour, not by name: the learned clock-bound vCPUs
// form one group, the rest another, and each group is one shared pCPU set (the host's scheduler then
// shares within it max-min fairly). The only question is how many pCPUs each group gets: every split
// k = 1 … P−1 is a candidate (around the demand-proportional split on large hosts), the clock-bound
// group on the pCPUs with the least other load (a host process is a busy neighbour that never waits)
// and, among those, where most of its demand already runs (fewest moves). A clock-bound vCPU asking
// much is nearly busy, so the group may also hold only the k least demanding clock-bound vCPUs. The
// caller scores the candidates with the same model and comparator as every other placement.

/** On hosts with more pCPUs than this, only splits within ±splitRadius of the demand-proportional one are tried. */
const allSplitsUpTo = 8;
const splitRadius = 2;

/** At most this many clock-bound subsets (the k least demanding, for k over the distinct demands) are tried. */
const subsetsTried = 6;

/** Where each vCPU may run (shared arrays, one per group) for every candidate split. */
export function groupedCandidates(
  demands: readonly number[],
  clockBound: Uint8Array,
  homes: readonly (number | undefined)[],
  pcpus: number,
  other?: readonly number[],
): number[][][] {
  if (pcpus < 2) return [];
  // A clock-bound vCPU asking much is almost busy: the group may hold only the k least demanding.
  const byDemand = demands.map((_, i) => i).filter((i) => clockBound[i] === 1).sort((a, b) => demands[a]! - demands[b]! || a - b);
  const cuts: number[] = [];
  for (let k = byDemand.length; k >= 1 && cuts.length < subsetsTried; k--) {
    if (k === byDemand.length || demands[byDemand[k]!]! - demands[byDemand[k - 1]!]! > 1e-3) cuts.push(k);
  }
  const out: number[][][] = [];
  for (const k of cuts) {
    const inGroup = new Uint8Array(demands.length);
    for (const i of byDemand.slice(0, k)) inGroup[i] = 1;
    out.push(...splitsFor(demands, inGroup, homes, pcpus, other));
  }
  return out;
}

/** Every split of the pCPUs between the group (`inGroup`) and the rest, the group on the pCPUs with least other load, then where it runs. */
function splitsFor(demands: readonly number[], inGroup: Uint8Array, homes: readonly (number | undefined)[], pcpus: number, other?: readonly number[]): number[][][] {
  let groupDemand = 0;
  let restDemand = 0;
  const homed = new Float64Array(pcpus);
  for (let i = 0; i < demands.length; i++) {
    if (inGroup[i] === 1) {
      groupDemand += demands[i]!;
      const h = homes[i];
      if (h !== undefined && h >= 0 && h < pcpus) homed[h] = homed[h]! + demands[i]!;
    } else restDemand += demands[i]!;
  }
  if (groupDemand === 0 || restDemand === 0) return [];
  // Other load is a busy neighbour that never waits: clock-bound vCPUs do worst beside it.
  const otherBucket = (p: number): number => Math.round((other?.[p] ?? 0) * 20);
  const order = Array.from({ length: pcpus }, (_, p) => p).sort((a, b) => otherBucket(a) - otherBucket(b) || homed[b]! - homed[a]! || a - b);
  const proportional = Math.round((pcpus * groupDemand) / (groupDemand + restDemand));
  const splits: number[] = [];
  for (let k = 1; k < pcpus; k++) if (pcpus <= allSplitsUpTo || Math.abs(k - proportional) <= splitRadius) splits.push(k);
  return splits.map((k) => {
    const groupSet = order.slice(0, k).sort((a, b) => a - b);
    const restSet = order.slice(k).sort((a, b) => a - b);
    return demands.map((_, i) => (inGroup[i] === 1 ? groupSet : restSet));
  });
}
