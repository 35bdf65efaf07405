import type { TraceInterval } from '../ground/trace-record.js';

// What guests' page cache cost, from the simulator's truth (`truth.cache`); real hosts have none.
//
// Definitions (per guest, summed over the trace's intervals; totals are sums over guests):
//
// * cold cache held (MiB·s): ∫ cold cache dt. Cold cache is page cache of data the guest will not
//   read again — a finished scan, the boot-time cache, a hot set it stopped re-reading. A guest
//   whose balloon leaves it room keeps such data (Linux drops clean cache only when it needs the
//   memory), so this is memory a coordinator could have taken back for others.
// * refaults (MiB): data read from disk again after it had been dropped from the cache.
// * refaults caused by the coordinator (MiB): refaults of data that a shadow of the guest's cache
//   still held — the same reads and anonymous use, but with the largest balloon the guest has had
//   so far (src/host/sim/page-cache.ts). They would not have happened had the coordinator not
//   shrunk the guest below that size; a squeezed hot set counts on every pass it is read back.
//   Refaults the guest causes itself (its anonymous use growing, newer reads pushing out older
//   ones, a set that never fitted the size it booted with) count as refaults only.
// * read stall (s): time the guest's readers waited for the disk to read back refaulted data,
//   beyond the time the same read takes from cache.
// * peak hot and cold cache (MiB): the largest at the end of an interval.

export interface GuestCacheScore {
  domain: string;
  coldMiBSeconds: number;
  refaultMiB: number;
  coordinatorRefaultMiB: number;
  readStallSeconds: number;
  peakHotMiB: number;
  peakColdMiB: number;
}

export interface CacheScore {
  /** Intervals whose truth describes page cache. */
  intervals: number;
  coldMiBSeconds: number;
  refaultMiB: number;
  coordinatorRefaultMiB: number;
  readStallSeconds: number;
  guests: GuestCacheScore[];
}

/** The cache score, or undefined when no interval's truth says anything about page cache. */
export function scoreCache(intervals: TraceInterval[]): CacheScore | undefined {
  const byGuest = new Map<string, GuestCacheScore>();
  let counted = 0;
  for (const entry of intervals) {
    const cache = entry.truth?.cache;
    if (!cache) continue;
    counted++;
    for (const [domain, c] of Object.entries(cache)) {
      let g = byGuest.get(domain);
      if (!g) {
        g = { domain, coldMiBSeconds: 0, refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0, peakHotMiB: 0, peakColdMiB: 0 };
        byGuest.set(domain, g);
      }
      g.coldMiBSeconds += c.coldMiBSeconds;
      g.refaultMiB += c.refaultMiB;
      g.coordinatorRefaultMiB += c.coordinatorRefaultMiB;
      g.readStallSeconds += c.readStallSeconds;
      g.peakHotMiB = Math.max(g.peakHotMiB, c.hotMiB);
      g.peakColdMiB = Math.max(g.peakColdMiB, c.coldMiB);
    }
  }
  if (counted === 0) return undefined;
  const guests = [...byGuest.values()].sort((a, b) => a.domain.localeCompare(b.domain, undefined, { numeric: true }));
  const sum = (key: 'coldMiBSeconds' | 'refaultMiB' | 'coordinatorRefaultMiB' | 'readStallSeconds') => guests.reduce((a, g) => a + g[key], 0);
  return {
    intervals: counted,
    coldMiBSeconds: sum('coldMiBSeconds'),
    refaultMiB: sum('refaultMiB'),
    coordinatorRefaultMiB: sum('coordinatorRefaultMiB'),
    readStallSeconds: sum('readStallSeconds'),
    guests,
  };
}
