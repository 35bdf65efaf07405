import { neededKiB, unusedLabel, type GuestAssessment } from './assessment.js';
import { lowestSafeKiB } from './bounds.js';
import type { MemoryOptions } from './options.js';
import { mib } from '../ground/units.js';
import { cacheFigures } from './cache.js';
import { heldByHostKiB } from './resident.js';
import { noiseBandKiB } from './noise.js';

// Rule: take memory back from guests that waste it.
//
// Gradual mode (the host has enough): a guest whose unused memory, less its noise allowance and
// the growth predicted over the horizon, exceeds the waste threshold (wasteRatio × floor, 300 MiB by
// default) starts a reclaim run. Each interval with a fresh reading it gives back its excess over
// what it needs
//   need = used + noise allowance + floor + growth × horizon   (never below the absolute minimum)
// all at once while the excess is beyond the waste threshold, reclaimFraction (half) of it below,
// and the run ends once the excess is within the noise band (the larger of minChange and one σ of
// the guest's noise, noise.ts). A 2 GiB guest with 1.7 GiB to spare is brought to its need in one
// step (the need already holds its floor, noise allowance and predicted growth); the halving below
// the threshold lets the run end on a later, settled reading rather than on the first. The run's
// memory (a Schmitt trigger: enter above the waste threshold, leave near the need) is what makes
// idle guests end near their floor instead of stopping at the waste threshold. On a noisy guest,
// waste that exceeds the threshold by less than noiseSigmas·σ must show on two successive fresh
// readings before a run starts.
//
// A guest with page cache (cache.ts) is sized on anon + hot, so its cold cache counts as waste like
// free memory; but one step takes at most its free memory above the need plus coldStepKiB of cache
// (coldReclaimMiBps): cache is taken back gradually, watched for refaults (refaults.ts). While a
// read it held whole is within the refault horizon, gradual reclaim also leaves it anon + the room
// to read it again for one interval (rereadMarginKiB, read-bursts.ts): a re-read is seen one
// observation late, and what the guest reads before then beyond its room it evicts itself and
// reads again on the next pass. Idle-tax mode takes that room like any cold cache.
//
// Idle-tax mode (the host is short, sharing.ts): every guest that is not starving is brought to its
// need at once, cold cache included; with `takeHotKiB` (the host is still short after that, lowest
// weights first) its need leaves out that much of its hot cache too — never its anonymous use.

/** What this rule remembers of a guest. */
export interface ReclaimMemory {
  /** Inside a reclaim run (entered above the waste threshold, left near used + floor). */
  reclaiming: boolean;
  /** The last fresh reading showed waste, not yet confirmed by a second one. */
  wasteSeen: boolean;
}

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

