import type { DomainRef } from '../ground/hypervisor.js';
import type { CacheView } from './cache.js';
import type { Refault } from './refaults.js';

/** Everything the grow, reclaim and sharing rules need to know about one guest with a fresh reading. */
export interface GuestAssessment {
  ref: DomainRef;
  actualKiB: number;
  maximumKiB: number;
  unusedKiB: number;
  /**
   * What the guest is sized on: the upper bound of use (usage.ts), or, when it reports MemAvailable,
   * its anonymous use + hot cache (cache.ts). unusedKiB is then MemAvailable − hot.
   */
  usedKiB: number;
  /** What it cannot drop: never balloon below this + floor. Equals usedKiB without MemAvailable. */
  anonKiB: number;
  /** Its page cache, when it reports MemAvailable. */
  cache?: CacheView;
  /** Its reads show that recent shrinks cut into cache it re-reads (refaults.ts). */
  refault?: Refault;
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
  /** The target its balloon is still moving to, from an earlier action. */
  movingToKiB?: number;
  /** The guest hands freed memory back to the host by itself (free page reporting). */
  reportsFreePages?: boolean;
  /** What the host holds for it: its QEMU process's resident set (libvirt's balloon.rss), when reported. */
  residentKiB?: number;
  /** Sized by a virtio-mem device (lever.ts unplugs its excess after a while), not by the balloon alone. */
  hasMemoryDevice?: boolean;
  /** Room beside its anonymous use that gradual reclaim leaves it for a re-read of a recent read (read-bursts.ts). */
  rereadMarginKiB?: number;
}

/** used + noise allowance + floor + growth over the horizon: what the guest should have, before bounds. */
export function neededKiB(g: GuestAssessment): number {
  return g.usedKiB + g.noiseAllowanceKiB + g.floorKiB + g.growthKiBps * g.horizonSeconds;
}

/** What unusedKiB means for this guest, for reasons. */
export function unusedLabel(g: Pick<GuestAssessment, 'cache'>): string {
  return g.cache ? 'free + cold cache' : 'unused';
}
