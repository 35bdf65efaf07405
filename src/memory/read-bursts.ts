import { mib } from '../ground/units.js';
import type { Refault, RefaultMemory } from './refaults.js';

// Rule: refaults on any horizon (issue #18).
//
// The refault watch (refaults.ts) sees a set re-read within refaultWatchSeconds of a shrink. A set
// re-read every minute or every few is taken on every pass by it: long before the next pass the
// shrink has left the watch. So every guest's disk reads are also summarised as **bursts** (runs of
// observations reading faster than refaultMiBps: start, end, MiB read), the last MAX_BURSTS within
// refaultHorizonSeconds, and the shrinks into its page cache as one **episode** (the balloon and the
// cache before the first, the lowest balloon since, the time of the last), forgotten after
// refaultHorizonSeconds without a shrink.
//
// A burst that ends after the episode began is a refault when the reads repeat, that is when
//   1. an earlier burst within the horizon, begun before the episode, read at least
//      REPEAT_FRACTION of what this one read (the data could have been read before), and
//   2. this burst read no more than the larger of TAKEN_SLACK × what the episode took and what
//      such an earlier burst read, + one watermark: data coming back, not new data. (A sequential
//      re-read of a set the shrinks left partly cached reads all of it again: its first pages, read
//      back from disk, evict the cached rest, the least recently used, before it gets there.)
// A one-off scan never repeats, so it never satisfies 1 however large the shrink; a scan of more
// new data than was taken and than was read before fails 2. Two scans of different files of about
// the same size, minutes apart, read as a set re-read on that period, and are answered as one (the
// cost of telling them apart from the host, which sees bytes read, not which).
// The guest gets back the balloon before the episode; its hot size becomes the cache it held then.

/** A run of observations in which the guest read from disk faster than refaultMiBps. */
export interface ReadBurst {
  startNs: number;
  endNs: number;
  kib: number;
  /** The observation that found it over; absent while the guest is still reading. */
  closedNs?: number;
  /** Its fastest observation, KiB/s (what a re-read of it may read within one interval). */
  peakKiBps?: number;
  /** The guest still held all it read when it ended: a re-read of it could stay cached (rereadMarginKiB). */
  fits?: boolean;
}

/** What this rule remembers of a guest (beside the read rates, shrinks and hot size of refaults.ts). */
export interface ReadBurstMemory {
  /** Recent runs of disk reads, oldest first. */
  readBursts?: ReadBurst[];
  /** A hot size learned from a burst still under way, and what it replaced. */
  provisionalHot?: { burstStartNs: number; limitKiB: number; hotKiB?: number; learnedNs?: number };
}

type Remembered = ReadBurstMemory & RefaultMemory;

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyReadBurstMemory(copy: ReadBurstMemory): void {
  if (Array.isArray(copy.readBursts)) copy.readBursts = copy.readBursts.map((b) => ({ ...b }));
  if (typeof copy.provisionalHot === 'object' && copy.provisionalHot !== null) copy.provisionalHot = { ...copy.provisionalHot };
}

/** Bursts remembered per guest: with the episode, about 20 numbers of state per guest. */
export const MAX_BURSTS = 4;
const REPEAT_FRACTION = 0.75;
const TAKEN_SLACK = 1.5;
const SLACK_KIB = 64 * 1024;

/** Folds the latest read rate into the guest's bursts. */
export function trackBursts(guest: Remembered, nowNs: number, refaultMiBps: number, horizonSeconds: number): void {
  const rates = guest.readRates ?? [];
  const horizonStartNs = nowNs - horizonSeconds * 1e9;
  let bursts = (guest.readBursts ?? []).filter((b) => b.endNs >= horizonStartNs);
  const latest = rates[rates.length - 1];
  if (latest?.atNs === nowNs) {
    const last = bursts[bursts.length - 1];
    if (latest.kibps > refaultMiBps * 1024) {
      const fromNs = latest.fromNs ?? nowNs;
      const kib = (latest.kibps * (nowNs - fromNs)) / 1e9;
      if (last && last.closedNs === undefined) bursts = [...bursts.slice(0, -1), { ...last, endNs: nowNs, kib: last.kib + kib, peakKiBps: Math.max(last.peakKiBps ?? 0, latest.kibps) }];
      else bursts = [...bursts, { startNs: fromNs, endNs: nowNs, kib, peakKiBps: latest.kibps }];
    } else if (last && last.closedNs === undefined) {
      bursts = [...bursts.slice(0, -1), { ...last, closedNs: nowNs }];
    }
  }
  guest.readBursts = bursts.slice(-MAX_BURSTS);
  settleProvisional(guest);
  const episode = guest.cacheEpisode;
  if (episode && episode.lastNs < horizonStartNs) delete guest.cacheEpisode;
}

/** Remembers a shrink into the guest's page cache in its episode. */
export function recordEpisodeShrink(guest: Remembered, nowNs: number, fromKiB: number, cacheKiB: number, targetKiB: number): void {
  const episode = guest.cacheEpisode;
  guest.cacheEpisode = episode
    ? { ...episode, lastNs: nowNs, lowestKiB: Math.min(episode.lowestKiB, targetKiB) }
    : { firstNs: nowNs, lastNs: nowNs, fromKiB, cacheKiB, lowestKiB: targetKiB };
}

