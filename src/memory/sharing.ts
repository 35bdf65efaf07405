// Rule: when there is not enough for all.
//
// If the starving guests together want more than the host may give this interval (reserve.ts),
// the host is "short" and two things happen, in the spirit of VMware ESX's shares and idle-memory tax:
//  1. idle memory is taken back first: every guest that is not starving is shrunk at once (not
//     gradually) to used + floor — memory sitting unused is the cheapest to take (reclaim.ts, mode
//     'idle-tax'). It reaches host free over the next seconds and is shared out next interval;
//  2. what the host can give now goes to the starving guests so that their memory, in total, is
//     divided in proportion to their weights (shares, default 1): a common level L is found such
//     that each guest is raised to weight × L — never above what it asked for, never below what it
//     already holds — and the raises add up to what the host can give (weighted max-min fairness,
//     "water-filling"). The guest furthest below its share is served first; one already above its
//     share gets nothing more until the others catch up (memory in use is never taken from it).

export interface GrowthRequest {
  name: string;
  weight: number;
  /** What the guest already holds or has been promised, KiB. */
  currentKiB: number;
  /** Increase wanted over currentKiB, KiB. */
  requestKiB: number;
}

export interface SharingPlan {
  /** The requests add up to more than the budget. */
  short: boolean;
  budgetKiB: number;
  wantedKiB: number;
  /** Granted increase per guest name, KiB (whole KiB). */
  grants: Map<string, number>;
  /** When short: memory per unit of weight the starving guests are raised toward, KiB. */
  levelKiB?: number;
}

export function shareMemory(requests: readonly GrowthRequest[], budgetKiB: number): SharingPlan {
  const wantedKiB = requests.reduce((sum, r) => sum + r.requestKiB, 0);
  const available = Math.max(0, Math.floor(budgetKiB));
  if (wantedKiB <= available) {
    return { short: false, budgetKiB, wantedKiB, grants: new Map(requests.map((r) => [r.name, Math.floor(r.requestKiB)])) };
  }
  const { grants, levelKiB } = waterFill(requests, available);
  return { short: true, budgetKiB, wantedKiB, grants, levelKiB };
}

function waterFill(requests: readonly GrowthRequest[], available: number): { grants: Map<string, number>; levelKiB: number } {
  const raiseAt = (level: number, r: GrowthRequest): number =>
    Math.min(r.requestKiB, Math.max(0, r.weight * level - r.currentKiB));
  const total = (level: number): number => requests.reduce((sum, r) => sum + raiseAt(level, r), 0);
  let low = 0;
  let high = Math.max(...requests.map((r) => (r.currentKiB + r.requestKiB) / r.weight), 1);
  for (let i = 0; i < 64 && high - low > 1e-6; i++) {
    const mid = (low + high) / 2;
    if (total(mid) <= available) low = mid;
    else high = mid;
  }
  return { grants: new Map(requests.map((r) => [r.name, Math.floor(raiseAt(low, r))])), levelKiB: low };
}
