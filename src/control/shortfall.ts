import type { HostObservation } from '../ground/hypervisor.js';
import type { TraceMemory, TraceRelief, TraceShortfall } from '../ground/trace-record.js';
import type { Notice } from '../ground/actions.js';

// Shortfall: what the host cannot give its guests, said where a fleet engine (OpenStack Watcher,
// the Kubernetes descheduler, an operator) can act on it. virtbalance never moves a guest to
// another host; it says how much is missing and which guest moved elsewhere would relieve it most.
// docs/fleet.md has the definitions; the metrics and rules are in src/web/metrics.ts and
// deploy/prometheus/virtbalance-fleet.rules.yml.

/** A shortfall that has lasted this long is said once in the log (and once when it ends). */
export const SHORTFALL_NOTICE_MS = 180_000;

const KIB_PER_MIB = 1024;

export interface ShortfallState {
  cpuSinceMs?: number;
  memorySinceMs?: number;
  cpuNoticed?: boolean;
  memoryNoticed?: boolean;
}

/**
 * Each guest's CPU demand over the window from `previous` to `current` (one connection): Σ over its
 * vCPUs of (Δ run time + Δ wait time) / Δt, in pCPUs. Empty without a usable window.
 */
export function guestCpuDemand(previous: HostObservation | undefined, current: HostObservation): Map<string, number> {
  const demand = new Map<string, number>();
  if (!previous || previous.connection !== current.connection) return demand;
  const elapsedNs = current.timeNs - previous.timeNs;
  if (!(elapsedNs > 0)) return demand;
  const before = new Map(previous.domains.map((d) => [d.uuid, d]));
  for (const d of current.domains) {
    const b = before.get(d.uuid);
    if (!b) continue;
    let ns = 0;
    for (const v of d.vcpus) {
      const bv = b.vcpus.find((x) => x.index === v.index);
      if (!bv) continue;
      ns += Math.max(0, v.timeNs - bv.timeNs) + (v.delayNs !== undefined && bv.delayNs !== undefined ? Math.max(0, v.delayNs - bv.delayNs) : 0);
    }
    demand.set(d.uuid, ns / elapsedNs);
  }
  return demand;
}

/** A guest's memory need, KiB: what it uses (less cold page cache where it reports MemAvailable) plus its floor; what it holds without statistics. */
export function guestMemoryNeedKiB(g: TraceMemory['guests'][number]): number {
  if (g.anonKiB !== undefined) return g.anonKiB + Math.min(g.hotKiB ?? 0, g.cacheKiB ?? 0) + g.floorKiB;
  if (g.usedKiB !== undefined) return g.usedKiB + g.floorKiB;
  return g.actualKiB;
}

/**
 * The guest to move: the smallest whose demand covers the whole shortfall (the least moved for all
 * of it), else the largest. undefined without a shortfall or a candidate.
 */
export function reliefCandidate(short: number, demands: readonly { domain: string; uuid: string; demand: number }[]): TraceRelief | undefined {
  if (!(short > 0) || demands.length === 0) return undefined;
  const covering = demands.filter((d) => d.demand >= short).sort((a, b) => a.demand - b.demand || a.domain.localeCompare(b.domain));
  const pick = covering[0] ?? [...demands].sort((a, b) => b.demand - a.demand || a.domain.localeCompare(b.domain))[0]!;
  return { domain: pick.domain, uuid: pick.uuid, amount: Math.min(pick.demand, short) };
}

/**
 * The interval's shortfall and its notices: `memory` is the memory coordinator's part of the record
 * (floors, what guests use, the reserve) when it runs; without it a guest's need is what it uses by
 * its balloon statistics (or holds) and the reserve is `reserveKiB`.
 */
