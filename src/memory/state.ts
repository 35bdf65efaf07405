import type { FreshnessMemory } from './freshness.js';
import { copyGrowthMemory, type GrowthMemory } from './growth.js';
import { copyLeverMemory, type LeverMemory } from './lever.js';
import { copyNoiseMemory, type NoiseMemory } from './noise.js';
import { copyNoticeMemory, type NoticeMemory } from './notices.js';
import { copyReadBurstMemory, type ReadBurstMemory } from './read-bursts.js';
import type { ReclaimMemory } from './reclaim.js';
import { copyRefaultMemory, type RefaultMemory } from './refaults.js';
import type { StatsEnablingMemory } from './stats-enabling.js';
import type { UsageMemory } from './usage.js';

// What the coordinator remembers between intervals: plain data, safe to JSON-serialize. Each rule
// owns its slice of a guest's memory, declared (with how to copy it) in the rule's own file; a
// guest's state is their union, plus what the coordinator itself keeps between its steps.

/** What the coordinator's steps keep between intervals (coordinator.ts). */
export interface CoordinatorMemory {
  /** Last balloon target we set, while the balloon has not reached it. */
  pendingTargetKiB?: number;
  /** Balloon actual at the last few observations, oldest first (the current one last). */
  recentActualKiB: number[];
}

export interface GuestMemoryState
  extends CoordinatorMemory, NoticeMemory, StatsEnablingMemory, FreshnessMemory, UsageMemory, GrowthMemory, NoiseMemory, ReclaimMemory, RefaultMemory, ReadBurstMemory, LeverMemory {}

export interface MemoryState {
  /** By domainKey (UUID): a renamed domain keeps its history, a replaced one starts afresh. */
  guests: Record<string, GuestMemoryState>;
  /** Host time the starving guests last wanted more than the host could give (coordinator.ts). */
  anonShortAtNs?: number;
}

export function initialMemoryState(): MemoryState {
  return { guests: {} };
}

/** The state without the guests `gone` names (by domainKey): one that comes back starts afresh. */
export function forgetGuests(state: MemoryState, gone: (key: string) => boolean): MemoryState {
  return { ...state, guests: Object.fromEntries(Object.entries(state.guests).filter(([key]) => !gone(key))) };
}

export function newGuestState(): GuestMemoryState {
  return { statsRequests: 0, reported: {}, recentActualKiB: [], samples: [], reclaiming: false, noiseResiduals: [], wasteSeen: false };
}

/**
 * A deep copy of the remembered state (what structuredClone gives for this plain data, without its
 * serialisation cost: the coordinator copies the state of every guest every interval). A slice that holds a
 * nested object or array copies it in its own clone function, called from cloneGuestState.
 */
export function cloneMemoryState(state: MemoryState): MemoryState {
  return { ...state, guests: Object.fromEntries(Object.entries(state.guests).map(([name, guest]) => [name, cloneGuestState(guest)])) };
}

/** A shallow copy, then each slice copies what it holds by reference. */
function cloneGuestState(guest: GuestMemoryState): GuestMemoryState {
  const copy: GuestMemoryState = { ...guest };
  if (Array.isArray(copy.recentActualKiB)) copy.recentActualKiB = copy.recentActualKiB.slice();
  copyNoticeMemory(copy);
  copyGrowthMemory(copy);
  copyNoiseMemory(copy);
  copyRefaultMemory(copy);
  copyReadBurstMemory(copy);
  copyLeverMemory(copy);
  return copy;
}
