import type { DomainObservation } from '../ground/hypervisor.js';
import { mib, mibPerSecond } from '../ground/units.js';

// Rule: notice when a shrink made a guest read back what it just dropped, and undo it.
//
// Taking a guest's page cache is only free if the guest does not read that data again. From the
// host the signs of a mistake are its disk reads: block read bytes (libvirt `block.N.rd.bytes`),
// else the balloon's major-fault counter (a page read from disk per fault). Every observation the
// read rate over the interval is kept. Every shrink that reaches into the page cache (its target is
// below anonymous use + cache + a watermark allowance, so the guest drops some) is remembered for refaultWatchSeconds
// with the balloon and the cache before it. If, within that time, the read rate rises above the
// quietest rate seen since the first of those shrinks by more than refaultMiBps, the shrinks made
// the guest read back data it still wanted: a refault. The guest gets back at once what those
// shrinks took (the balloon before the first of them), and the cache it held then is remembered as
// its hot cache, part of its need for hotMemorySeconds, so the same mistake is not made again; the
// cache it reaches while reading its set back over the next refaultWatchSeconds counts as hot too.
//
// Comparing with the quietest rate since the shrink, not with the rate just before it, is what
// tells a scan from a refault: a guest scanning files reads before and after a shrink without a
// pause, while a guest re-reading a set every few seconds reads nothing while its set is cached
// and everything after a shrink cut into it. So the reads must have gone quiet (at most
// refaultMiBps) since the shrink: a scan's rate jitters on real guests, and its rises are no refault.

/** What this rule remembers of a guest. */
export interface RefaultMemory {
  /** Cumulative bytes the guest read from disk at the last observation, and when. */
  readCounter?: { bytes: number; atNs: number };
  /** Disk read rate over each recent observation interval, KiB/s, oldest first. */
  readRates?: { atNs: number; fromNs?: number; kibps: number }[];
  /** Recent shrinks that dropped page cache: the balloon and the cache before each. */
  cacheShrinks?: { atNs: number; fromKiB: number; cacheKiB: number }[];
  /** Shrinks into the page cache within the refault horizon, summarised (kept by read-bursts.ts). */
  cacheEpisode?: { firstNs: number; lastNs: number; fromKiB: number; cacheKiB: number; lowestKiB: number };
  /** Hot page cache learned from a refault, KiB, and when. */
  hotKiB?: number;
  hotLearnedNs?: number;
}

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyRefaultMemory(copy: RefaultMemory): void {
  if (typeof copy.readCounter === 'object' && copy.readCounter !== null) copy.readCounter = { ...copy.readCounter };
  if (Array.isArray(copy.readRates)) copy.readRates = copy.readRates.map((r) => ({ ...r }));
  if (Array.isArray(copy.cacheShrinks)) copy.cacheShrinks = copy.cacheShrinks.map((r) => ({ ...r }));
  if (typeof copy.cacheEpisode === 'object' && copy.cacheEpisode !== null) copy.cacheEpisode = { ...copy.cacheEpisode };
}

const PAGE_BYTES = 4096;
/**
 * Linux starts dropping cache before its free memory runs out: kswapd keeps free memory above its
 * watermarks (tens of MiB on guests of a few GiB). A shrink that leaves less free than this beside
 * anon + cache may make the guest drop cache.
 */
export const WATERMARK_KIB = 64 * 1024;

/** Whether a balloon target makes the guest drop page cache (so its reads must be watched). */
export function dropsCache(targetKiB: number, anonKiB: number, cacheKiB: number): boolean {
  return cacheKiB > 0 && targetKiB < anonKiB + cacheKiB + WATERMARK_KIB;
}

/** Cumulative bytes read from disk: block statistics, else major faults × one page. */
export function readBytesOf(domain: DomainObservation): number | undefined {
  if (domain.blockReadBytes !== undefined) return domain.blockReadBytes;
  const faults = domain.balloon?.majorFaults;
  return faults === undefined ? undefined : faults * PAGE_BYTES;
}

/** Updates the guest's read rate from this observation's counter; keeps only what the watch needs. */
export function trackReads(guest: RefaultMemory, bytes: number | undefined, nowNs: number, watchSeconds: number): void {
  const keepFromNs = nowNs - watchSeconds * 2e9;
  guest.cacheShrinks = (guest.cacheShrinks ?? []).filter((s) => s.atNs >= nowNs - watchSeconds * 1e9);
  if (bytes === undefined) {
    delete guest.readCounter;
    guest.readRates = [];
    return;
  }
  const last = guest.readCounter;
  guest.readCounter = { bytes, atNs: nowNs };
  // A counter that went back (a reboot, a disk removed) starts over.
  if (!last || bytes < last.bytes || nowNs <= last.atNs) {
    guest.readRates = [];
    return;
  }
  const kibps = (bytes - last.bytes) / 1024 / ((nowNs - last.atNs) / 1e9);
  guest.readRates = [...(guest.readRates ?? []).filter((r) => r.atNs >= keepFromNs), { atNs: nowNs, fromNs: last.atNs, kibps }];
}

