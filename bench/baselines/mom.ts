import type { Action } from '../../src/ground/actions.js';
import type { DomainObservation } from '../../src/ground/hypervisor.js';
import { baselineController, hostFreeAsReadKiB, running, setMemory, type BaselineState } from './common.js';

// oVirt MOM's balloon policy as vdsm ships it (`static/etc/vdsm/mom.d/02-balloon.policy`), written
// here from its rules (no code copied):
//  - host free fraction = host free ÷ host total, host free being MemFree + Buffers + Cached
//    (`hostFreeAsReadKiB`: guest memory never touched counts as free, as on a real host);
//  - the guest's free target f = 0.20 × (free fraction ÷ 0.20), i.e. the free fraction itself, or
//    free fraction − 0.05 once it is at or below 5 % (the guest is made to swap);
//  - used = the average of `actual` − the average of `unused` over the last 10 readings (MOM's
//    sample history; one reading per interval here);
//  - below 20 % host free (pressure; ballooning enabled, as the engine sets it per cluster) every
//    guest is shrunk to max(guaranteed minimum, used + f × current, current × 0.95), never grown;
//  - otherwise every guest below its maximum is grown to max(current × 1.05, used + f × current),
//    capped at its maximum — on a roomy host a guest grows until most of its balloon is free;
//  - changes under 0.25 % of the current size are skipped; a guest below its guaranteed minimum is
//    set to it.
// vdsm runs the policy every 15 s; `momBaseline(1)` is the same policy at a 1 s interval.

export const MOM_DEFAULT_SECONDS = 15;
const PRESSURE = 0.2;
const CRITICAL = 0.05;
const MIN_GUEST_FREE = 0.2;
const MAX_CHANGE = 0.05;
const MIN_CHANGE = 0.0025;

/** The guest's free target for a host free fraction. */
export function guestFreeFraction(hostFree: number): number {
  return hostFree <= CRITICAL ? hostFree - 0.05 : MIN_GUEST_FREE * (hostFree / PRESSURE);
}

export interface MomGuest {
  currentKiB: number;
  maximumKiB: number;
  minimumKiB: number;
  /** Average of actual − average of unused over the recent samples. */
  usedKiB: number;
}

/** The target MOM sets for one guest, or undefined when it leaves it alone. */
export function momTarget(g: MomGuest, hostFree: number): number | undefined {
  const f = guestFreeFraction(hostFree);
  const wanted = g.usedKiB + f * g.currentKiB;
  let target: number;
  if (hostFree < PRESSURE) {
    target = Math.max(g.minimumKiB, wanted, g.currentKiB * (1 - MAX_CHANGE));
    if (target > g.currentKiB) target = g.currentKiB;
  } else {
    if (g.currentKiB >= g.maximumKiB) return g.currentKiB < g.minimumKiB ? g.minimumKiB : undefined;
    target = Math.min(g.maximumKiB, Math.max(g.currentKiB * (1 + MAX_CHANGE), wanted, g.minimumKiB));
  }
  if (g.currentKiB < g.minimumKiB) return g.minimumKiB;
  return Math.abs(target - g.currentKiB) > MIN_CHANGE * g.currentKiB ? target : undefined;
}

function averageUsedKiB(state: BaselineState, d: DomainObservation): number | undefined {
  const samples = state.samples[d.uuid] ?? [];
  if (d.balloon!.unusedKiB === undefined || samples.length === 0) return undefined;
  const avg = (f: (s: (typeof samples)[number]) => number): number => samples.reduce((sum, s) => sum + f(s), 0) / samples.length;
  return avg((s) => s.actualKiB) - avg((s) => s.unusedKiB);
}

export function momBaseline(periodSeconds: number) {
  return baselineController(`oVirt MOM balloon policy every ${periodSeconds} s (baseline)`, periodSeconds, (obs, options, state) => {
    const actions: Action[] = [];
    const hostFree = hostFreeAsReadKiB(obs) / obs.host.memoryTotalKiB;
    for (const d of running(obs)) {
      const usedKiB = averageUsedKiB(state, d);
      if (usedKiB === undefined) continue;
      const b = d.balloon!;
      const minimumKiB = options.minKiB[d.name] ?? 0;
      const target = momTarget({ currentKiB: b.currentKiB, maximumKiB: b.maximumKiB, minimumKiB, usedKiB }, hostFree);
      if (target === undefined) continue;
      const why = hostFree < PRESSURE ? `MOM: host ${Math.round(hostFree * 100)} % free < 20 %, shrinking` : `MOM: host ${Math.round(hostFree * 100)} % free, growing`;
      const a = setMemory(d, target, minimumKiB, why);
      if (a) actions.push(a);
    }
    return actions;
  });
}

export const momController = momBaseline(MOM_DEFAULT_SECONDS);
