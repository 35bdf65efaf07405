import type { HostObservation, DomainObservation } from '../../src/ground/hypervisor.js';
import type { SetMemoryAction, SetStatsPeriodAction } from '../../src/ground/actions.js';
import type { TraceMemory } from '../../src/ground/trace-record.js';

// What the baselines share: statistics enabled once per domain at first sight (as vdsm and Proxmox
// do when a guest starts; a boot-time report may already be there, frozen), the
// trace part the scorer reads, and a clamped set-memory action with its reason.

export interface BaselineState {
  /** Interval counter, for policies that act every N seconds. */
  tick: number;
  statsRequested: Record<string, boolean>;
}

export function initialBaselineState(): BaselineState {
  return { tick: 0, statsRequested: {} };
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
        ...(b.unusedKiB !== undefined && { unusedKiB: b.unusedKiB, usedKiB: Math.max(0, b.currentKiB - b.unusedKiB) }),
      };
    }),
    hostFreeKiB: obs.host.memoryFreeKiB,
    reserveKiB,
  };
}

export function running(obs: HostObservation): DomainObservation[] {
  return obs.domains.filter((d) => d.balloon && (d.state === 'running' || d.state === 'blocked'));
}