export function measureShortfall(
  previous: HostObservation | undefined,
  current: HostObservation,
  memory: TraceMemory | undefined,
  reserveKiB: number,
  state: ShortfallState,
  timeMs: number,
): { shortfall: TraceShortfall; state: ShortfallState; notices: Notice[] } {
  const cpu = guestCpuDemand(previous, current);
  const byName = new Map(current.domains.map((d) => [d.name, d]));
  const cpuDemands = current.domains.filter((d) => cpu.has(d.uuid)).map((d) => ({ domain: d.name, uuid: d.uuid, demand: cpu.get(d.uuid)! }));
  const cpuDemand = cpu.size > 0 || (previous && current.domains.length === 0) ? cpuDemands.reduce((s, d) => s + d.demand, 0) : undefined;
  const pcpus = current.host.pcpus;
  const cpuShort = cpuDemand === undefined ? 0 : Math.max(0, cpuDemand - pcpus);

  let needs: { domain: string; uuid: string; demand: number }[];
  let heldKiB: number;
  const reserve = memory?.reserveKiB ?? reserveKiB;
  const freeKiB = memory?.hostFreeKiB ?? current.host.memoryFreeKiB;
  if (memory) {
    needs = memory.guests.map((g) => ({ domain: g.domain, uuid: byName.get(g.domain)?.uuid ?? '', demand: guestMemoryNeedKiB(g) }));
    heldKiB = memory.guests.reduce((s, g) => s + g.actualKiB, 0);
  } else {
    const withBalloon = current.domains.filter((d) => d.balloon);
    needs = withBalloon.map((d) => ({ domain: d.name, uuid: d.uuid, demand: d.balloon!.unusedKiB !== undefined ? Math.max(0, d.balloon!.currentKiB - d.balloon!.unusedKiB) : d.balloon!.currentKiB }));
    heldKiB = withBalloon.reduce((s, d) => s + d.balloon!.currentKiB, 0);
  }
  const memoryNeedKiB = needs.reduce((s, d) => s + d.demand, 0);
  const memoryCapacityKiB = Math.max(0, heldKiB + freeKiB - reserve);
  const memoryShortKiB = Math.max(0, memoryNeedKiB - memoryCapacityKiB);

  const next: ShortfallState = { ...state };
  const notices: Notice[] = [];
  // CPU is only known with a window; without one its episode carries on as it was.
  const cpuKnown = cpuDemand !== undefined;
  track('cpu', cpuKnown ? cpuShort > 0 : next.cpuSinceMs !== undefined);
  track('memory', memoryShortKiB > 0);

  const cpuRelief = reliefCandidate(cpuShort, cpuDemands);
  const memoryRelief = reliefCandidate(memoryShortKiB, needs.filter((d) => d.uuid !== ''));
  const shortfall: TraceShortfall = {
    pcpus,
    ...(cpuDemand !== undefined ? { cpuDemand } : {}),
    cpuShort,
    memoryTotalKiB: current.host.memoryTotalKiB,
    memoryCapacityKiB,
    memoryNeedKiB,
    memoryShortKiB,
    ...(cpuRelief ? { cpuRelief } : {}),
    ...(memoryRelief ? { memoryRelief } : {}),
    ...(next.cpuSinceMs !== undefined ? { cpuSinceMs: next.cpuSinceMs } : {}),
    ...(next.memorySinceMs !== undefined ? { memorySinceMs: next.memorySinceMs } : {}),
  };
  return { shortfall, state: next, notices };

  function track(resource: 'cpu' | 'memory', short: boolean): void {
    const sinceKey = resource === 'cpu' ? 'cpuSinceMs' : 'memorySinceMs';
    const noticedKey = resource === 'cpu' ? 'cpuNoticed' : 'memoryNoticed';
    if (!short) {
      if (next[noticedKey]) notices.push({ message: `${resource} shortfall over after ${minutes(timeMs - next[sinceKey]!)}: the host meets its guests' ${resource === 'cpu' ? 'CPU demand' : 'memory need'} again` });
      delete next[sinceKey];
      delete next[noticedKey];
      return;
    }
    next[sinceKey] ??= timeMs;
    if (!next[noticedKey] && timeMs - next[sinceKey]! >= SHORTFALL_NOTICE_MS) {
      next[noticedKey] = true;
      notices.push({ message: shortfallMessage(resource) });
    }
  }

  function shortfallMessage(resource: 'cpu' | 'memory'): string {
    const lasted = minutes(timeMs - (resource === 'cpu' ? next.cpuSinceMs! : next.memorySinceMs!));
    if (resource === 'cpu') {
      const relief = reliefCandidate(cpuShort, cpuDemands);
      return (
        `CPU shortfall for ${lasted}: guests want ${fmt(cpuDemand ?? 0)} pCPUs of ${pcpus} (${fmt(cpuShort)} unmet)` +
        (relief ? `; moving ${relief.domain} (${relief.uuid}, ${fmt(cpu.get(relief.uuid)!)} pCPUs) to another host would relieve ${fmt(relief.amount)}` : '') +
        ' (virtbalance moves no guest between hosts: that is the fleet\'s call)'
      );
    }
    const relief = reliefCandidate(memoryShortKiB, needs.filter((d) => d.uuid !== ''));
    return (
      `memory shortfall for ${lasted}: guests need ${mib(memoryNeedKiB)} MiB, they can have ${mib(memoryCapacityKiB)} MiB (${mib(memoryShortKiB)} MiB unmet)` +
      (relief ? `; moving ${relief.domain} (${relief.uuid}, needs ${mib(needs.find((d) => d.uuid === relief.uuid)!.demand)} MiB) to another host would relieve ${mib(relief.amount)} MiB` : '') +
      " (virtbalance moves no guest between hosts: that is the fleet's call)"
    );
  }
}

function fmt(n: number): string {
  return n.toFixed(2);
}

function mib(kib: number): string {
  return String(Math.round(kib / KIB_PER_MIB));
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
