// Grouped placements: vCPUs that share well together, onto pCPU subsets of any size.
//
// A clock-bound vCPU (learned-sharing.ts) beside a busy elastic one gets far less than it asks; two
// clock-bound ones sharing a pCPU drift apart and both get what they ask; busy ones share each other's
// pCPUs evenly. So the classes are by measured behaviour, not by name: the learned clock-bound vCPUs
// form one group, the rest another, and each group is one shared pCPU set (the host's scheduler then
// shares within it max-min fairly). The only question is how many pCPUs each group gets: every split
// k = 1 … P−1 is a candidate (around the demand-proportional split on large hosts), the clock-bound
// group on the pCPUs where most of its demand already runs (fewest moves) and with the least other
// load. The caller scores the candidates with the same model and comparator as every other placement.

/** On hosts with more pCPUs than this, only splits within ±splitRadius of the demand-proportional one are tried. */
const allSplitsUpTo = 8;
const splitRadius = 2;

/** Where each vCPU may run (shared arrays, one per group) for every candidate split. */
export function groupedCandidates(
  demands: readonly number[],
  clockBound: Uint8Array,
  homes: readonly (number | undefined)[],
  pcpus: number,
  other?: readonly number[],
): number[][][] {
  if (pcpus < 2) return [];
  let clockBoundDemand = 0;
  let elasticDemand = 0;
  const homed = new Float64Array(pcpus);
  for (let i = 0; i < demands.length; i++) {
    if (clockBound[i] === 1) {
      clockBoundDemand += demands[i]!;
      const h = homes[i];
      if (h !== undefined && h >= 0 && h < pcpus) homed[h] = homed[h]! + demands[i]!;
    } else elasticDemand += demands[i]!;
  }
  if (clockBoundDemand === 0 || elasticDemand === 0) return [];
  const order = Array.from({ length: pcpus }, (_, p) => p).sort((a, b) => homed[b]! - homed[a]! || (other?.[a] ?? 0) - (other?.[b] ?? 0) || a - b);
  const proportional = Math.round((pcpus * clockBoundDemand) / (clockBoundDemand + elasticDemand));
  const splits: number[] = [];
  for (let k = 1; k < pcpus; k++) if (pcpus <= allSplitsUpTo || Math.abs(k - proportional) <= splitRadius) splits.push(k);
  return splits.map((k) => {
    const clockBoundSet = order.slice(0, k).sort((a, b) => a - b);
    const elasticSet = order.slice(k).sort((a, b) => a - b);
    return demands.map((_, i) => (clockBound[i] === 1 ? clockBoundSet : elasticSet));
  });
}
