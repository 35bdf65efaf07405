import type { NoticeMemory } from './notices.js';

// Rule: never act twice on the same reading, and never act on a reading that has stopped.
// A guest's `last-update` must have advanced since the reading the last action on that guest was
// based on; every action (grow or shrink) consumes its reading. A guest whose `last-update` has not
// moved for staleAfter seconds has stopped reporting and is left as it is — no shrink, and no grow
// either: its last reading was already acted on (or needed nothing), and a guest that stopped
// reporting may be hung or rebooting, so memory given to it on old numbers may be memory wasted
// while other guests need it.

/** What this rule remembers of a guest. */
export interface FreshnessMemory {
  /** Last `last-update` seen, and the host time it was first seen. */
  lastUpdate?: number;
  lastUpdateSeenNs?: number;
  /** Seconds between the last two distinct `last-update` values: how often readings really arrive. */
  readingSpacingSeconds?: number;
  /** `last-update` of the reading the last action on this guest was based on. */
  actedOnUpdate?: number;
}

export interface Freshness {
  /** `last-update` changed since the previous observation: a new reading to learn from. */
  newReading: boolean;
  /** No action has used this reading yet, and it has not stopped: the guest may be acted on. */
  actionable: boolean;
  /** `last-update` has not moved for staleAfterSeconds. */
  stopped: boolean;
  /** Seconds since `last-update` last moved (host time). */
  ageSeconds: number;
}

/** Tracks `last-update` in `guest` and says whether this reading may be acted on. */
export function assessFreshness(
  guest: FreshnessMemory & NoticeMemory,
  lastUpdate: number,
  nowNs: number,
  staleAfterSeconds: number,
): Freshness {
  const newReading = guest.lastUpdate !== lastUpdate;
  if (newReading) {
    if (guest.lastUpdate !== undefined && lastUpdate > guest.lastUpdate) guest.readingSpacingSeconds = lastUpdate - guest.lastUpdate;
    guest.lastUpdate = lastUpdate;
    guest.lastUpdateSeenNs = nowNs;
    guest.reported.statsStopped = false;
  }
  const ageSeconds = (nowNs - (guest.lastUpdateSeenNs ?? nowNs)) / 1e9;
  const stopped = ageSeconds >= staleAfterSeconds;
  const actionable = !stopped && guest.actedOnUpdate !== lastUpdate;
  return { newReading, actionable, stopped, ageSeconds };
}

/** Records that an action was based on the reading with this `last-update`. */
export function markActedOn(guest: FreshnessMemory & NoticeMemory, lastUpdate: number): void {
  guest.actedOnUpdate = lastUpdate;
}
