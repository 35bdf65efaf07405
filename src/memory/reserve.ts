// Rule: never take the host below its reserve.
//
// The increases granted in one interval, added up, stay within host free − reserve − memory the
// guests have been promised but not yet touched. "Promised, not touched" is, per guest, the part of
// max(actual, a pending larger target) not resident on the host (rss): a guest may fill it at any
// moment (its page cache alone will), and host free does not show it yet. Shrinks are not counted:
// they land over seconds and only show up as host free in a later interval.

import { heldByHostKiB } from './resident.js';

export interface Commitment {
  actualKiB: number;
  /** max(actual, pending larger target). */
  committedKiB: number;
  /** Host resident set of the guest, when reported. */
  rssKiB?: number;
}

export function untouchedKiB(c: Commitment): number {
  return Math.max(0, c.committedKiB - heldByHostKiB(c.rssKiB, c.actualKiB));
}

/** Memory the coordinator may hand out this interval, KiB (negative when the host is already short). */
export function growthBudgetKiB(hostFreeKiB: number, reserveKiB: number, commitments: readonly Commitment[]): number {
  const untouched = commitments.reduce((sum, c) => sum + untouchedKiB(c), 0);
  return hostFreeKiB - reserveKiB - untouched;
}
