// Workloads as functions of simulated time (seconds since the scenario began).
// A CPU workload gives a vCPU's demand (0..1 of a pCPU); a memory workload gives MiB.

import { normalAt } from './random.js';

export interface Noise {
  /** Standard deviation of the Gaussian added to the value (same unit as the value). */
  sd: number;
  /** The noise value is held for this many seconds, then a new one is drawn. */
  everySeconds: number;
}

export type WorkloadShape =
  | { kind: 'constant'; value: number }
  /** Value of the last point whose time has come (the first point's value before it). */
  | { kind: 'steps'; points: Array<[number, number]> }
  /** Piecewise linear between points; flat before the first and after the last. */
  | { kind: 'ramp'; points: Array<[number, number]> }
  /** `on` for `onSeconds` of every `periodSeconds`, `off` for the rest, shifted by `phaseSeconds`. */
  | { kind: 'onOff'; periodSeconds: number; onSeconds: number; on: number; off: number; phaseSeconds: number }
  /**
   * Clock-bound CPU bursts: busy from the start of a window until the clock says `duty` of the
   * period is over, whether or not it ran meanwhile, then asleep to the next period. Its demand (the
   * fraction of time it is runnable) is `duty`; what it receives depends on who it shares with
   * (clock-bound.ts). `phaseMs` undefined: drawn from the seed per vCPU.
   */
  | { kind: 'bursty'; duty: number; periodMs: number; phaseMs?: number };

export type Workload = WorkloadShape & { noise?: Noise };

/** The workload's value at time t without noise. */
export function shapeValue(shape: WorkloadShape, t: number): number {
  switch (shape.kind) {
    case 'constant':
      return shape.value;
    case 'steps': {
      let value = shape.points[0]?.[1] ?? 0;
      for (const [at, v] of shape.points) {
        if (at > t) break;
        value = v;
      }
      return value;
    }
    case 'ramp': {
      const points = shape.points;
      const first = points[0];
      if (!first) return 0;
      if (t <= first[0]) return first[1];
      for (let i = 1; i < points.length; i++) {
        const a = points[i - 1]!;
        const b = points[i]!;
        if (t < b[0]) return b[0] === a[0] ? b[1] : a[1] + ((b[1] - a[1]) * (t - a[0])) / (b[0] - a[0]);
      }
      return points[points.length - 1]![1];
    }
    case 'onOff': {
      const within = (((t - shape.phaseSeconds) % shape.periodSeconds) + shape.periodSeconds) % shape.periodSeconds;
      return within < shape.onSeconds ? shape.on : shape.off;
    }
    case 'bursty':
      return shape.duty;
  }
}

/** The workload's value at time t, noise included (the noise stream is named by `stream`). */
export function workloadValue(workload: Workload, t: number, seed: number, stream: number, extraNoiseSd = 0): number {
  let value = shapeValue(workload, t);
  const sd = Math.hypot(workload.noise?.sd ?? 0, extraNoiseSd);
  if (sd > 0) {
    const every = workload.noise?.everySeconds ?? 1;
    value += sd * normalAt(seed, stream, Math.floor(t / every + 1e-9));
  }
  return value;
}

/** Largest value the noiseless workload reaches. */
export function shapePeak(shape: WorkloadShape): number {
  switch (shape.kind) {
    case 'constant':
      return shape.value;
    case 'steps':
    case 'ramp':
      return Math.max(...shape.points.map((p) => p[1]));
    case 'onOff':
      return Math.max(shape.on, shape.off);
    case 'bursty':
      return shape.duty;
  }
}