/** An episode the balloon has since been given back is over. */
export function endEpisodeIfGivenBack(guest: Remembered, actualKiB: number): void {
  if (guest.cacheEpisode && actualKiB >= guest.cacheEpisode.fromKiB) delete guest.cacheEpisode;
}

/**
 * Whether the burst under way (or just ended) brings back data an earlier shrink took (the rules
 * above). It is judged on its first observation, so that the memory is back while the pass still
 * reads: the hot size is learned provisionally and withdrawn if the burst goes on to read more than
 * the episode took (trackBursts). When it fires the episode is over.
 */
export function detectRepeatedReads(guest: Remembered, nowNs: number): Refault | undefined {
  const episode = guest.cacheEpisode;
  const bursts = guest.readBursts ?? [];
  const burst = bursts[bursts.length - 1];
  if (!episode || !burst || burst.endNs !== nowNs || burst.startNs < episode.firstNs) return undefined;
  const takenKiB = Math.max(0, episode.fromKiB - episode.lowestKiB);
  const earlier = bursts.slice(0, -1).filter((b) => b.startNs < episode.firstNs && b.kib >= REPEAT_FRACTION * burst.kib);
  if (earlier.length === 0) return undefined;
  const before = earlier[earlier.length - 1]!;
  // Data coming back: about what was taken, or up to all that was read before. A sequential re-read
  // of a set the shrinks left partly cached reads it all again: its first pages, read back from
  // disk, evict the cached rest (the least recently used) before it gets there.
  const limitKiB = Math.max(TAKEN_SLACK * takenKiB, ...earlier.map((b) => b.kib)) + SLACK_KIB;
  if (burst.kib > limitKiB) return undefined;
  guest.provisionalHot = {
    burstStartNs: burst.startNs,
    limitKiB,
    ...(guest.hotKiB !== undefined && { hotKiB: guest.hotKiB }),
    ...(guest.hotLearnedNs !== undefined && { learnedNs: guest.hotLearnedNs }),
  };
  const hotKiB = Math.max(guest.hotKiB ?? 0, episode.cacheKiB);
  guest.hotKiB = hotKiB;
  guest.hotLearnedNs = nowNs;
  guest.cacheShrinks = [];
  delete guest.cacheEpisode;
  const ago = (ns: number): number => Math.round((nowNs - ns) / 1e9);
  return {
    giveBackToKiB: episode.fromKiB,
    hotKiB,
    rateKiBps: burst.kib / Math.max(1, (burst.endNs - burst.startNs) / 1e9),
    quietKiBps: 0,
    why: `refault: reading again (${mib(burst.kib)} MiB so far; ${mib(before.kib)} MiB read ${ago(before.startNs)} s ago), ` +
      `${ago(episode.firstNs)} s after shrinking into its page cache (${mib(episode.cacheKiB)} MiB then, ${mib(takenKiB)} MiB taken): ` +
      `giving it back, its hot cache is ${mib(hotKiB)} MiB unless the reads go past ${mib(limitKiB)} MiB (new data, not a refault)`,
  };
}

/** A provisional hot size whose burst read more than the episode took was a scan: it is withdrawn. */
function settleProvisional(guest: Remembered): void {
  const p = guest.provisionalHot;
  if (!p) return;
  const burst = (guest.readBursts ?? []).find((b) => b.startNs === p.burstStartNs);
  if (burst && burst.kib > p.limitKiB) {
    if (p.hotKiB === undefined) delete guest.hotKiB;
    else guest.hotKiB = p.hotKiB;
    if (p.learnedNs === undefined) delete guest.hotLearnedNs;
    else guest.hotLearnedNs = p.learnedNs;
    delete guest.provisionalHot;
  } else if (!burst || burst.closedNs !== undefined) {
    delete guest.provisionalHot;
  }
}

/**
 * A burst found over is marked as fitting when the guest still held, as page cache, all it read
 * (within one watermark: MemAvailable undercounts the cache by about that much on real kernels).
 * Called with the first cache reading after it ended.
 */
export function markBurstFit(guest: ReadBurstMemory, cacheKiB: number): void {
  const bursts = guest.readBursts ?? [];
  const last = bursts[bursts.length - 1];
  if (last && last.closedNs !== undefined && last.fits === undefined) guest.readBursts = [...bursts.slice(0, -1), { ...last, fits: cacheKiB + SLACK_KIB >= last.kib }];
}

/**
 * Room, KiB, the guest is left beside its anonymous use while a read that fitted in its cache is
 * within the horizon: what it can read again in one interval at that read's fastest rate (at most
 * the read's size). The coordinator sees a re-read one observation late; what the guest reads in
 * that interval beyond the room it has evicts its own earlier pages (its least recently used) and
 * is read again on the next pass. A read that did not fit would evict itself on a re-read anyway.
 */
export function rereadMarginKiB(guest: ReadBurstMemory, intervalSeconds: number): number {
  let marginKiB = 0;
  for (const b of guest.readBursts ?? []) {
    if (b.fits) marginKiB = Math.max(marginKiB, Math.min(b.kib, (b.peakKiBps ?? 0) * intervalSeconds));
  }
  return marginKiB;
}