export function assessReclaim(g: GuestAssessment, options: MemoryOptions, mode: ReclaimMode, shortBecause = '', takeHotKiB = 0): ReclaimVerdict {
  const takeHot = takeHotKiB > 0 && g.cache !== undefined;
  if (takeHot) g = { ...g, usedKiB: g.usedKiB - takeHotKiB, unusedKiB: g.unusedKiB + takeHotKiB };
  const plainNeedKiB = neededKiB(g);
  // While the host has enough, a guest that recently read data it could hold whole keeps room for
  // one interval of reading it again (read-bursts.ts): the re-read is seen one observation late.
  const marginKiB = mode === 'gradual' && g.cache ? g.rereadMarginKiB ?? 0 : 0;
  const rereadNeedKiB = marginKiB > 0 ? g.anonKiB + g.noiseAllowanceKiB + g.growthKiBps * g.horizonSeconds + marginKiB : 0;
  const needKiB = Math.max(lowestSafeKiB(g), Math.min(g.maximumKiB, Math.max(plainNeedKiB, rereadNeedKiB)));
  const excessKiB = g.actualKiB - needKiB;
  const thresholdKiB = wasteThresholdKiB(g, options);
  // Excess within one reading's noise is not worth a change: the next reading may ask for it back.
  const bandKiB = noiseBandKiB(g.noiseSigmaKiB, options.minChangeMiB * 1024);
  // While the balloon is still moving, `used` is an upper bound that hides the excess: a run ends
  // only on a reading taken with the balloon standing still.
  if (excessKiB < bandKiB) return { reclaiming: g.reclaiming && !g.settled, wasteSeen: false };
  const need = (g.cache ? `anon ${mib(g.anonKiB)} + hot ${mib(g.cache.hotKiB - takeHotKiB)}` : `used ${mib(g.usedKiB)}`) +
    (g.noiseAllowanceKiB > 0 ? ` + noise ${mib(g.noiseAllowanceKiB)}` : '') +
    ` + floor ${mib(g.floorKiB)}` +
    (g.growthKiBps > 0 ? ` + growth ${mib(g.growthKiBps * g.horizonSeconds)}` : '') +
    (needKiB > plainNeedKiB ? (rereadNeedKiB >= needKiB ? `, at least anon ${mib(g.anonKiB)} + room to re-read a recent read ${mib(marginKiB)}` : `, at least ${mib(needKiB)}`) : '');

  const figures = g.cache ? ` [${cacheFigures(g.anonKiB, g.cache)}]` : '';
  if (mode === 'idle-tax') {
    const what = !g.cache ? 'its idle memory' : takeHot ? `its idle memory, cold cache and ${mib(takeHotKiB)} MiB of its hot cache (lowest weight)` : 'its idle memory and cold cache';
    return {
      reclaiming: false,
      wasteSeen: false,
      proposal: { targetKiB: needKiB, why: `${shortBecause}: taking back ${what} (unused ${mib(g.unusedKiB)} MiB) down to ${need} MiB${figures}` },
    };
  }

  // A run starts only when the guest would still waste memory after its noise allowance and the
  // growth predicted over the horizon: one whose use is growing keeps its margin for now.
  const projectedKiB = g.unusedKiB - g.noiseAllowanceKiB - g.growthKiBps * g.horizonSeconds;
  // A guest that reports free pages returns its free memory to the host by itself: only cold page
  // cache, which it never reports, is waste worth balloon moves (which then take free memory first).
  // A run starts when its cold cache exceeds the headroom its need leaves (floor, noise allowance,
  // predicted growth) by more than the noise band: cache that would stay even with that whole
  // headroom free, so a shrink to its need makes the guest drop at least that much. Not the waste
  // threshold (1.5 floors) on the cold cache alone: on real guests MemAvailable undercounts the cache
  // (by a watermark, ~50 MiB on the lab guests) and the kernel keeps ~65 MiB free, so a 512 MiB lab
  // guest full of cold cache reads ~285 MiB of it and never started a run (issue #18).
  //
  // Reporting lags, though: the guest hands back about 256 MiB a pass every 2 s (measured on lab
  // guests, docs/memory-coordinator.md), the balloon takes it at once. When the host still holds more
  // of the guest beyond its need than the waste threshold (its resident set, not its balloon: memory
  // already reported is the host's) and the excess is as large, the balloon takes it now. Not on a
  // virtio-mem guest: its excess is unplugged after a while (lever.ts), not ballooned at once.
  const coldKiB = g.cache?.coldKiB ?? 0;
  const headroomKiB = plainNeedKiB - g.usedKiB;
  const unreportedKiB = g.residentKiB === undefined ? 0 : heldByHostKiB(g.residentKiB, g.actualKiB) - needKiB;
  const reportingLags = g.reportsFreePages === true && !g.hasMemoryDevice && unreportedKiB > thresholdKiB && excessKiB > thresholdKiB;
  if (g.reportsFreePages && !reportingLags && coldKiB - (g.reclaiming ? 0 : headroomKiB) < bandKiB) return { reclaiming: false, wasteSeen: false };
  let confirmed = '';
  if (!g.reclaiming && !g.reportsFreePages) {
    if (projectedKiB <= thresholdKiB) return { reclaiming: false, wasteSeen: false };
    // Waste further beyond the threshold than the noise explains counts at once; closer, it must
    // show on the next fresh reading too.
    const clear = projectedKiB - thresholdKiB > options.noiseSigmas * g.noiseSigmaKiB;
    if (!clear && !g.wasteSeen) return { reclaiming: false, wasteSeen: true };
    if (!clear) confirmed = ' on two readings';
  }
  // An excess beyond the waste threshold (a consumer just stopped, a load was freed) is taken in one
  // step: halving it would hold hundreds of MiB for several more intervals, and what the guest keeps
  // (its need) already covers its noise and predicted growth. Smaller excesses are halved, so the run
  // ends on a later, settled reading rather than on the first one.
  const halfKiB = options.reclaimFraction * excessKiB < bandKiB ? excessKiB : options.reclaimFraction * excessKiB;
  const wholeOrHalfKiB = excessKiB > thresholdKiB ? excessKiB : halfKiB;
  const stepKiB = g.cache ? Math.min(wholeOrHalfKiB, freeAboveNeedKiB(g, options) + g.cache.coldStepKiB) : wholeOrHalfKiB;
  if (stepKiB < options.minChangeMiB * 1024) return { reclaiming: true, wasteSeen: false };
  // The balloon is already on its way there (a step taken whole, read again before it landed).
  if (g.movingToKiB !== undefined && g.movingToKiB <= g.actualKiB - stepKiB + options.minChangeMiB * 1024) return { reclaiming: true, wasteSeen: false };
  const beyond = [
    g.noiseAllowanceKiB > 0 ? `its ${mib(g.noiseAllowanceKiB)} MiB noise allowance` : '',
    g.growthKiBps > 0 ? 'the predicted growth' : '',
  ].filter(Boolean).join(' and ');
  const start = g.reclaiming
    ? `reclaiming: ${unusedLabel(g)} ${mib(g.unusedKiB)} MiB`
    : reportingLags
      ? `resident ${mib(unreportedKiB)} MiB beyond its need > ${mib(thresholdKiB)} MiB waste threshold (free page reporting returns it over seconds, the balloon at once)`
      : g.reportsFreePages
      ? `cold cache ${mib(coldKiB)} MiB > its ${mib(headroomKiB)} MiB headroom (free pages are reported, page cache is not)`
      : beyond
      ? `${unusedLabel(g)} ${mib(g.unusedKiB)} MiB, ${mib(projectedKiB)} MiB after ${beyond}, > ${mib(thresholdKiB)} MiB waste threshold${confirmed}`
      : `${unusedLabel(g)} ${mib(g.unusedKiB)} MiB > ${mib(thresholdKiB)} MiB waste threshold${confirmed}`;
  const share = stepKiB === excessKiB ? (excessKiB > thresholdKiB ? 'in one step all the' : 'the last') : stepKiB < wholeOrHalfKiB ? `${mib(stepKiB)} MiB (free memory + cold cache at ${options.coldReclaimMiBps} MiB/s) of the` : `${Math.round(options.reclaimFraction * 100)} % of the`;
  return {
    reclaiming: true,
    wasteSeen: false,
    proposal: {
      targetKiB: g.actualKiB - stepKiB,
      why: `${start}, taking back ${share} ${mib(excessKiB)} MiB above its need (${need} MiB)${figures}`,
    },
  };
}

/**
 * Free memory beyond what the guest's floor, noise allowance and growth need: costs nothing to take.
 * Except while the guest is reading from disk: its reads are filling that memory with cache that may
 * turn out hot, so it is taken at the cold-cache pace too.
 */
function freeAboveNeedKiB(g: GuestAssessment, options: MemoryOptions): number {
  if ((g.cache?.readKiBps ?? 0) > options.refaultMiBps * 1024) return 0;
  return Math.max(0, (g.cache?.freeKiB ?? g.unusedKiB) - g.floorKiB - g.noiseAllowanceKiB - g.growthKiBps * g.horizonSeconds);
}
