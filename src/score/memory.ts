import type { TraceGuestMemory, TraceInterval } from '../ground/trace-record.js';
import { scoreCache, type CacheScore } from './cache.js';
import { scoreHeld, type HeldScore } from './held.js';

// How well a run kept guests fed, the host safe, and gave back what idle guests did not use.
//
// Definitions (all per guest, per interval that carries a memory record for it):
//
// * want: what the guest needs. The simulator's truth (`truth.memoryDemandKiB`) when present;
//   else, for a guest that reports MemAvailable, its anonymous use plus the cache it keeps
//   re-reading (`anonKiB + hotKiB`: cold page cache can be dropped, so it is spare); else the
//   measured `usedKiB`; else `actualKiB - unusedKiB`. Readings that are not fresh are
//   skipped when there is no truth, since they describe an earlier moment.
// * spare = actual - want: what the guest could still hand out. With measurements this is its
//   unused memory.
// * starved: spare < starvationThreshold (the guest had less than the threshold beyond what it
//   wanted, i.e. its demand plus the threshold exceeded what it had) while actual < maximum
//   (within 1 %): more could have been given. A guest at its maximum that runs short is not
//   counted, since no coordinator can give more than the maximum.
// * growth episode ("time to meet a growing demand"): a maximal run of starved intervals; it
//   lasts from the first starved interval to the first one that is not (open if the trace ends
//   first). Intervals without a usable reading neither start nor end one.
// * reclaim episode ("time to reclaim after a load stops"): starts when the measured used
//   memory (usedKiB, else actual - unused, else the truth) falls more than reclaimDrop below the
//   highest used seen since the last episode ended and the balloon is above the band below; it
//   ends at the first interval from then on where what the host holds for the guest, actual (or
//   its resident set `rssKiB` where smaller: a guest with free page reporting gives freed memory
//   back without a balloon move), is <= (1 + reclaimTolerance) × (used + floor),
//   or where what is left above used + floor is at most reclaimTolerance of what there was to give
//   back when it started and the balloon shrinks no further (a coordinator keeping its own headroom
//   above the floor has reclaimed too). A drop in use while the balloon was and is within the band
//   is no episode. Measured use,
//   not truth, because the coordinator may not balloon below what it can see in use.
// * OOM events: the simulator's truth (`truth.oomEvents`) when the trace has any; else, on a real
//   host, the guest OOM kills the run watched for (`oomKills`, one event per killed process). A
//   trace with neither says nothing about OOM: unknown, not zero.

export interface MemoryScoreOptions {
  starvationThresholdKiB: number;
  reclaimDropKiB: number;
  /** Fraction above used + floor within which a guest counts as reclaimed. */
  reclaimTolerance: number;
}

export const defaultMemoryScoreOptions: MemoryScoreOptions = {
  starvationThresholdKiB: 100 * 1024,
  reclaimDropKiB: 100 * 1024,
  reclaimTolerance: 0.1,
};

export interface Episode {
  domain: string;
  startInterval: number;
  /** First interval at which it was over; undefined when still open at the end of the trace. */
  endInterval: number | undefined;
  intervals: number | undefined;
  seconds: number | undefined;
}

export interface EpisodeSummary {
  count: number;
  open: number;
  meanIntervals: number | undefined;
  maxIntervals: number | undefined;
  meanSeconds: number | undefined;
  maxSeconds: number | undefined;
}

export interface GuestMemoryScore {
  domain: string;
  minActualKiB: number;
  maxActualKiB: number;
  /** The largest growth of its balloon: from a low point to a later high one (none if it only shrank). */
  largestRise?: { fromKiB: number; toKiB: number };
  maximumKiB: number;
  floorKiB: number;
  starvedIntervals: number;
  /** The interval numbers in which it starved. */
  starvedAt: number[];
  oomEvents: number;
  growth: Episode[];
  reclaim: Episode[];
}

export interface MemoryScore {
  thresholdKiB: number;
  /** Intervals that carry a memory record. */
  intervals: number;
  /** Intervals in which at least one guest starved. */
  starvedIntervals: number;
  oom: {
    known: boolean;
    /** Where the count comes from: the simulator's truth, or OOM kills seen in the guests (real hosts). */
    source: 'truth' | 'guest-kills' | undefined;
    total: number;
    /** Simulator truth events; empty when the count comes from guest kills. */
    events: { domain: string; timeMs: number; demandKiB: number; actualKiB: number }[];
    /** Guest OOM kills with the time of the interval that first saw them; empty under truth. */
    kills: OomKill[];
    /** Intervals that looked for guest kills, of all intervals (for a partial watch). */
    watchedIntervals: number;
  };
  host: { minFreeKiB: number; atInterval: number; reserveKiB: number; belowReserve: boolean; intervalsBelowReserve: number } | undefined;
  growth: EpisodeSummary;
  reclaim: EpisodeSummary;
  guests: GuestMemoryScore[];
  /** Page cache held and refaulted (cache.ts); undefined without the simulator's cache truth. */
  cache: CacheScore | undefined;
  /** Host memory the guests' processes held (held.ts); undefined when the trace records no RSS. */
  held: HeldScore | undefined;
}