/** The guest's latest read rate, KiB/s, when known. */
export function readRateKiBps(guest: RefaultMemory): number | undefined {
  const rates = guest.readRates ?? [];
  return rates.length > 0 ? rates[rates.length - 1]!.kibps : undefined;
}

/** Remembers a shrink that makes the guest drop page cache. */
export function recordCacheShrink(guest: RefaultMemory, nowNs: number, fromKiB: number, cacheKiB: number): void {
  guest.cacheShrinks = [...(guest.cacheShrinks ?? []), { atNs: nowNs, fromKiB, cacheKiB }];
}

export interface Refault {
  /** Balloon before the shrinks that caused it: what the guest gets back. */
  giveBackToKiB: number;
  /** Hot cache learned: the cache the guest held before those shrinks. */
  hotKiB: number;
  rateKiBps: number;
  quietKiBps: number;
  why: string;
}

/**
 * Whether the guest's reads show that recent shrinks cut into cache it re-reads. When they do, the
 * watch is over (the shrinks are forgotten) and the hot size is learned into `guest`.
 */
export function detectRefault(guest: RefaultMemory, nowNs: number, refaultMiBps: number): Refault | undefined {
  const shrinks = guest.cacheShrinks ?? [];
  const rates = guest.readRates ?? [];
  if (shrinks.length === 0 || rates.length === 0) return undefined;
  const first = shrinks[0]!;
  const current = rates[rates.length - 1]!;
  if (current.atNs <= first.atNs) return undefined;
  // The quietest rate from the interval that ended with the first shrink on.
  const since = rates.filter((r) => r.atNs >= first.atNs);
  const quietKiBps = Math.min(...since.map((r) => r.kibps));
  // Reads that never went quiet since the shrink are one read going on, not data read back: a
  // scan on a real guest reads at a jittery rate (47-59 MiB/s, and 16-96 MiB/s on a loaded host,
  // under software emulation, issue #18), and a rise within it is not a refault.
  if (quietKiBps > refaultMiBps * 1024) return undefined;
  if (current.kibps - quietKiBps <= refaultMiBps * 1024) return undefined;
  // Shrinks that left the watch but belong to the same run of shrinks (read-bursts.ts) took part of
  // the same data: the guest gets back, and its hot size is, what it had before the whole run.
  const episode = guest.cacheEpisode;
  const start = episode && episode.firstNs <= first.atNs ? episode : first;
  const hotKiB = Math.max(guest.hotKiB ?? 0, start.cacheKiB);
  guest.hotKiB = hotKiB;
  guest.hotLearnedNs = nowNs;
  guest.cacheShrinks = [];
  delete guest.cacheEpisode;
  return {
    giveBackToKiB: start.fromKiB,
    hotKiB,
    rateKiBps: current.kibps,
    quietKiBps,
    why: `refault: disk reads rose to ${mibPerSecond(current.kibps)} MiB/s from ${mibPerSecond(quietKiBps)} MiB/s within ` +
      `${Math.round((nowNs - first.atNs) / 1e9)} s of shrinking into its page cache (${mib(start.cacheKiB)} MiB then): giving it back, its hot cache is ${mib(hotKiB)} MiB`,
  };
}

/**
 * For refaultWatchSeconds after a refault the guest reads its hot set back into the memory it was
 * given: the cache it reaches then is hot too (the cache before the shrink may have been caught
 * halfway through a pass).
 */
export function learnHotAfterRefault(guest: RefaultMemory, cacheKiB: number, nowNs: number, watchSeconds: number): void {
  if (guest.hotKiB === undefined || guest.hotLearnedNs === undefined) return;
  if (nowNs - guest.hotLearnedNs <= watchSeconds * 1e9) guest.hotKiB = Math.max(guest.hotKiB, cacheKiB);
}

/**
 * The hot cache still remembered, KiB: forgotten after hotMemorySeconds, to be learned afresh, unless
 * the host has room (then it is kept, its clock restarted).
 */
export function rememberedHotKiB(guest: RefaultMemory, nowNs: number, hotMemorySeconds: number, hostHasRoom = false): number {
  if (guest.hotKiB === undefined || guest.hotLearnedNs === undefined) return 0;
  if (hostHasRoom) guest.hotLearnedNs = Math.max(guest.hotLearnedNs, nowNs - hotMemorySeconds * 1e9);
  else if (nowNs - guest.hotLearnedNs > hotMemorySeconds * 1e9) {
    delete guest.hotKiB;
    delete guest.hotLearnedNs;
    return 0;
  }
  return guest.hotKiB;
}
