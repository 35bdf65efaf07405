import type { GuestAssessment } from './assessment.js';
import { lowestSafeKiB } from './bounds.js';
import type { MemoryOptions } from './options.js';
import { mib } from './units.js';

// Rule: take memory back from guests that waste it.
//
// Gradual mode (the host has enough): a guest whose unused memory, less the growth predicted over
// the horizon, exceeds the waste threshold (wasteRatio × floor, 300 MiB by default) starts a
// reclaim run. Each interval with a fresh reading
// it gives back reclaimFraction (half) of its excess over what it needs
//   need = used + floor + growth × horizon   (never below the absolute minimum)
// and the run ends once the excess is below minChange. Halving the excess brings a 2 GiB guest with
// 1.7 GiB to spare within 16 MiB of its need in 7 steps, yet a guest that starts consuming again
// never loses more than half its margin to one decision. The run's memory (a Schmitt trigger: enter
// above the waste threshold, leave near the need) is what makes idle guests end near their floor
// instead of stopping at the waste threshold.
//
// Idle-tax mode (the host is short, sharing.ts): every guest that is not starving is brought to its
// need at once.

export type ReclaimMode = 'gradual' | 'idle-tax';

export interface ReclaimProposal {
  targetKiB: number;
  why: string;
}

export interface ReclaimVerdict {
  proposal?: ReclaimProposal;
  /** Whether the guest is in a reclaim run after this decision. */
  reclaiming: boolean;
}

export function wasteThresholdKiB(g: GuestAssessment, options: MemoryOptions): number {
  return g.floorKiB * options.wasteRatio;
}

export function assessReclaim(g: GuestAssessment, options: MemoryOptions, mode: ReclaimMode, shortBecause = ''): ReclaimVerdict {
  const needKiB = Math.max(lowestSafeKiB(g), Math.min(g.maximumKiB, g.usedKiB + g.floorKiB + g.growthKiBps * g.horizonSeconds));
  const excessKiB = g.actualKiB - needKiB;
  const minChangeKiB = options.minChangeMiB * 1024;
  // While the balloon is still moving, `used` is an upper bound that hides the excess: a run ends
  // only on a reading taken with the balloon standing still.
  if (excessKiB < minChangeKiB) return { reclaiming: g.reclaiming && !g.settled };
  const need = `used ${mib(g.usedKiB)} + floor ${mib(g.floorKiB)}` +
    (g.growthKiBps > 0 ? ` + growth ${mib(g.growthKiBps * g.horizonSeconds)}` : '') +
    (needKiB > g.usedKiB + g.floorKiB + g.growthKiBps * g.horizonSeconds ? `, at least ${mib(needKiB)}` : '');

  if (mode === 'idle-tax') {
    return {
      reclaiming: false,
      proposal: { targetKiB: needKiB, why: `${shortBecause}: taking back its idle memory (unused ${mib(g.unusedKiB)} MiB) down to ${need} MiB` },
    };
  }

  const thresholdKiB = wasteThresholdKiB(g, options);
  // A run starts only when the guest would still waste memory after the growth predicted over the
  // horizon: one whose use is growing keeps its margin for now.
  const projectedKiB = g.unusedKiB - g.growthKiBps * g.horizonSeconds;
  if (!g.reclaiming && projectedKiB <= thresholdKiB) return { reclaiming: false };
  const stepKiB = options.reclaimFraction * excessKiB < minChangeKiB ? excessKiB : options.reclaimFraction * excessKiB;
  const start = g.reclaiming
    ? `reclaiming: unused ${mib(g.unusedKiB)} MiB`
    : g.growthKiBps > 0
      ? `unused ${mib(g.unusedKiB)} MiB, ${mib(projectedKiB)} MiB after the predicted growth, > ${mib(thresholdKiB)} MiB waste threshold`
      : `unused ${mib(g.unusedKiB)} MiB > ${mib(thresholdKiB)} MiB waste threshold`;
  const share = stepKiB === excessKiB ? 'the last' : `${Math.round(options.reclaimFraction * 100)} % of the`;
  return {
    reclaiming: true,
    proposal: {
      targetKiB: g.actualKiB - stepKiB,
      why: `${start}, taking back ${share} ${mib(excessKiB)} MiB above its need (${need} MiB)`,
    },
  };
}
