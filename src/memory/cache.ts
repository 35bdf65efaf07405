import { mib, mibPerSecond } from '../ground/units.js';

// Rule: page cache is not need, unless the guest keeps re-reading it.
//
// A guest that reports MemAvailable (`usable`: free memory plus the cache it could drop) splits
// what it holds into
//   anon  = used − (usable − unused)   what it cannot drop: anonymous memory, kernel, unreclaimable slab
//   cache = usable − unused            page cache (and reclaimable slab) it could drop
//   hot   = the part of the cache it keeps re-reading, learned from refaults (refaults.ts)
//   cold  = cache − hot                data read once and not again
// Its need is anon + hot + floor (+ noise allowance and predicted growth, as for every guest):
// the coordinator grows it when that need is not covered (starvation.ts, on usable − hot instead of
// unused), and takes cold cache back like free memory above the need (reclaim.ts) but at most
// coldReclaimMiBps per second beside the free memory, in the manner of ESX's idle-memory tax:
// a bounded rate gives the refault watch time to see a mistake before it grows large.
// A guest without `usable` is sized on used = actual − unused, cache included, as before.

export interface CacheView {
  /** Page cache the guest could drop, KiB. */
  cacheKiB: number;
  /** Hot cache remembered from refaults, KiB (may exceed cacheKiB while the guest reads it back). */
  hotKiB: number;
  /** cache − hot, >= 0. */
  coldKiB: number;
  /** MemFree at the reading, KiB. */
  freeKiB: number;
  /** Latest disk read rate, KiB/s, when the host reports it. */
  readKiBps?: number;
  /** Most cold cache one shrink may take now, KiB. */
  coldStepKiB: number;
}

export function cacheView(cacheKiB: number, hotKiB: number, freeKiB: number, coldStepKiB: number, readKiBps: number | undefined): CacheView {
  return {
    cacheKiB,
    hotKiB,
    coldKiB: Math.max(0, cacheKiB - hotKiB),
    freeKiB,
    coldStepKiB,
    ...(readKiBps !== undefined && { readKiBps }),
  };
}

/** The figures every reason about a guest with page cache carries. */
export function cacheFigures(anonKiB: number, c: CacheView): string {
  const reads = c.readKiBps === undefined ? '' : `, reads ${mibPerSecond(c.readKiBps)} MiB/s`;
  return `anon ${mib(anonKiB)} MiB, cache ${mib(c.cacheKiB)} MiB (hot ${mib(c.hotKiB)}, cold ${mib(c.coldKiB)})${reads}`;
}
