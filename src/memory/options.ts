import { mibToKiB } from '../ground/units.js';
import { UsageError } from '../ground/errors.js';

// Every knob of the memory coordinator, with its default. docs/memory-coordinator.md explains each.

export interface MemoryOptions {
  /** Headroom kept free above what a guest uses: never balloon below used + floor. */
  floorMiB: number;
  /** Per-domain floors, by domain name, overriding floorMiB. */
  floorsMiB: Record<string, number>;
  /** No balloon target is ever set below this, whatever the guest uses. */
  minActualMiB: number;
  /** Host memory that is never given away: increases stop at host free − reserve. */
  reserveMiB: number;
  /** Shares by domain name (default 1): how a scarce host divides memory among starving guests. */
  weights: Record<string, number>;
  /** Grow when the unused memory predicted for the end of the horizon falls below starvationRatio × floor. */
  starvationRatio: number;
  /** Start reclaiming when unused memory exceeds wasteRatio × floor. */
  wasteRatio: number;
  /** Share of the excess above used + floor taken back per reclaim step. */
  reclaimFraction: number;
  /** Changes smaller than this are not worth a balloon operation. */
  minChangeMiB: number;
  /** Balloon statistics period requested from every guest, seconds. */
  statsPeriodSeconds: number;
  /** Request the statistics again if they have not appeared after this long, seconds. */
  statsRetrySeconds: number;
  /** Stats-period requests per guest before it is reported as having no statistics. */
  statsRequestAttempts: number;
  /** A reading whose last-update has not advanced for this long (and at least 3 intervals + one stats period) has stopped. */
  staleAfterSeconds: number;
  /** Time the balloon needs to carry out a new target, seconds (part of the growth horizon). */
  balloonLagSeconds: number;
  /** Fresh readings the growth estimate looks back over. */
  growthWindow: number;
  /** Growth estimates below this are treated as noise, MiB/s. */
  minGrowthMiBps: number;
  /** Readings the noise estimate looks back over. */
  noiseWindow: number;
  /** A growth rate, or a waste seen in one reading, counts only beyond this many σ of the guest's noise. */
  noiseSigmas: number;
  /** A guest is sized for its level of use plus this many σ of its noise (its usual peaks). */
  noiseHeadroomSigmas: number;
  /** Weight of the newest reading in the level of use (noise.ts). */
  levelSmoothing: number;
  /** Cold page cache taken back per second at most, MiB/s, beside free memory (cache.ts). */
  coldReclaimMiBps: number;
  /** How long after a shrink into a guest's page cache its reads are watched for refaults, seconds (refaults.ts). */
  refaultWatchSeconds: number;
  /** A rise of the guest's disk reads above their quietest rate since the shrink by more than this is a refault, MiB/s. */
  refaultMiBps: number;
  /** A hot-cache size learned from a refault is kept this long, then tested again (unless the host has room), seconds. */
  hotMemorySeconds: number;
  /** How long shrinks into a guest's page cache and its read bursts are remembered for refaults on a long period, seconds (read-bursts.ts). */
  refaultHorizonSeconds: number;
  /** The host has room when its free memory is this far above the reserve and no guest starved within the refault watch, MiB. */
  roomMiB: number;
  /** virtio-mem: memory that has stayed unneeded this long is unplugged (lever.ts), seconds. */
  unplugAfterSeconds: number;
}

export const defaultMemoryOptions: MemoryOptions = {
  floorMiB: 200,
  floorsMiB: {},
  minActualMiB: 200,
  reserveMiB: 1024,
  weights: {},
  starvationRatio: 0.5,
  wasteRatio: 1.5,
  reclaimFraction: 0.5,
  minChangeMiB: 16,
  statsPeriodSeconds: 1,
  statsRetrySeconds: 10,
  statsRequestAttempts: 3,
  staleAfterSeconds: 5,
  balloonLagSeconds: 1,
  growthWindow: 5,
  minGrowthMiBps: 1,
  noiseWindow: 60,
  noiseSigmas: 3,
  noiseHeadroomSigmas: 2,
  levelSmoothing: 0.25,
  coldReclaimMiBps: 16,
  refaultWatchSeconds: 30,
  refaultMiBps: 2,
  hotMemorySeconds: 1800,
  refaultHorizonSeconds: 600,
  roomMiB: 1024,
  unplugAfterSeconds: 30,
};

export function floorKiBOf(domain: string, options: MemoryOptions): number {
  return mibToKiB(options.floorsMiB[domain] ?? options.floorMiB);
}

export function weightOf(domain: string, options: MemoryOptions): number {
  const weight = options.weights[domain] ?? 1;
  return weight > 0 ? weight : 1;
}

/** Seconds without a new reading after which a guest's statistics count as stopped. */
export function staleAfterSecondsFor(options: MemoryOptions, intervalSeconds: number): number {
  return Math.max(options.staleAfterSeconds, 3 * intervalSeconds + options.statsPeriodSeconds);
}

const FRACTIONS: readonly (keyof MemoryOptions)[] = ['starvationRatio', 'reclaimFraction', 'levelSmoothing'];
const POSITIVE_INTEGERS: readonly (keyof MemoryOptions)[] = ['statsRequestAttempts', 'growthWindow', 'noiseWindow'];

/** Throws UsageError naming the first option that cannot work (negative sizes, fractions outside (0, 1], ...). */
export function validateMemoryOptions(o: MemoryOptions): void {
  for (const [key, value] of Object.entries(o) as [keyof MemoryOptions, unknown][]) {
    if (key === 'floorsMiB' || key === 'weights') {
      for (const [domain, v] of Object.entries(value as Record<string, number>)) {
        if (!(Number.isFinite(v) && v >= 0)) throw new UsageError(`memory coordinator: ${key}.${domain} must be a number ≥ 0, got ${String(v)}`);
      }
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new UsageError(`memory coordinator: ${key} must be a number ≥ 0, got ${String(value)}`);
    if (FRACTIONS.includes(key) && !(value > 0 && value <= 1)) throw new UsageError(`memory coordinator: ${key} must be in (0, 1], got ${value}`);
    if (POSITIVE_INTEGERS.includes(key) && !(Number.isInteger(value) && value >= 1)) throw new UsageError(`memory coordinator: ${key} must be an integer ≥ 1, got ${value}`);
  }
  if (!(o.wasteRatio >= 1)) throw new UsageError(`memory coordinator: wasteRatio must be ≥ 1, got ${o.wasteRatio}`);
}
