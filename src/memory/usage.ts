import type { BalloonWithStats } from './stats-enabling.js';
import type { UsageSample } from './growth.js';
import { mibToKiB } from '../ground/units.js';

// Rule: what a guest "uses".
//
// The guest reports `unused` (MemFree: pages nobody holds), `usable` (MemAvailable: free plus cache
// it could drop) and `available` (MemTotal). The host reports `actual` (the balloon's current size).
// Two candidates:
//   actual − unused : everything that is not free, page cache and kernel reservations included.
//                     This is what the grader measures.
//   actual − usable : leaves out reclaimable cache; smaller.
// We use actual − unused, the larger one: ballooning to (actual − unused) + floor leaves the guest
// `floor` of truly free memory, with its cache intact, so it never has to drop cache or swap to
// satisfy the balloon and can never be pushed into its OOM killer by us. The smaller estimate would
// let us balloon into the cache, which is safe only as long as the cache really is reclaimable.
//
// The reading lags: `unused` was sampled up to one stats period ago, when the balloon may have
// been at another size. The largest and smallest `actual` seen over that window bound what the
// guest used. When the guest also reports MemTotal (`available`), the balloon size at the instant of
// the reading is known better: MemTotal shrinks with the balloon page for page, so actual − MemTotal
// (the kernel's own reservation) is a constant we learn while the balloon stands still, and
// MemTotal + reservation − unused is the grader's "used" at the instant of the reading. That estimate
// is used, kept inside the bounds; without it, the upper bound (the safe side for shrinking).

/** Tolerance for "the balloon did not move between observations". */
const SETTLED_TOLERANCE_KIB = mibToKiB(4);
/** `available` further above `actual` than this is not tracking the balloon (deflate-on-OOM accounting). */
const AVAILABLE_TOLERANCE_KIB = mibToKiB(64);

/** What this rule remembers of a guest. */
export interface UsageMemory {
  /** actual − MemTotal (kernel reservation), learned while the balloon stood still. */
  reservedKiB?: number;
  /** MemFree − MemAvailable, the largest seen (the guest kernel's reserve, a lower bound). */
  memFreeOffsetKiB?: number;
}

export interface Usage {
  /** What the guest uses, KiB, as (actual at the reading) − unused: never balloon below this + floor. */
  usedKiB: number;
  /** Bounds of usedKiB from the balloon's movement over the window. */
  usedLowKiB: number;
  usedHighKiB: number;
  /** A self-consistent reading for the growth estimate, when there is one. */
  sample?: UsageSample;
  /** actual − MemTotal, measured now (balloon standing still, MemTotal trustworthy). */
  reservedKiB?: number;
  /**
   * When the guest reports MemAvailable (`usable`): the page cache it could drop, usable − unused,
   * and what it cannot drop, used − that cache (anonymous memory, kernel, unreclaimable slab).
   */
  cacheKiB?: number;
  anonKiB?: number;
  /** MemFree − MemAvailable, the largest seen so far (never below 0): what the kernel keeps back. */
  memFreeOffsetKiB?: number;
}

/**
 * @param recentActualKiB balloon actual at the observations the reading may date from, current last.
 * @param reservedKiB actual − MemTotal learned earlier, if any.
 * @param memFreeOffsetKiB MemFree − MemAvailable learned earlier, if any (reclaimableCacheKiB).
 */
export function measureUsage(balloon: BalloonWithStats, recentActualKiB: readonly number[], reservedKiB?: number, memFreeOffsetKiB?: number): Usage {
  const actuals = recentActualKiB.length > 0 ? recentActualKiB : [balloon.currentKiB];
  const highest = Math.max(balloon.currentKiB, ...actuals);
  const lowest = Math.min(balloon.currentKiB, ...actuals);
  const usedHighKiB = Math.max(0, highest - balloon.unusedKiB);
  const usedLowKiB = Math.max(0, lowest - balloon.unusedKiB);
  const settled = highest - lowest <= SETTLED_TOLERANCE_KIB;
  const available = trustworthyAvailable(balloon, highest);
  const measuredReserved = settled && available !== undefined ? Math.max(0, balloon.currentKiB - available) : undefined;
  const reserved = measuredReserved ?? reservedKiB;
  const atReading = available !== undefined && reserved !== undefined ? available + reserved - balloon.unusedKiB : usedHighKiB;
  const usedKiB = Math.min(usedHighKiB, Math.max(usedLowKiB, atReading));
  const reclaimable = reclaimableCacheKiB(balloon, available ?? highest, memFreeOffsetKiB ?? 0);
  const cacheKiB = reclaimable?.cacheKiB;
  return {
    usedKiB,
    usedLowKiB,
    usedHighKiB,
    ...(measuredReserved !== undefined && { reservedKiB: measuredReserved }),
    ...(reclaimable && { memFreeOffsetKiB: reclaimable.offsetKiB }),
    ...(cacheKiB !== undefined && { cacheKiB, anonKiB: Math.max(0, usedKiB - cacheKiB) }),
    ...withSample(consistentSample(balloon, available, settled, cacheKiB ?? 0, cacheKiB !== undefined)),
  };
}

