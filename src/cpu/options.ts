import { UsageError } from '../ground/errors.js';

// The vCPU scheduler's options: what each means, the defaults, and their validation.

export const cpuObjectives = ['fairness', 'balance'] as const;
export type CpuObjective = (typeof cpuObjectives)[number];

/** The objective named by a flag or config value; UsageError for anything else. */
export function parseCpuObjective(value: unknown, where: string): CpuObjective {
  if (typeof value === 'string' && (cpuObjectives as readonly string[]).includes(value)) return value as CpuObjective;
  throw new UsageError(`${where}: expected ${cpuObjectives.join(' or ')}, got ${JSON.stringify(value)}`);
}

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
  /**
   * What a placement is chosen for (docs/cpu-scheduler.md): 'fairness' (the default, `run`): the worst
   * fraction of max-min fair share first, then the pCPU usage spread; 'balance' (the drop-in
   * `vcpu_scheduler`): balanced pCPU demand with no needless moves first, among equally balanced
   * placements the fairer. They differ only where the learned model (learned-sharing.ts) says the
   * balanced placement is unfair.
   */
  objective?: CpuObjective;
  /**
   * Judge every change by what it delivers (trials.ts): after a change, measure the next
   * `trialIntervals` intervals (after `trialSettleIntervals`) and go back if the worst fraction of
   * fair share (by the objective) is worse than before by more than `trialMargin`; one trial per
   * demand epoch. False: act on predictions alone (the behaviour before trials).
   */
  trials: boolean;
  trialSettleIntervals: number;
  trialIntervals: number;
  trialMargin: number;
  /** After a trial is measured worse and reverted, no new trial for this many intervals, doubling with each loss in a row (at most 16×). */
  trialBackoffIntervals: number;
  /** A move measured worse is not tried again from the same placement to the same one for this many intervals, whatever the epoch. */
  lostTrialMemoryIntervals: number;
  /** A demand epoch ends when a vCPU's smoothed demand moves more than max(epochBandFloor, epochBandSigmas × its σ) from where it was measured under the placement in force. */
  epochBandFloor: number;
  epochBandSigmas: number;
  /** ...for this many intervals in a row. */
  epochPersistIntervals: number;
  /**
   * A demand epoch explores for this many intervals from its start: the model's trials (the first, one
   * after a relabel) begin only within them, and later only the next step of a climb proposed at once
   * (within persistIntervals + trialSettleIntervals of the step before being measured better). Later
   * the epoch is settled: the demands have not moved, so a proposal that appears only now rests on
   * noise (a low reading of the placement in force, a label flipping); only a new epoch opens new trials.
   */
  trialWindowIntervals: number;
  /**
   * Configured CPU weights by domain name (`vms.NAME.cpuWeight`; libvirt cpu_shares = weight × 1024):
   * kept on each domain as it appears, put back by --restore (weights.ts). Fair shares count them.
   */
  weights?: Record<string, number>;
  /** Domains (by name) that get pCPUs nobody else may use while they are busy (dedicated.ts). */
  dedicated?: string[];
  /** A dedicated domain is busy while its vCPUs' total demand is at least this (fraction of a pCPU). */
  dedicatedBusyDemand: number;
  /** Busy this many intervals in a row before its pCPUs are dedicated. */
  dedicatedBusyIntervals: number;
  /** Idle (below dedicatedBusyDemand) this many intervals in a row before its pCPUs are given back. */
  dedicatedIdleIntervals: number;
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
  trials: true,
  trialSettleIntervals: 1,
  trialIntervals: 3,
  trialMargin: 0.02,
  trialBackoffIntervals: 10,
  lostTrialMemoryIntervals: 150,
  epochBandFloor: 0.1,
  epochBandSigmas: 3,
  epochPersistIntervals: 2,
  trialWindowIntervals: 12,
  dedicated: [],
  dedicatedBusyDemand: 0.3,
  dedicatedBusyIntervals: 2,
  dedicatedIdleIntervals: 5,
};

export function validateCpuSchedulerOptions(o: CpuSchedulerOptions): void {
  const nonNegative: (keyof CpuSchedulerOptions)[] = ['marginPoints', 'urgentGainPoints', 'tolerancePoints', 'fairShareGain', 'noiseSigmas', 'noisePrior', 'trialMargin', 'epochBandFloor', 'epochBandSigmas', 'trialSettleIntervals'];
  for (const key of nonNegative) {
    const value = o[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new UsageError(`cpu scheduler: ${key} must be a number ≥ 0, got ${String(value)}`);
  }
  if (!(o.demandSmoothing > 0 && o.demandSmoothing <= 1)) throw new UsageError(`cpu scheduler: demandSmoothing must be in (0, 1], got ${o.demandSmoothing}`);
  if (!(o.changeThreshold > 0)) throw new UsageError(`cpu scheduler: changeThreshold must be > 0, got ${o.changeThreshold}`);
  for (const key of ['fairShareFloor', 'fairShareTarget'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1)) throw new UsageError(`cpu scheduler: ${key} must be in [0, 1], got ${o[key]}`);
  }
  if (!Number.isInteger(o.trialSettleIntervals)) throw new UsageError(`cpu scheduler: trialSettleIntervals must be an integer ≥ 0, got ${o.trialSettleIntervals}`);
  for (const key of ['persistIntervals', 'dedicatedBusyIntervals', 'dedicatedIdleIntervals', 'trialIntervals', 'epochPersistIntervals', 'trialWindowIntervals', 'trialBackoffIntervals', 'lostTrialMemoryIntervals'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new UsageError(`cpu scheduler: ${key} must be an integer ≥ 1, got ${o[key]}`);
  }
  if (!(o.dedicatedBusyDemand > 0)) throw new UsageError(`cpu scheduler: dedicatedBusyDemand must be > 0, got ${o.dedicatedBusyDemand}`);
  if (o.objective !== undefined) parseCpuObjective(o.objective, 'cpu scheduler: objective');
  if (o.weights !== undefined) {
    if (typeof o.weights !== 'object' || o.weights === null || Array.isArray(o.weights)) throw new UsageError('cpu scheduler: weights must map domain names to weights');
    for (const [name, w] of Object.entries(o.weights)) {
      if (typeof w !== 'number' || !(w >= 0.01 && w <= 256)) throw new UsageError(`cpu scheduler: weights.${name} must be a number in [0.01, 256], got ${String(w)}`);
    }
  }
  if (o.dedicated !== undefined && (!Array.isArray(o.dedicated) || o.dedicated.some((n) => typeof n !== 'string' || n === ''))) {
    throw new UsageError('cpu scheduler: dedicated must be a list of domain names');
  }
}
