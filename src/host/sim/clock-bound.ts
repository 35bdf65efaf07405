// Clock-bound CPU demand (the `bursty` workload shape): a guest program that spins from the start
// of its window until the clock says the window is over — whether or not it ran meanwhile — then
// sleeps to the next period (guest/workload.c does exactly this). Beside a busy neighbour a fair
// scheduler gives it half a pCPU *while both are runnable*, and its window ends by the clock, so it
// never catches up: max-min water-filling over mean demands, which says it gets all it asks, is
// wrong for it. The physics therefore simulates scenarios with such vCPUs in short ticks
// (physics.ts), asking this module each tick how much of the tick the vCPU is runnable.
//
// The program reads the clock for its window's start only when it first runs after waking: a
// vCPU that wakes onto a pCPU someone else is using starts (and ends) its window late by the time
// it waited, so its period stretches. Two bursty vCPUs sharing a pCPU thus drift apart until their
// windows no longer overlap — as measured on real guests, where they then get all they ask.

import { uniformAt } from './random.js';
import type { WorkloadShape } from './workload.js';

export type BurstyShape = Extract<WorkloadShape, { kind: 'bursty' }>;

/** Where a clock-bound vCPU is in its periods, ns of simulated time. */
export interface BurstClock {
  periodNs: number;
  busyNs: number;
  /** The current (or next) window: runnable from startNs until endNs. */
  startNs: number;
  endNs: number;
  /** When it wakes for the window after this one. */
  nextNs: number;
  /** The current window has not yet had its first tick (its start may still move). */
  fresh: boolean;
}

/** The vCPU's first window at or after `nowNs`, its phase given or drawn from (seed, stream). */
export function startBurstClock(shape: BurstyShape, seed: number, stream: number, nowNs: number): BurstClock {
  const periodNs = Math.round(shape.periodMs * 1e6);
  const busyNs = Math.round(shape.duty * periodNs);
  const phaseNs = Math.round((shape.phaseMs ?? uniformAt(seed, stream, 0) * shape.periodMs) * 1e6) % periodNs;
  const startNs = phaseNs + Math.max(0, Math.ceil((nowNs - phaseNs) / periodNs)) * periodNs;
  return { periodNs, busyNs, startNs, endNs: startNs + busyNs, nextNs: startNs + periodNs, fresh: true };
}

/** The first start or end of a window after t0 (where the vCPU becomes runnable or stops being so). */
export function nextWindowEdge(clock: BurstClock, t0: number): number {
  if (clock.startNs > t0) return clock.startNs;
  if (clock.endNs > t0) return clock.endNs;
  // The window is over: the next one starts at nextNs (runnableFraction moves on to it).
  return clock.nextNs > t0 ? clock.nextNs : Infinity;
}

/** How much of [t0, t1) the vCPU is runnable, 0..1 of the tick; moves on to later windows as they come. */
export function runnableFraction(clock: BurstClock, t0: number, t1: number): number {
  let ns = 0;
  while (clock.startNs < t1) {
    ns += Math.max(0, Math.min(t1, clock.endNs) - Math.max(t0, clock.startNs));
    if (clock.endNs > t1) break;
    clock.startNs = clock.nextNs;
    clock.endNs = clock.startNs + clock.busyNs;
    clock.nextNs = clock.startNs + clock.periodNs;
    clock.fresh = true;
  }
  return ns / (t1 - t0);
}

/**
 * After a tick in which a window began: the program read the clock only once it ran, so the
 * window (and the period) start later by the time it waited for a pCPU in that tick.
 */
export function settleWindowStart(clock: BurstClock, t0: number, t1: number, waitedNs: number): void {
  if (!clock.fresh || clock.startNs < t0 || clock.startNs >= t1) return;
  clock.fresh = false;
  if (!(waitedNs > 0)) return;
  clock.endNs += waitedNs;
  clock.nextNs += waitedNs;
}
