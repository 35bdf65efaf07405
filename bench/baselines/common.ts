import type { Controller } from '../../src/ground/controller.js';
import type { HostObservation, DomainObservation } from '../../src/ground/hypervisor.js';
import type { Action, SetMemoryAction, SetStatsPeriodAction } from '../../src/ground/actions.js';
import type { TraceMemory } from '../../src/ground/trace-record.js';
import type { BaselineOptions } from './options.js';

// What the baselines share: statistics enabled once per domain at first sight (as vdsm and Proxmox
// do when a guest starts; a boot-time report may already be there, frozen), the
// trace part the scorer reads, and a clamped set-memory action with its reason.

/** Samples kept per guest, one per interval (MOM's `sample-history-length` default). */
export const SAMPLE_HISTORY = 10;

export interface BaselineState {
  /** Interval counter, for policies that act every N seconds. */
  tick: number;
  statsRequested: Record<string, boolean>;
  /** The last SAMPLE_HISTORY (actual, unused) readings per domain UUID, one per interval, newest last (MOM averages them). */
  samples: Record<string, { actualKiB: number; unusedKiB: number }[]>;
}

export function initialBaselineState(): BaselineState {
  return { tick: 0, statsRequested: {}, samples: {} };
}

export function enableStats(obs: HostObservation, state: BaselineState): SetStatsPeriodAction[] {
  const actions: SetStatsPeriodAction[] = [];
  for (const d of obs.domains) {
    if (!d.balloon || state.statsRequested[d.uuid]) continue;
    state.statsRequested[d.uuid] = true;
    actions.push({ kind: 'set-stats-period', domain: { name: d.name, uuid: d.uuid }, seconds: 1, reason: 'enable balloon statistics' });
  }
  return actions;
}

export function setMemory(d: DomainObservation, targetKiB: number, minKiB: number, reason: string): SetMemoryAction | undefined {
  const b = d.balloon!;
  const target = Math.round(Math.min(b.maximumKiB, Math.max(minKiB, targetKiB)));
  if (Math.abs(target - b.currentKiB) < 1024) return undefined;
  return { kind: 'set-memory', domain: { name: d.name, uuid: d.uuid }, fromKiB: b.currentKiB, targetKiB: target, reason: `${reason}: ${Math.round(b.currentKiB / 1024)} → ${Math.round(target / 1024)} MiB` };
}

export function traceMemory(obs: HostObservation, floorKiB: (name: string) => number, reserveKiB: number): TraceMemory {
  return {
    guests: obs.domains.filter((d) => d.balloon && (d.state === 'running' || d.state === 'blocked')).map((d) => {
      const b = d.balloon!;
      return {
        domain: d.name,
        actualKiB: b.currentKiB,
        maximumKiB: b.maximumKiB,
        floorKiB: floorKiB(d.name),
        fresh: b.unusedKiB !== undefined,
        ...(b.rssKiB !== undefined && { rssKiB: b.rssKiB }),
        ...(b.unusedKiB !== undefined && { unusedKiB: b.unusedKiB, usedKiB: Math.max(0, b.currentKiB - b.unusedKiB) }),
      };
    }),
    hostFreeKiB: obs.host.memoryFreeKiB,
    reserveKiB,
  };
}

/**
 * Host free memory as a policy reading the real host's /proc/meminfo sees it (MemFree + Cached, or
 * MemAvailable): memory a guest's balloon allows but the guest never touched is not taken on a real
 * host, while the simulated host counts every guest's whole balloon as taken. So: the simulated free
 * memory plus each guest's balloon above its resident set.
 */
export function hostFreeAsReadKiB(obs: HostObservation): number {
  const untouched = running(obs).reduce((sum, d) => sum + Math.max(0, d.balloon!.currentKiB - (d.balloon!.rssKiB ?? d.balloon!.currentKiB)), 0);
  return Math.min(obs.host.memoryTotalKiB, obs.host.memoryFreeKiB + untouched);
}

export function running(obs: HostObservation): DomainObservation[] {
  return obs.domains.filter((d) => d.balloon && (d.state === 'running' || d.state === 'blocked'));
}

export type BaselineRunOptions = BaselineOptions & { intervalSeconds: number };
export type BaselineController = Controller<BaselineRunOptions, BaselineState, HostObservation, TraceMemory>;

/**
 * A baseline as a controller: statistics enabled at first sight every interval, `policy` run every
 * `periodSeconds` (from the first interval on; none: never), the trace part the scorer reads.
 */
export function baselineController(
  title: string,
  periodSeconds?: number,
  policy?: (obs: HostObservation, options: BaselineRunOptions, state: BaselineState) => Action[],
): BaselineController {
  return {
    kind: 'memory',
    title,
    defaultOptions: () => ({ floorsKiB: {}, reserveKiB: 0, minKiB: {}, intervalSeconds: 2 }),
    validateOptions: () => {},
    initialState: initialBaselineState,
    measure: ({ current }) => current,
    decide(obs, state, options) {
      const next: BaselineState = {
        tick: state.tick + 1,
        statsRequested: { ...state.statsRequested },
        samples: Object.fromEntries(Object.entries(state.samples).map(([k, v]) => [k, v.slice()])),
      };
      for (const d of running(obs)) {
        const b = d.balloon!;
        if (b.unusedKiB !== undefined) next.samples[d.uuid] = [...(next.samples[d.uuid] ?? []), { actualKiB: b.currentKiB, unusedKiB: b.unusedKiB }].slice(-SAMPLE_HISTORY);
      }
      const actions: Action[] = [...enableStats(obs, next)];
      if (policy && periodSeconds !== undefined && state.tick % Math.max(1, Math.round(periodSeconds / options.intervalSeconds)) === 0) actions.push(...policy(obs, options, next));
      return { state: next, actions, notices: [], trace: traceMemory(obs, (n) => options.floorsKiB[n] ?? 200 * 1024, options.reserveKiB) };
    },
    forget: (state) => state,
    resynchronise: (state) => state,
  };
}