export interface OomKill {
  domain: string;
  process: string;
  pid: number;
  timeMs: number;
}

interface Reading {
  interval: number;
  timeMs: number;
  guest: TraceGuestMemory;
  truthWantKiB: number | undefined;
  /** The most the guest could have: its balloon's maximum, or for a guest with virtio-mem (simulator
   *  truth) boot + the device's whole size, since plugging can give it more than its balloon can. */
  ceilingKiB: number;
}

function wantKiB(r: Reading): number | undefined {
  if (r.truthWantKiB !== undefined) return r.truthWantKiB;
  if (!r.guest.fresh) return undefined;
  if (r.guest.anonKiB !== undefined) return r.guest.anonKiB + (r.guest.hotKiB ?? 0);
  if (r.guest.usedKiB !== undefined) return r.guest.usedKiB;
  if (r.guest.unusedKiB !== undefined) return r.guest.actualKiB - r.guest.unusedKiB;
  return undefined;
}

function measuredUsedKiB(r: Reading): number | undefined {
  if (r.guest.fresh && r.guest.usedKiB !== undefined) return r.guest.usedKiB;
  if (r.guest.fresh && r.guest.unusedKiB !== undefined) return r.guest.actualKiB - r.guest.unusedKiB;
  return r.truthWantKiB;
}

/** Starved (true/false), or undefined when the interval says nothing about it. */
function isStarved(r: Reading, thresholdKiB: number): boolean | undefined {
  const want = wantKiB(r);
  if (want === undefined) return undefined;
  const roomToGrow = r.guest.actualKiB < r.ceilingKiB * 0.99;
  return roomToGrow && r.guest.actualKiB - want < thresholdKiB;
}

function readingsByGuest(intervals: TraceInterval[]): Map<string, Reading[]> {
  const byGuest = new Map<string, Reading[]>();
  for (const entry of intervals) {
    for (const guest of entry.memory?.guests ?? []) {
      const list = byGuest.get(guest.domain) ?? [];
      const device = entry.truth?.memoryDevices?.[guest.domain];
      const ceilingKiB = device ? Math.max(guest.maximumKiB, device.bootKiB + device.sizeKiB) : guest.maximumKiB;
      list.push({ interval: entry.interval, timeMs: entry.timeMs, guest, truthWantKiB: entry.truth?.memoryDemandKiB[guest.domain], ceilingKiB });
      byGuest.set(guest.domain, list);
    }
  }
  return byGuest;
}

function episode(domain: string, start: Reading, end: Reading | undefined): Episode {
  return {
    domain,
    startInterval: start.interval,
    endInterval: end?.interval,
    intervals: end ? end.interval - start.interval : undefined,
    seconds: end ? (end.timeMs - start.timeMs) / 1000 : undefined,
  };
}

function growthEpisodes(domain: string, readings: Reading[], thresholdKiB: number): Episode[] {
  const episodes: Episode[] = [];
  let start: Reading | undefined;
  for (const r of readings) {
    const starved = isStarved(r, thresholdKiB);
    if (starved === undefined) continue;
    if (starved && !start) start = r;
    if (!starved && start) {
      episodes.push(episode(domain, start, r));
      start = undefined;
    }
  }
  if (start) episodes.push(episode(domain, start, undefined));
  return episodes;
}

/** What the host still holds for a guest: its balloon, or less where its resident set is smaller (free page reporting gave the rest back). */
function heldForKiB(g: TraceGuestMemory): number {
  return g.rssKiB === undefined ? g.actualKiB : Math.min(g.actualKiB, g.rssKiB);
}

function reclaimEpisodes(domain: string, readings: Reading[], options: MemoryScoreOptions): Episode[] {
  const episodes: Episode[] = [];
  let peak: number | undefined;
  let start: Reading | undefined;
  let excessAtStart = 0;
  readings.forEach((r, i) => {
    const used = measuredUsedKiB(r);
    if (used === undefined) return;
    // What the host holds for the guest: its balloon, or its resident set where smaller (free page
    // reporting gives freed memory back without a balloon move).
    const actual = heldForKiB(r.guest);
    const target = used + r.guest.floorKiB;
    const withinBand = (kib: number) => kib <= (1 + options.reclaimTolerance) * target;
    const previous = readings[i - 1];
    const before = previous ? heldForKiB(previous.guest) : undefined;
    if (!start) {
      if (peak !== undefined && used < peak - options.reclaimDropKiB) {
        // Use fell, but the balloon was and is near used + floor: nothing to give back, no episode.
        if (withinBand(actual) && (before === undefined || withinBand(before))) {
          peak = used;
          return;
        }
        start = r;
        // What there was to give back when the load stopped (the balloon may already be shrinking).
        excessAtStart = Math.max(actual, before ?? actual) - target;
        if (!withinBand(actual)) return;
      } else {
        peak = Math.max(peak ?? used, used);
        return;
      }
    }
    if (withinBand(actual) || settledNearTarget(readings, i, actual - target, excessAtStart, options.reclaimTolerance)) {
      episodes.push(episode(domain, start, r));
      start = undefined;
      peak = used;
    }
  });
  if (start) episodes.push(episode(domain, start, undefined));
  return episodes;
}

