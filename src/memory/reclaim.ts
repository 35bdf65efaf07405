import { neededKiB, type GuestAssessment } from './assessment.js';
import { lowestSafeKiB } from './bounds.js';
import type { MemoryOptions } from './options.js';
import { mib } from '../ground/units.js';

// Rule: take memory back from guests that waste it.
//
// Gradual mode (the host has enough): a guest whose unused memory, less its noise allowance and
// the growth predicted over the horizon, exceeds the waste threshold (wasteRatio × floor, 300 MiB by
// default) starts a reclaim run. Each interval with a fresh reading it gives back reclaimFraction
// (half) of its excess over what it needs
//   need = used + noise allowance + floor + growth × horizon   (never below the absolute minimum)
// and the run ends once the excess is within the noise band (the larger of minChange and one σ of
// the guest's noise, noise.ts). Halving the excess brings a 2 GiB guest with 1.7 GiB to spare
// within 16 MiB of its need in 7 steps, yet a guest that starts consuming again never loses more
// than half its margin to one decision. The run's memory (a Schmitt trigger: enter above the waste
// threshold, leave near the need) is what makes idle guests end near their floor instead of
// stopping at the waste threshold. On a noisy guest, waste that exceeds the threshold by less than
// noiseSigmas·σ must show on two successive fresh readings before a run starts.
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
  /** Waste seen on this reading that still needs a second reading to confirm it. */
  wasteSeen: boolean;
}

export function wasteThresholdKiB(g: GuestAssessment, options: MemoryOptions): number {
  return g.floorKiB * options.wasteRatio;
}

export function assessReclaim(g: GuestAssessment, options: MemoryOptions, mode: ReclaimMode, shortBecause = ''): ReclaimVerdict {
  const plainNeedKiB = neededKiB(g);
  const needKiB = Math.max(lowestSafeKiB(g), Math.min(g.maximumKiB, plainNeedKiB));
  const excessKiB = g.actualKiB - needKiB;
  // Excess within one reading's noise is not worth a change: the next reading may ask for it back.
  const bandKiB = Math.max(options.minChangeMiB * 1024, g.noiseSigmaKiB);
  // While the balloon is still moving, `used` is an upper bound that hides the excess: a run ends
  // only on a reading taken with the balloon standing still.
  if (excessKiB < bandKiB) return { reclaiming: g.reclaiming && !g.settled, wasteSeen: false };
  const need = `used ${mib(g.usedKiB)}` +
    (g.noiseAllowanceKiB > 0 ? ` + noise ${mib(g.noiseAllowanceKiB)}` : '') +
    ` + floor ${mib(g.floorKiB)}` +
    (g.growthKiBps > 0 ? ` + growth ${mib(g.growthKiBps * g.horizonSeconds)}` : '') +
    (needKiB > plainNeedKiB ? `, at least ${mib(needKiB)}` : '');

  if (mode === 'idle-tax') {
    return {
      reclaiming: false,
      wasteSeen: false,
      proposal: { targetKiB: needKiB, why: `${shortBecause}: taking back its idle memory (unused ${mib(g.unusedKiB)} MiB) down to ${need} MiB` },
    };
  }

  const thresholdKiB = wasteThresholdKiB(g, options);
  // A run starts only when the guest would still waste memory after its noise allowance and the
  // growth predicted over the horizon: one whose use is growing keeps its margin for now.
  const projectedKiB = g.unusedKiB - g.noiseAllowanceKiB - g.growthKiBps * g.horizonSeconds;
  let confirmed = '';
  if (!g.reclaiming) {
    if (projectedKiB <= thresholdKiB) return { reclaiming: false, wasteSeen: false };
    // Waste further beyond the threshold than the noise explains counts at once; closer, it must
    // show on the next fresh reading too.
    const clear = projectedKiB - thresholdKiB > options.noiseSigmas * g.noiseSigmaKiB;
    if (!clear && !g.wasteSeen) return { reclaiming: false, wasteSeen: true };
    if (!clear) confirmed = ' on two readings';
  }
  const stepKiB = options.reclaimFraction * excessKiB < bandKiB ? excessKiB : options.reclaimFraction * excessKiB;
  const beyond = [
    g.noiseAllowanceKiB > 0 ? `its ${mib(g.noiseAllowanceKiB)} MiB noise allowance` : '',
    g.growthKiBps > 0 ? 'the predicted growth' : '',
  ].filter(Boolean).join(' and ');
  const start = g.reclaiming
    ? `reclaiming: unused ${mib(g.unusedKiB)} MiB`
    : beyond
      ? `unused ${mib(g.unusedKiB)} MiB, ${mib(projectedKiB)} MiB after ${beyond}, > ${mib(thresholdKiB)} MiB waste threshold${confirmed}`
      : `unused ${mib(g.unusedKiB)} MiB > ${mib(thresholdKiB)} MiB waste threshold${confirmed}`;
  const share = stepKiB === excessKiB ? 'the last' : `${Math.round(options.reclaimFraction * 100)} % of the`;
  return {
    reclaiming: true,
    wasteSeen: false,
    proposal: {
      targetKiB: g.actualKiB - stepKiB,
      why: `${start}, taking back ${share} ${mib(excessKiB)} MiB above its need (${need} MiB)`,
    },
  };
}
