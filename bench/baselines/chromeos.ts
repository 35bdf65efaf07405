import type { Action } from '../../src/ground/actions.js';
import { baselineController, hostFreeAsReadKiB, running, setMemory } from './common.js';

// ChromeOS concierge's LimitCacheBalloonPolicy (vm_tools/concierge/balloon_policy.cc), written here
// from its rules (no code copied). Per guest, every interval:
//  - the guest may keep up to maxFree free (its reserve + the OOM killer's minimum free there; here
//    the floor every policy is given); the balloon is inflated by the free memory above that, or
//    deflated by what is missing: delta = guest free − target free;
//  - only when the host comes close to its margin (host available − margin + the guest's low
//    watermark < maxFree) and the guest holds more page cache than the target cache, the target free
//    drops to max(guest low watermark + host available − margin, minFree) and the cache target to
//    targetCache — and then the balloon inflates by at most the cache above that target: it pushes
//    the guest's cache down to the target, never more;
//  - small moves are skipped: with the target not lowered and the guest not short of free memory, a
//    delta that leaves guest free in the same minFree-sized step is not made.
// Guest free is MemFree (`unused`), its cache `disk_caches` (else MemAvailable − MemFree). Host
// available is the host's free memory as a real host reads it, less its reserve.

const GUEST_LWM_KIB = 64 * 1024;
const MIN_FREE_KIB = 64 * 1024;
/** How far above the reserve the host's available memory starts limiting guests' cache. */
const MARGIN_KIB = 512 * 1024;
const TARGET_CACHE_KIB = 256 * 1024;

export interface LimitCacheInput {
  guestFreeKiB: number;
  guestCacheKiB: number;
  /** Host memory available above its reserve. */
  hostAvailableKiB: number;
  maxFreeKiB: number;
}

/** How much to inflate the balloon (positive) or deflate it (negative), KiB; 0: leave it. */
export function limitCacheDelta(g: LimitCacheInput): number {
  let targetFree = g.maxFreeKiB;
  let targetCache = g.guestCacheKiB;
  const limitedFree = Math.max(GUEST_LWM_KIB + g.hostAvailableKiB - MARGIN_KIB, MIN_FREE_KIB);
  if (limitedFree < g.maxFreeKiB && g.guestCacheKiB > TARGET_CACHE_KIB) {
    targetFree = limitedFree;
    targetCache = TARGET_CACHE_KIB;
  }
  let delta = g.guestFreeKiB - targetFree;
  if (targetFree !== g.maxFreeKiB) delta = Math.min(delta, g.guestCacheKiB - targetCache);
  const sameStep = Math.floor(g.guestFreeKiB / MIN_FREE_KIB) === Math.floor((g.guestFreeKiB + delta) / MIN_FREE_KIB);
  if (targetFree === g.maxFreeKiB && g.guestFreeKiB >= g.maxFreeKiB && sameStep) return 0;
  return delta;
}

export const chromeosController = baselineController('ChromeOS concierge LimitCacheBalloonPolicy (baseline)', 0, (obs, options) => {
  const actions: Action[] = [];
  const hostAvailableKiB = hostFreeAsReadKiB(obs) - options.reserveKiB;
  for (const d of running(obs)) {
    const b = d.balloon!;
    if (b.unusedKiB === undefined) continue;
    const guestCacheKiB = b.diskCachesKiB ?? (b.usableKiB !== undefined ? Math.max(0, b.usableKiB - b.unusedKiB) : 0);
    const delta = limitCacheDelta({ guestFreeKiB: b.unusedKiB, guestCacheKiB, hostAvailableKiB, maxFreeKiB: options.floorsKiB[d.name] ?? 200 * 1024 });
    if (delta === 0) continue;
    const why = delta > 0 ? `ChromeOS LimitCache: guest free ${Math.round(b.unusedKiB / 1024)} MiB, cache ${Math.round(guestCacheKiB / 1024)} MiB, inflating` : `ChromeOS LimitCache: guest free ${Math.round(b.unusedKiB / 1024)} MiB, deflating`;
    const a = setMemory(d, b.currentKiB - delta, options.minKiB[d.name] ?? 0, why);
    if (a) actions.push(a);
  }
  return actions;
});
