import type { DomainRef } from '../ground/hypervisor.js';

/** Everything the grow, reclaim and sharing rules need to know about one guest with a fresh reading. */
export interface GuestAssessment {
  ref: DomainRef;
  actualKiB: number;
  maximumKiB: number;
  unusedKiB: number;
  /** Upper bound of use (see usage.ts). */
  usedKiB: number;
  floorKiB: number;
  minActualKiB: number;
  /** Extra use the guest is sized for because of its noise: level + headroom − reading, >= 0 (noise.ts). */
  noiseAllowanceKiB: number;
  /** σ of one used reading, KiB (noise.ts); 0 when unknown or quiet. */
  noiseSigmaKiB: number;
  /** Predicted growth of use, KiB/s (>= 0), and how it was derived. */
  growthKiBps: number;
  growthBasis: string;
  /** Seconds the memory given now must last (growth.ts). */
  horizonSeconds: number;
  /** What the guest holds or is already being given: max(actual, a pending larger target). */
  committedKiB: number;
  weight: number;
  /** Inside a reclaim run from an earlier interval. */
  reclaiming: boolean;
  /** The previous fresh reading showed waste within the noise, awaiting confirmation (reclaim.ts). */
  wasteSeen: boolean;
  /** The balloon did not move over the observations this reading may date from. */
  settled: boolean;
}

/** used + noise allowance + floor + growth over the horizon: what the guest should have, before bounds. */
export function neededKiB(g: GuestAssessment): number {
  return g.usedKiB + g.noiseAllowanceKiB + g.floorKiB + g.growthKiBps * g.horizonSeconds;
}
