// How much of an apparent imbalance could be noise, and when a vCPU's demand really changed.
//
// Each vCPU keeps a short history: its smoothed demand, its last raw reading, and its jitter — a
// running mean of |raw − previous raw| (each step clipped at the change threshold, so one phase
// change does not read as lasting noise). For normally distributed noise E|X₁ − X₂| = 2σ/√π, so
// σ ≈ jitter / 1.128.
//
// A reading that differs from the smoothed demand by more than the change threshold is a real
// change (a guest went busy or idle): smoothing restarts from the new reading instead of dragging
// the old level along, which would make the scheduler re-pin twice for one change.
//
// From the vCPUs' σ, each pCPU's demand load has σ_p (fragments add in variance); under pure noise
// the spread of P such loads is about rangeFactor(P)·σ (the expected range of P normal samples),
// and the gain a search can "find" in noise is at most about that. The scheduler therefore asks
// for a gain above (rangeFactor(P) + noiseSigmas)·σ_rms before it believes an imbalance.

import { PcpuSums } from './pcpu-sums.js';

export interface VcpuHistory {
  /** Smoothed demand. */
  demand: number;
  /** Last raw demand reading. */
  raw: number;
  /** Running mean of clipped |raw step|; starts from the prior as one pseudo-sample. */
  jitter: number;
  /** Raw steps seen so far. */
  steps: number;
  /** True when this interval's reading was a real change (smoothing restarted). */
  changed: boolean;
  /** True when `demand` is a single raw reading (new vCPU or just changed), not an average. */
  fresh: boolean;
}

export interface NoiseOptions {
  /** Weight of the newest reading in the smoothed demand (1 = no smoothing). */
  demandSmoothing: number;
  /** A reading this far (fraction of a pCPU) from the smoothed demand is a real change, not noise. */
  changeThreshold: number;
  /** Assumed noise σ of a vCPU's demand before any jitter has been seen. */
  noisePrior: number;
}

/** E|X₁ − X₂| / σ for normal noise. */
const meanAbsStepPerSigma = 2 / Math.sqrt(Math.PI);
/** After this many steps the jitter becomes an exponential average with this weight. */
const jitterWeight = 0.2;

export function updateHistory(previous: VcpuHistory | undefined, raw: number, o: NoiseOptions): VcpuHistory {
  if (!previous) return { demand: raw, raw, jitter: o.noisePrior * meanAbsStepPerSigma, steps: 0, changed: false, fresh: true };
  const step = Math.min(Math.abs(raw - previous.raw), o.changeThreshold);
  const weight = Math.max(jitterWeight, 1 / (previous.steps + 2));
  const jitter = (1 - weight) * previous.jitter + weight * step;
  const changed = Math.abs(raw - previous.demand) > o.changeThreshold;
  const demand = changed ? raw : o.demandSmoothing * raw + (1 - o.demandSmoothing) * previous.demand;
  return { demand, raw, jitter, steps: previous.steps + 1, changed, fresh: changed };
}

/** σ of one raw reading (the jitter's estimate), whatever the smoothing. */
export function rawSigma(h: VcpuHistory): number {
  return h.jitter / meanAbsStepPerSigma;
}

/** σ of the demand the scheduler uses: raw σ, reduced by smoothing once the value is an average. */
export function demandSigma(h: VcpuHistory, demandSmoothing: number): number {
  const raw = h.jitter / meanAbsStepPerSigma;
  return h.fresh ? raw : raw * Math.sqrt(demandSmoothing / (2 - demandSmoothing));
}

/** Expected range (max − min) of P standard normal samples, ≈ 2·√(2 ln P) − 1.1 (exact values: P=2 1.13, 4 2.06, 8 2.85, 16 3.53). */
export function rangeFactor(pcpus: number): number {
  if (pcpus <= 1) return 0;
  if (pcpus === 2) return 1.13;
  return 2 * Math.sqrt(2 * Math.log(pcpus)) - 1.1;
}

/** RMS over pCPUs of the σ of each pCPU's demand load; a vCPU on k pCPUs adds a fragment σ/k to each. */
export function loadSigmaRms(sigmas: readonly number[], affinities: readonly (readonly number[])[], pcpus: number): number {
  if (pcpus <= 0) return 0;
  const variance = new PcpuSums(pcpus);
  sigmas.forEach((sigma, i) => {
    const where = affinities[i] ?? [];
    variance.add(where, (sigma / where.length) ** 2);
  });
  return Math.sqrt(variance.values().reduce((a, b) => a + b, 0) / pcpus);
}

/** The largest gain, in points, that noise of this size plausibly fakes. */
export function noiseGainPoints(sigmaRms: number, pcpus: number, noiseSigmas: number): number {
  return 100 * sigmaRms * (rangeFactor(pcpus) + noiseSigmas);
}