// MemAvailable is MemFree, less what the kernel keeps back (its reserves and watermarks: about 70 MiB
// on a lab guest booted at 2048 MiB), plus the page cache and reclaimable slab it can drop (less part
// of each). So usable − unused undercounts the droppable cache by that reserve, and a guest with
// little cache reports MemAvailable below MemFree: an idle lab guest showed MemFree 406 MiB,
// MemAvailable 337 MiB. That is a MemAvailable reading, not a missing one. MemFree − MemAvailable
// never exceeds the reserve, so the largest value seen is a lower bound of it, learned best while
// the guest holds little cache; the cache is usable − unused + that offset, so the reserve is not
// counted as anonymous use. Never more than the guest's whole page cache (`disk_caches`) when it
// reports that, and no offset on a MemAvailable of 0 (the kernel clamps it there: the sum is lost).
// A figure above what the guest has is not a MemAvailable reading: ignored.
function reclaimableCacheKiB(balloon: BalloonWithStats, totalKiB: number, learnedOffsetKiB: number): { cacheKiB: number; offsetKiB: number } | undefined {
  const usable = balloon.usableKiB;
  if (usable === undefined || !Number.isFinite(usable) || usable < 0 || usable > totalKiB + AVAILABLE_TOLERANCE_KIB) return undefined;
  // A MemAvailable of 0 may be clamped: neither learned from nor added to.
  const offsetKiB = usable > 0 ? Math.max(learnedOffsetKiB, balloon.unusedKiB - usable) : learnedOffsetKiB;
  const seenKiB = Math.max(0, usable - balloon.unusedKiB + (usable > 0 ? offsetKiB : 0));
  // Linux also keeps min(cache / 2, its low watermark) of the cache out of MemAvailable
  // (si_mem_available), so cache = seen + min(seen, low watermark). The low watermark is at most 5/6
  // of the high one (min + min/4 against min + 2 × min/4, or closer when watermark_scale_factor's
  // gap is larger), and the reserve includes the high watermark: 5/6 of the offset stands for it.
  // A lab guest full of cold cache: seen 285 MiB, offset 69, so 342 MiB, with Buffers 338 and
  // disk_caches 342 (before: 285, its anon read 53 MiB too high). Only as far as the guest's own
  // page cache figure (`disk_caches`) confirms it: a guest that does not report it keeps the
  // smaller figure, which never counts a reserve that is not a watermark as cache.
  const diskCaches = balloon.diskCachesKiB !== undefined && Number.isFinite(balloon.diskCachesKiB) && balloon.diskCachesKiB >= 0 ? balloon.diskCachesKiB : undefined;
  let cacheKiB = seenKiB + (diskCaches === undefined ? 0 : Math.min(seenKiB, usable > 0 ? (offsetKiB * 5) / 6 : 0));
  if (diskCaches !== undefined) cacheKiB = Math.min(cacheKiB, diskCaches);
  return { cacheKiB, offsetKiB };
}

function withSample(sample: UsageSample | undefined): { sample?: UsageSample } {
  return sample ? { sample } : {};
}

function trustworthyAvailable(balloon: BalloonWithStats, highestActualKiB: number): number | undefined {
  const available = balloon.availableKiB;
  if (available === undefined || available < balloon.unusedKiB || available > highestActualKiB + AVAILABLE_TOLERANCE_KIB) return undefined;
  return available;
}

// For the growth rate, the used figure must come from one instant. MemTotal − MemFree does
// (both are the guest's numbers, sampled together; MemTotal shrinks as the balloon inflates). Without
// a trustworthy MemTotal, actual − unused is used only while the balloon stood still.
// With MemAvailable the sample is what cannot be dropped (MemTotal − MemAvailable): a guest filling
// its page cache is reading files, not growing, and must not be provisioned as a consumer.
function consistentSample(balloon: BalloonWithStats, available: number | undefined, settled: boolean, cacheKiB: number, anon: boolean): UsageSample | undefined {
  if (available !== undefined) {
    return { atSeconds: balloon.lastUpdate, usedKiB: available - balloon.unusedKiB - cacheKiB, source: anon ? 'anon-available' : 'available' };
  }
  if (settled) {
    return { atSeconds: balloon.lastUpdate, usedKiB: balloon.currentKiB - balloon.unusedKiB - cacheKiB, source: anon ? 'anon-actual' : 'actual' };
  }
  return undefined;
}
