import type { UsageSample } from './growth.js';
import type { LeverState } from './lever.js';

// What the coordinator remembers between intervals: plain data, safe to JSON-serialize.

export interface GuestMemoryState {
  /** Stats-period requests made so far, and when the last one was made (host ns). */
  statsRequests: number;
  lastStatsRequestNs?: number;
  /** One-time notices already given. */
  reported: { noBalloon?: boolean; noStats?: boolean; statsStopped?: boolean; atMaximum?: boolean; hostShort?: boolean };
  /** Last `last-update` seen, and the host time it was first seen. */
  lastUpdate?: number;
  lastUpdateSeenNs?: number;
  /** Seconds between the last two distinct `last-update` values: how often readings really arrive. */
  readingSpacingSeconds?: number;
  /** `last-update` of the reading the last action on this guest was based on. */
  actedOnUpdate?: number;
  /** Last balloon target we set, while the balloon has not reached it. */
  pendingTargetKiB?: number;
  /** Balloon actual at the last few observations, oldest first (the current one last). */
  recentActualKiB: number[];
  /** actual − MemTotal (kernel reservation), learned while the balloon stood still (usage.ts). */
  reservedKiB?: number;
  /** MemFree − MemAvailable, the largest seen (the guest kernel's reserve, a lower bound; usage.ts). */
  memFreeOffsetKiB?: number;
  /** Fresh, self-consistent used-memory readings for the growth estimate. */
  samples: UsageSample[];
  /** Inside a reclaim run (entered above the waste threshold, left near used + floor). */
  reclaiming: boolean;
  /** Second differences of successive self-consistent used readings, KiB, for the noise estimate (noise.ts). */
  noiseResiduals: number[];
  /** Smoothed used memory, KiB (noise.ts). */
  levelKiB?: number;
  /** The last fresh reading showed waste, not yet confirmed by a second one (reclaim.ts). */
  wasteSeen: boolean;
  /** Cumulative bytes the guest read from disk at the last observation, and when (refaults.ts). */
  readCounter?: { bytes: number; atNs: number };
  /** Disk read rate over each recent observation interval, KiB/s, oldest first (refaults.ts). */
  readRates?: { atNs: number; fromNs?: number; kibps: number }[];
  /** Recent shrinks that dropped page cache: the balloon and the cache before each (refaults.ts). */
  cacheShrinks?: { atNs: number; fromKiB: number; cacheKiB: number }[];
  /** Hot page cache learned from a refault, KiB, and when (refaults.ts). */
  hotKiB?: number;
  hotLearnedNs?: number;
  /** Recent runs of disk reads, oldest first (read-bursts.ts). */
  readBursts?: ReadBurst[];
  /** Shrinks into the page cache within the refault horizon, summarised (read-bursts.ts). */
  cacheEpisode?: { firstNs: number; lastNs: number; fromKiB: number; cacheKiB: number; lowestKiB: number };
  /** A hot size learned from a burst still under way, and what it replaced (read-bursts.ts). */
  provisionalHot?: { burstStartNs: number; limitKiB: number; hotKiB?: number; learnedNs?: number };
  /** For a guest with a virtio-mem device: which lever, and since when (lever.ts). */
  lever?: LeverState;
}

/** A run of observations in which the guest read from disk faster than refaultMiBps. */
export interface ReadBurst {
  startNs: number;
  endNs: number;
  kib: number;
  /** The observation that found it over; absent while the guest is still reading. */
  closedNs?: number;
}

export interface MemoryState {
  /** By domainKey (UUID): a renamed domain keeps its history, a replaced one starts afresh. */
  guests: Record<string, GuestMemoryState>;
  /** Host time the starving guests last wanted more than the host could give (coordinator.ts). */
  anonShortAtNs?: number;
}

export function initialMemoryState(): MemoryState {
  return { guests: {} };
}

export function newGuestState(): GuestMemoryState {
  return { statsRequests: 0, reported: {}, recentActualKiB: [], samples: [], reclaiming: false, noiseResiduals: [], wasteSeen: false };
}

/**
 * A deep copy of the remembered state (what structuredClone gives for this plain data, without its
 * serialisation cost: the coordinator copies the state of every guest every interval). A new nested
 * object or array in GuestMemoryState must be copied in cloneGuestState too.
 */
export function cloneMemoryState(state: MemoryState): MemoryState {
  return { ...state, guests: Object.fromEntries(Object.entries(state.guests).map(([name, guest]) => [name, cloneGuestState(guest)])) };
}

function cloneGuestState(guest: GuestMemoryState): GuestMemoryState {
  const copy: GuestMemoryState = { ...guest };
  if (isPlainObject(guest.reported)) copy.reported = { ...guest.reported };
  if (Array.isArray(guest.recentActualKiB)) copy.recentActualKiB = guest.recentActualKiB.slice();
  if (Array.isArray(guest.samples)) copy.samples = guest.samples.map((s) => (isPlainObject(s) ? { ...s } : s));
  if (Array.isArray(guest.noiseResiduals)) copy.noiseResiduals = guest.noiseResiduals.slice();
  if (isPlainObject(guest.readCounter)) copy.readCounter = { ...guest.readCounter };
  if (Array.isArray(guest.readRates)) copy.readRates = guest.readRates.map((r) => ({ ...r }));
  if (Array.isArray(guest.cacheShrinks)) copy.cacheShrinks = guest.cacheShrinks.map((r) => ({ ...r }));
  if (Array.isArray(guest.readBursts)) copy.readBursts = guest.readBursts.map((b) => ({ ...b }));
  if (isPlainObject(guest.cacheEpisode)) copy.cacheEpisode = { ...guest.cacheEpisode };
  if (isPlainObject(guest.provisionalHot)) copy.provisionalHot = { ...guest.provisionalHot };
  if (isPlainObject(guest.lever)) copy.lever = { ...guest.lever };
  return copy;
}

function isPlainObject(x: unknown): x is object {
  return typeof x === 'object' && x !== null;
}
