import type { GuestAssessment } from './assessment.js';

// Rule: the safety clamp, applied to every balloon target before it leaves the coordinator.
//   - never past the domain's maximum;
//   - a shrink never goes below used + floor (used is the upper bound from usage.ts; for a guest
//     that reports MemAvailable, its anonymous use: its page cache can be dropped) nor below the
//     absolute minimum actual, and never turns into a grow;
//   - a grow is only capped (raising it to used + floor could exceed what the host may give).

/** The lowest target a shrink may set. */
export function lowestSafeKiB(g: Pick<GuestAssessment, 'usedKiB' | 'floorKiB' | 'minActualKiB' | 'maximumKiB'> & { anonKiB?: number }): number {
  return Math.min(g.maximumKiB, Math.max((g.anonKiB ?? g.usedKiB) + g.floorKiB, g.minActualKiB));
}

export function safeTargetKiB(
  proposedKiB: number,
  g: Pick<GuestAssessment, 'actualKiB' | 'usedKiB' | 'floorKiB' | 'minActualKiB' | 'maximumKiB'> & { anonKiB?: number },
): number {
  const target = Math.floor(proposedKiB);
  if (target >= g.actualKiB) return Math.min(target, g.maximumKiB);
  return Math.min(g.actualKiB, g.maximumKiB, Math.max(target, lowestSafeKiB(g)));
}
