import { UsageError } from '../ground/errors.js';

// The vCPU scheduler's options: what each means, the defaults, and their validation.

export interface CpuSchedulerOptions {
  /** Act only when re-pinning would lower the demand spread (busiest − idlest pCPU) by more than this (and more than noise could fake). */
  marginPoints: number;
  /** Intervals in a row the gain must exceed the requirement before acting. */
  persistIntervals: number;
  /** A gain at least this large (and at least twice the requirement) acts at once. */
  urgentGainPoints: number;
  /** Weight of the newest interval in each vCPU's smoothed demand (1 = no smoothing). */
  demandSmoothing: number;
  /** A reading this far (fraction of a pCPU) from a vCPU's smoothed demand is a real change: smoothing restarts, acting waits one interval. */
  changeThreshold: number;
  /** The required gain is at least (rangeFactor(pCPUs) + noiseSigmas) × the σ of the pCPU loads' noise. */
  noiseSigmas: number;
  /** Noise σ (fraction of a pCPU) assumed for a vCPU's demand until its jitter has been seen. */
  noisePrior: number;
  /** When acting, plans within this many points of the best spread count as equally good; the one with fewest pin changes wins. */
  tolerancePoints: number;
  /** When one-pCPU pins leave some vCPU well short of its fair share, pin groups of vCPUs to shared pCPU sets (sharing.ts); all pCPUs = release. */
  sharePcpusWhenUnfair: boolean;
  /**
   * Count other load (pCPU busy time that is not our guests', usage.ts) in placement and shares:
   * `run` does (fairness first); the drop-in `vcpu_scheduler` does not unless asked (the
   * assignment's objective: the guests' usage balanced over the pCPUs).
   */
  countOtherLoad: boolean;
  /** Out of balance also when some vCPU is predicted to get less than this fraction of its fair share (global max-min share). */
  fairShareFloor: number;
  /** Merging pCPUs into shared sets stops once every vCPU is predicted this fraction of its fair share. */
  fairShareTarget: number;
  /** A fairness move (or a shared plan instead of one-pCPU pins) must raise the worst fraction of fair share by at least this. */
  fairShareGain: number;
}

export const defaultCpuSchedulerOptions: CpuSchedulerOptions = {
  marginPoints: 10,
  persistIntervals: 2,
  urgentGainPoints: 15,
  demandSmoothing: 0.5,
  changeThreshold: 0.25,
  noiseSigmas: 3,
  noisePrior: 0.03,
  tolerancePoints: 2,
  sharePcpusWhenUnfair: true,
  countOtherLoad: true,
  fairShareFloor: 0.9,
  fairShareTarget: 0.95,
  fairShareGain: 0.05,
};

export function validateCpuSchedulerOptions(o: CpuSchedulerOptions): void {
  const nonNegative: (keyof CpuSchedulerOptions)[] = ['marginPoints', 'urgentGainPoints', 'tolerancePoints', 'fairShareGain', 'noiseSigmas', 'noisePrior'];
  for (const key of nonNegative) {
    const value = o[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new UsageError(`cpu scheduler: ${key} must be a number ≥ 0, got ${String(value)}`);
  }
  if (!(o.demandSmoothing > 0 && o.demandSmoothing <= 1)) throw new UsageError(`cpu scheduler: demandSmoothing must be in (0, 1], got ${o.demandSmoothing}`);
  if (!(o.changeThreshold > 0)) throw new UsageError(`cpu scheduler: changeThreshold must be > 0, got ${o.changeThreshold}`);
  for (const key of ['fairShareFloor', 'fairShareTarget'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1)) throw new UsageError(`cpu scheduler: ${key} must be in [0, 1], got ${o[key]}`);
  }
  if (!Number.isInteger(o.persistIntervals) || o.persistIntervals < 1) throw new UsageError(`cpu scheduler: persistIntervals must be an integer ≥ 1, got ${o.persistIntervals}`);
}
