// Rule: when there is not enough for all.
//
// If the starving guests together want more than the host may give this interval (reserve.ts),
// the host is "short" and two things happen, in the spirit of VMware ESX's shares and idle-memory tax:
//  1. idle memory is taken back first: every guest that is not starving is shrunk at once (not
//     gradually) to used + floor — memory sitting unused is the cheapest to take (reclaim.ts, mode
//     'idle-tax'). It reaches host free over the next seconds and is shared out next interval;
//  2. what the host can give now is split among the starving guests in proportion to their weights
//     (shares, default 1), each capped at what it asked for; what a capped guest leaves over is split
//     again among the rest by weight (weighted max-min fairness, "water-filling").

export interface GrowthRequest {
  name: string;
  weight: number;
  /** Increase wanted over what the guest already holds or has been promised, KiB. */
  requestKiB: number;
}

export interface SharingPlan {
  /** The requests add up to more than the budget. */
  short: boolean;
  budgetKiB: number;
  wantedKiB: number;
  /** Granted increase per guest name, KiB (whole KiB). */
  grants: Map<string, number>;
}

export function shareMemory(requests: readonly GrowthRequest[], budgetKiB: number): SharingPlan {
  const wantedKiB = requests.reduce((sum, r) => sum + r.requestKiB, 0);
  const available = Math.max(0, Math.floor(budgetKiB));
  if (wantedKiB <= available) {
    return { short: false, budgetKiB, wantedKiB, grants: new Map(requests.map((r) => [r.name, Math.floor(r.requestKiB)])) };
  }
  return { short: true, budgetKiB, wantedKiB, grants: waterFill(requests, available) };
}

function waterFill(requests: readonly GrowthRequest[], available: number): Map<string, number> {
  const grants = new Map<string, number>(requests.map((r) => [r.name, 0]));
  let open = requests.filter((r) => r.requestKiB > 0);
  let left = available;
  while (open.length > 0 && left > 0) {
    const totalWeight = open.reduce((sum, r) => sum + r.weight, 0);
    const satisfied = open.filter((r) => r.requestKiB <= (left * r.weight) / totalWeight);
    if (satisfied.length === 0) {
      for (const r of open) grants.set(r.name, Math.floor((left * r.weight) / totalWeight));
      break;
    }
    for (const r of satisfied) {
      grants.set(r.name, Math.floor(r.requestKiB));
      left -= Math.floor(r.requestKiB);
    }
    open = open.filter((r) => !satisfied.includes(r));
  }
  return grants;
}
