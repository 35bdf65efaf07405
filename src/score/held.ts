import type { TraceInterval } from '../ground/trace-record.js';

// What the host really held for the guests: their QEMU processes' resident set (`rssKiB` in the
// memory record: libvirt's `balloon.rss`, the simulator's touched pages), not their balloon sizes.
//
// * held (GiB·s): ∫ Σ rss dt. Each record's figure stands until the next record (the last one for
//   the spacing before it). Pages the host swapped out of those processes are not given back either,
//   but neither libvirt nor the simulator reports them, so they are not counted; KSM-shared pages
//   count in every guest that maps them (that is how RSS counts them).
// * peak (KiB): the largest Σ rss of one record, and per guest its largest rss.
// Traces written before RSS was recorded have none: the score then says nothing (undefined).

export interface GuestHeldScore {
  domain: string;
  gibSeconds: number;
  peakKiB: number;
}

export interface HeldScore {
  gibSeconds: number;
  peakKiB: number;
  guests: GuestHeldScore[];
}

const KIB_PER_GIB = 1024 * 1024;

/** How long record k's figures stand, s: until the next record; the last one for the spacing before it. */
function secondsStood(records: readonly TraceInterval[], k: number): number {
  const here = records[k]!;
  const next = records[k + 1];
  return (next ? next.timeMs - here.timeMs : here.timeMs - (records[k - 1] ?? here).timeMs) / 1000;
}

export function scoreHeld(intervals: TraceInterval[]): HeldScore | undefined {
  const records = intervals.filter((i) => i.memory?.guests.some((g) => g.rssKiB !== undefined));
  if (records.length === 0) return undefined;
  const byGuest = new Map<string, GuestHeldScore>();
  let gibSeconds = 0;
  let peakKiB = 0;
  for (let k = 0; k < records.length; k++) {
    const here = records[k]!;
    const seconds = secondsStood(records, k);
    let sumKiB = 0;
    for (const g of here.memory!.guests) {
      if (g.rssKiB === undefined) continue;
      sumKiB += g.rssKiB;
      const s = byGuest.get(g.domain) ?? { domain: g.domain, gibSeconds: 0, peakKiB: 0 };
      s.gibSeconds += (g.rssKiB / KIB_PER_GIB) * seconds;
      s.peakKiB = Math.max(s.peakKiB, g.rssKiB);
      byGuest.set(g.domain, s);
    }
    gibSeconds += (sumKiB / KIB_PER_GIB) * seconds;
    peakKiB = Math.max(peakKiB, sumKiB);
  }
  const guests = [...byGuest.values()].sort((a, b) => a.domain.localeCompare(b.domain, undefined, { numeric: true }));
  return { gibSeconds, peakKiB, guests };
}

/**
 * The least host memory a policy could hold on a simulated run (GiB·s), from the simulator's truth:
 * ∫ Σ (each guest's anonymous demand + its hot page cache) dt. A guest given less either runs short
 * of memory or reads its hot set back from disk, whatever the policy, since the simulator's resident
 * set is at least the pages the guest uses. Measured on a run that takes nothing from any guest (every
 * guest at its maximum), its hot cache is the whole of what it re-reads. A bound, not a policy: it
 * knows every demand in advance. Undefined on a trace without the truth (a real host).
 */
export function scoreNeededGiBSeconds(intervals: TraceInterval[]): number | undefined {
  const records = intervals.filter((i) => i.truth !== undefined);
  if (records.length === 0) return undefined;
  let gibSeconds = 0;
  for (let k = 0; k < records.length; k++) {
    const seconds = secondsStood(records, k);
    const truth = records[k]!.truth!;
    let sumKiB = 0;
    for (const [domain, demandKiB] of Object.entries(truth.memoryDemandKiB)) sumKiB += demandKiB + (truth.cache?.[domain]?.hotMiB ?? 0) * 1024;
    gibSeconds += (sumKiB / KIB_PER_GIB) * seconds;
  }
  return gibSeconds;
}