/**
 * A coordinator that keeps its own headroom above used + floor (a judged program aiming at
 * used + 250 MiB, say) has reclaimed once it has given back all but `tolerance` of what there was
 * and its balloon shrinks no further. One still shrinking has not finished.
 */
function settledNearTarget(readings: Reading[], i: number, excessKiB: number, excessAtStartKiB: number, tolerance: number): boolean {
  if (excessKiB > tolerance * excessAtStartKiB) return false;
  const actual = heldForKiB(readings[i]!.guest);
  const following = readings[i + 1];
  const next = following ? heldForKiB(following.guest) : undefined;
  return next === undefined || next >= actual * 0.99;
}

export function summarize(episodes: Episode[]): EpisodeSummary {
  const done = episodes.filter((e) => e.intervals !== undefined);
  const intervals = done.map((e) => e.intervals!);
  const seconds = done.map((e) => e.seconds!);
  const mean = (xs: number[]) => (xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    count: episodes.length,
    open: episodes.length - done.length,
    meanIntervals: mean(intervals),
    maxIntervals: intervals.length === 0 ? undefined : Math.max(...intervals),
    meanSeconds: mean(seconds),
    maxSeconds: seconds.length === 0 ? undefined : Math.max(...seconds),
  };
}

export function scoreMemory(intervals: TraceInterval[], options: MemoryScoreOptions = defaultMemoryScoreOptions): MemoryScore {
  const withMemory = intervals.filter((i) => i.memory !== undefined);
  const byGuest = readingsByGuest(withMemory);

  const starvedAt = new Set<number>();
  const fromTruth = intervals.some((i) => i.truth !== undefined);
  const watched = intervals.filter((i) => i.oomKills !== undefined);
  const fromKills = !fromTruth && watched.length > 0;
  const oomEvents = intervals.flatMap((i) => i.truth?.oomEvents ?? []);
  const kills: OomKill[] = fromKills ? watched.flatMap((i) => i.oomKills!.map((k) => ({ domain: k.domain, process: k.process, pid: k.pid, timeMs: i.timeMs }))) : [];
  const oomDomains = fromKills ? kills.map((k) => k.domain) : oomEvents.map((e) => e.domain);
  const guests: GuestMemoryScore[] = [...byGuest.entries()]
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([domain, readings]) => {
      const starvedHere: number[] = [];
      for (const r of readings) {
        if (isStarved(r, options.starvationThresholdKiB)) {
          starvedHere.push(r.interval);
          starvedAt.add(r.interval);
        }
      }
      const actuals = readings.map((r) => r.guest.actualKiB);
      const last = readings[readings.length - 1]!.guest;
      return {
        domain,
        minActualKiB: Math.min(...actuals),
        maxActualKiB: Math.max(...actuals),
        ...largestRise(actuals),
        maximumKiB: last.maximumKiB,
        floorKiB: last.floorKiB,
        starvedIntervals: starvedHere.length,
        starvedAt: starvedHere,
        oomEvents: oomDomains.filter((d) => d === domain).length,
        growth: growthEpisodes(domain, readings, options.starvationThresholdKiB),
        reclaim: reclaimEpisodes(domain, readings, options),
      };
    });

  let host: MemoryScore['host'];
  for (const entry of withMemory) {
    const m = entry.memory!;
    const below = m.hostFreeKiB < m.reserveKiB;
    if (!host) {
      host = { minFreeKiB: m.hostFreeKiB, atInterval: entry.interval, reserveKiB: m.reserveKiB, belowReserve: below, intervalsBelowReserve: below ? 1 : 0 };
      continue;
    }
    if (below) {
      host.belowReserve = true;
      host.intervalsBelowReserve++;
    }
    if (m.hostFreeKiB < host.minFreeKiB) {
      host.minFreeKiB = m.hostFreeKiB;
      host.atInterval = entry.interval;
      host.reserveKiB = m.reserveKiB;
    }
  }

  return {
    thresholdKiB: options.starvationThresholdKiB,
    intervals: withMemory.length,
    starvedIntervals: starvedAt.size,
    oom: {
      known: fromTruth || fromKills,
      source: fromTruth ? 'truth' : fromKills ? 'guest-kills' : undefined,
      total: oomDomains.length,
      events: oomEvents,
      kills,
      watchedIntervals: watched.length,
    },
    host,
    growth: summarize(guests.flatMap((g) => g.growth)),
    reclaim: summarize(guests.flatMap((g) => g.reclaim)),
    guests,
    cache: scoreCache(intervals),
    held: scoreHeld(withMemory),
  };
}

function largestRise(actuals: number[]): { largestRise?: { fromKiB: number; toKiB: number } } {
  let low = Infinity;
  let best: { fromKiB: number; toKiB: number } | undefined;
  for (const a of actuals) {
    low = Math.min(low, a);
    if (a > low && (!best || a - low > best.toKiB - best.fromKiB)) best = { fromKiB: low, toKiB: a };
  }
  return best ? { largestRise: best } : {};
}
