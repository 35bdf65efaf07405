import { neededKiB, unusedLabel, type GuestAssessment } from './assessment.js';
import type { MemoryOptions } from './options.js';
import { mib, mibPerSecond } from '../ground/units.js';
import { cacheFigures } from './cache.js';

// Rule: give memory to a starving guest, fast.
//
// A guest starves when the unused memory predicted for the end of the horizon
//   unused − growth × horizon
// falls below the starvation threshold (starvationRatio × floor; 100 MiB by default). It then gets,
// in one step, enough for the whole horizon:
//   target = used + noise allowance + floor + growth × horizon   (capped at its maximum)
// (the noise allowance and the noise test on growth are in noise.ts and growth.ts)
// so a fast consumer is never made to wait on a fixed small step. The band between this threshold
// and the waste threshold (reclaim.ts) is where nothing happens: that is what keeps it from oscillating.
// For a guest with page cache (cache.ts) `unused` is MemAvailable − hot: it is grown before its hot
// cache is dropped, but that grow has priority 'hot' while MemAvailable itself is above the threshold.

export interface GrowthProposal {
  guest: GuestAssessment;
  /** Target the guest should reach, capped at its maximum. */
  desiredKiB: number;
  /** desired − committed: the increase it asks of the host. */
  requestKiB: number;
  /** Why, with numbers, without the "from → to" part. */
  why: string;
  /**
   * 'anon': what it cannot drop is running out (served first); 'hot': it still has memory it could
   * free by dropping cache, but not without dropping cache it re-reads (served from what is left).
   */
  priority: 'anon' | 'hot';
}

export type GrowthVerdict =
  | { kind: 'fine' }
  | { kind: 'grow'; proposal: GrowthProposal }
  /** Starving, but its maximum (or a pending grow) already covers all it can get. */
  | { kind: 'covered'; why: string };

export function starvationThresholdKiB(g: GuestAssessment, options: MemoryOptions): number {
  return g.floorKiB * options.starvationRatio;
}

/**
 * A guest with a virtio-mem device is grown one step earlier: when its unused memory predicted for
 * the end of the horizon falls below its whole floor (not starvationRatio of it). What it gets
 * beyond boot + plugged comes by plugging, in blocks and through the guest's driver, and its growth
 * is often first seen at a rate its few readings understate: the plug starts ahead of the demand.
 */
export function plugThresholdKiB(g: GuestAssessment, options: MemoryOptions): number {
  return Math.max(starvationThresholdKiB(g, options), g.floorKiB);
}

export function assessStarvation(g: GuestAssessment, options: MemoryOptions, plugs = false): GrowthVerdict {
  const thresholdKiB = plugs ? plugThresholdKiB(g, options) : starvationThresholdKiB(g, options);
  const label = plugs ? 'plug threshold (its floor)' : 'starvation threshold';
  const projectedKiB = g.unusedKiB - g.growthKiBps * g.horizonSeconds;
  if (projectedKiB >= thresholdKiB) return { kind: 'fine' };
  // A guest with page cache starves (in the anonymous sense) only when MemAvailable itself runs low;
  // short of its hot cache alone, it is grown from what the host has left after those.
  const priority = g.cache && projectedKiB + g.cache.hotKiB >= thresholdKiB ? 'hot' : 'anon';

  const growing = g.growthKiBps > 0;
  const trigger = g.unusedKiB < thresholdKiB
    ? `${unusedLabel(g)} ${mib(g.unusedKiB)} MiB < ${mib(thresholdKiB)} MiB ${label}`
    : `${unusedLabel(g)} ${mib(g.unusedKiB)} MiB would fall to ${mib(projectedKiB)} MiB < ${mib(thresholdKiB)} MiB ${label} within ${g.horizonSeconds} s`;
  const rate = growing ? `, growing ${mibPerSecond(g.growthKiBps)} MiB/s (${g.growthBasis})` : '';
  const formula = (g.cache ? `anon ${mib(g.anonKiB)} + hot ${mib(g.cache.hotKiB)}` : `used ${mib(g.usedKiB)}`) + (g.noiseAllowanceKiB > 0 ? ` + noise ${mib(g.noiseAllowanceKiB)}` : '') + ` + floor ${mib(g.floorKiB)}` +
    (growing ? ` + ${mibPerSecond(g.growthKiBps)} MiB/s × ${g.horizonSeconds} s` : '') + ` = ${mib(neededKiB(g))} MiB`;

  const minChangeKiB = options.minChangeMiB * 1024;
  // Within a minimum change of the maximum, go all the way: the rest would never be worth a step.
  const uncapped = Math.ceil(neededKiB(g));
  const desiredKiB = g.maximumKiB - uncapped < minChangeKiB ? g.maximumKiB : uncapped;
  const requestKiB = desiredKiB - g.committedKiB;
  if (requestKiB < minChangeKiB) {
    const cover = g.committedKiB >= g.maximumKiB
      ? `already at its maximum ${mib(g.maximumKiB)} MiB`
      : `a pending target of ${mib(g.committedKiB)} MiB already covers it`;
    return { kind: 'covered', why: `${trigger}${rate}; needs ${formula}, ${cover}` };
  }
  const capped = desiredKiB === g.maximumKiB ? `, so its maximum ${mib(g.maximumKiB)} MiB` : '';
  const figures = g.cache ? ` [${cacheFigures(g.anonKiB, g.cache)}]` : '';
  return { kind: 'grow', proposal: { guest: g, desiredKiB, requestKiB, priority, why: `${trigger}${rate}; needs ${formula}${capped}${figures}` } };
}
