// The drop-in's tie-break (#17 item 4): a model that does not count other load (countOtherLoad false) balances
// the vCPUs' demand alone, and among placements as balanced by that measure some put vCPUs beside a host
// process and some do not. This moves a vCPU off a pCPU carrying other load onto one carrying less, only where
// the demand loads' spread (other load not counted: the objective unchanged) stays no wider than the plan's.
import { loadsOf, pinChanges, spreadOf, type PlacementItem, type PlacementPlan } from './placement.js';
import { otherLoadFloor } from './usage.js';

const eps = 1e-9;

export function awayFromOtherLoad(items: readonly PlacementItem[], plan: PlacementPlan, pcpus: number, other: readonly number[]): PlacementPlan {
  if (other.length !== pcpus || !other.some((o) => o >= otherLoadFloor)) return plan;
  const assignment = [...plan.assignment];
  const loads = loadsOf(items, assignment, pcpus);
  const spread = spreadOf(loads);
  const order = items.map((_, i) => i).sort((a, b) => items[b]!.demand - items[a]!.demand || a - b);
  let moved = false;
  for (const i of order) {
    const p = assignment[i]!;
    const d = items[i]!.demand;
    if ((other[p] ?? 0) < otherLoadFloor) continue;
    let best = -1;
    for (let q = 0; q < pcpus; q++) {
      if (q === p || (other[q] ?? 0) > (other[p] ?? 0) - otherLoadFloor) continue;
      loads[p] = loads[p]! - d;
      loads[q] = loads[q]! + d;
      const ok = spreadOf(loads) <= spread + eps;
      loads[p] = loads[p]! + d;
      loads[q] = loads[q]! - d;
      if (!ok) continue;
      if (best < 0 || (other[q] ?? 0) < (other[best] ?? 0) - eps || (Math.abs((other[q] ?? 0) - (other[best] ?? 0)) <= eps && loads[q]! < loads[best]!)) best = q;
    }
    if (best < 0) continue;
    loads[p] = loads[p]! - d;
    loads[best] = loads[best]! + d;
    assignment[i] = best;
    moved = true;
  }
  if (!moved) return plan;
  return { ...plan, assignment, loads, spread: spreadOf(loads), changes: pinChanges(items, assignment) };
}
