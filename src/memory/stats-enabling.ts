import type { DomainObservation, BalloonObservation } from '../ground/hypervisor.js';
import type { Notice, SetStatsPeriodAction } from '../ground/actions.js';
import type { MemoryOptions } from './options.js';
import type { FreshnessMemory } from './freshness.js';
import type { NoticeMemory } from './notices.js';

// Rule: a guest's balloon statistics are off until someone sets a stats period. Ask once per guest,
// again every statsRetrySeconds while they stay missing, and after statsRequestAttempts requests
// report the guest once and leave it alone. Until the guest's balloon driver has loaded, `actual`
// reads the maximum and unused/last-update are absent: that is "missing", and nothing is done.
// A guest whose statistics were enabled by someone else with a long period (readings further apart
// than one interval + two of our periods) is asked for our period too: old readings make demand
// seen late and reclaim slow. A frozen boot-time report (isBootSnapshot) counts as missing.

/** What this rule remembers of a guest: stats-period requests made so far, and when the last one was made (host ns). */
export interface StatsEnablingMemory {
  statsRequests: number;
  lastStatsRequestNs?: number;
}

type Remembered = StatsEnablingMemory & FreshnessMemory & NoticeMemory;

export interface BalloonWithStats extends BalloonObservation {
  unusedKiB: number;
  lastUpdate: number;
}

export function hasStats(balloon: BalloonObservation): balloon is BalloonWithStats {
  return balloon.unusedKiB !== undefined && balloon.lastUpdate !== undefined && balloon.lastUpdate > 0;
}

/**
 * The one report a balloon driver sends when it loads, which QEMU keeps when no stats period is
 * set: taken before the balloon inflated, it shows more free memory than the guest now has. As the
 * first reading of a guest (none accepted yet) that is not statistics but their absence. Later the
 * same sign is only the stats lag after a shrink, which the freshness and usage rules handle.
 */
export function isBootSnapshot(balloon: BalloonWithStats, guest: Remembered): boolean {
  return guest.lastUpdate === undefined && balloon.unusedKiB > balloon.currentKiB;
}

export interface StatsOutcome {
  action?: SetStatsPeriodAction;
  notice?: Notice;
}

/** Decides whether to (re)request balloon statistics for a guest whose statistics are missing. Updates `guest`. */
export function enableStats(
  domain: DomainObservation,
  guest: Remembered,
  nowNs: number,
  options: MemoryOptions,
): StatsOutcome {
  const ref = { name: domain.name, uuid: domain.uuid };
  const sinceLastS = guest.lastStatsRequestNs === undefined ? Infinity : (nowNs - guest.lastStatsRequestNs) / 1e9;
  if (sinceLastS < options.statsRetrySeconds) return {};

  if (guest.statsRequests < options.statsRequestAttempts) {
    const first = guest.statsRequests === 0;
    guest.statsRequests += 1;
    guest.lastStatsRequestNs = nowNs;
    return {
      action: {
        kind: 'set-stats-period',
        domain: ref,
        seconds: options.statsPeriodSeconds,
        reason: first
          ? `no balloon statistics yet: asking the guest for them every ${options.statsPeriodSeconds} s`
          : `still no balloon statistics ${Math.round(sinceLastS)} s after asking: asking again (request ${guest.statsRequests} of ${options.statsRequestAttempts})`,
      },
    };
  }

  if (!guest.reported.noStats) {
    guest.reported.noStats = true;
    return {
      notice: {
        domain: domain.name,
        message: `no balloon statistics after ${guest.statsRequests} requests over ${Math.round(
          (guest.statsRequests - 1) * options.statsRetrySeconds + sinceLastS,
        )} s (balloon driver not loaded?): leaving its memory as it is`,
      },
    };
  }
  return {};
}

/** Spends one request of the guest's budget, when any is left and the last one is old enough. Updates `guest`. */
function takeStatsRequest(guest: Remembered, nowNs: number, options: MemoryOptions): boolean {
  if (guest.statsRequests >= options.statsRequestAttempts) return false;
  const sinceLastS = guest.lastStatsRequestNs === undefined ? Infinity : (nowNs - guest.lastStatsRequestNs) / 1e9;
  if (sinceLastS < options.statsRetrySeconds) return false;
  guest.statsRequests += 1;
  guest.lastStatsRequestNs = nowNs;
  return true;
}

/**
 * Asks again for statistics that stopped: a guest left with a frozen boot-time report, or whose
 * period someone set to 0, looks exactly like one whose driver hung. Asking is harmless (it changes
 * no memory) and brings the first two back; the shared request budget bounds it. Updates `guest`.
 */
export function reviveStats(domain: DomainObservation, guest: Remembered, nowNs: number, options: MemoryOptions): SetStatsPeriodAction | undefined {
  if (!takeStatsRequest(guest, nowNs, options)) return undefined;
  return {
    kind: 'set-stats-period',
    domain: { name: domain.name, uuid: domain.uuid },
    seconds: options.statsPeriodSeconds,
    reason: `balloon statistics stopped: asking the guest for them every ${options.statsPeriodSeconds} s (request ${guest.statsRequests} of ${options.statsRequestAttempts}); its memory is left as it is meanwhile`,
  };
}

/** Asks for our stats period when a guest's readings arrive much more slowly than it. Updates `guest`. */
export function speedUpStats(
  domain: DomainObservation,
  guest: Remembered,
  nowNs: number,
  options: MemoryOptions,
  intervalSeconds: number,
): SetStatsPeriodAction | undefined {
  const spacing = guest.readingSpacingSeconds;
  if (spacing === undefined || spacing <= intervalSeconds + 2 * options.statsPeriodSeconds) return undefined;
  if (!takeStatsRequest(guest, nowNs, options)) return undefined;
  return {
    kind: 'set-stats-period',
    domain: { name: domain.name, uuid: domain.uuid },
    seconds: options.statsPeriodSeconds,
    reason: `balloon statistics arrive every ${spacing} s, too seldom to follow demand: asking for them every ${options.statsPeriodSeconds} s`,
  };
}
