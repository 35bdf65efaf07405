// Rule: tell a guest's noise from a change in its use.
//
// A guest's used memory jitters from reading to reading (allocators, page cache, the statistics
// themselves). Acting on each wiggle makes the balloon chase noise: a high reading looks like
// growth and is grown for, the next low one looks like waste and is taken back. So each guest
// carries two numbers learned from its own readings:
//
//  - σ, the noise of one reading, from the second differences of its self-consistent used readings,
//    u₃ − u₂ − r·(u₂ − u₁) with r the ratio of the spacings: zero for use that grows at any steady
//    rate, and for independent noise of σ·√(1 + (1 + r)² + r²) (σ·√6 at even spacing), so each is
//    divided by that factor. The median absolute deviation of normal values is 0.6745 of their σ,
//    so σ ≈ MAD / 0.6745. The median makes it robust: a consumer starting or stopping is one or two
//    outlying values, and a steady ramp, however long, adds nothing at all.
//    A triple whose ends lie further apart than noise moves them (u₃ − u₁ has σ·√2 for any spacing)
//    shows a change in use, and its residual is left out: a consumer that allocates in jerks is
//    growing unevenly, not noisy, and that unevenness ends with the growth. Left in, a jerky climb
//    of 30 MiB/s on a real guest read as σ 27 MiB, and after it freed everything the guest was
//    kept 2σ above its flat use until those readings left the window. For independent normal
//    noise at even spacing u₃ − u₁ is independent of the second difference, so leaving triples
//    out on it does not bias σ.
//  - the level, an exponential average of used, which restarts at a reading more than
//    LEVEL_RESTART_SIGMAS·σ away: a load that stops or starts is followed at once, not dragged.
//
// The policies then use them three ways: a growth rate counts only when it exceeds what the noise
// can fake (growth.ts); the memory a guest is sized for is its level plus noiseHeadroomSigmas·σ,
// the height of its usual peaks (never less than the reading itself); and reclaim ignores excess
// within the noise band and wants a waste condition that is not far beyond the noise confirmed
// by a second reading (reclaim.ts). With no noise (σ = 0) all of this reduces to the plain rules.

import type { UsageSample } from './growth.js';

/** MAD of normal values / their σ. */
const MAD_PER_SIGMA = 0.6745;
/** Fewer residuals than this give no estimate (σ = 0: the plain rules apply). */
const MIN_RESIDUALS = 8;
/** A reading this many σ from the level is a change in use, not noise: the level restarts there. */
const LEVEL_RESTART_SIGMAS = 4;

/** What this rule remembers of a guest. */
export interface NoiseMemory {
  /** Second differences of successive self-consistent used readings, KiB, for the noise estimate. */
  noiseResiduals: number[];
  /** Smoothed used memory, KiB. */
  levelKiB?: number;
}

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyNoiseMemory(copy: NoiseMemory): void {
  if (Array.isArray(copy.noiseResiduals)) copy.noiseResiduals = copy.noiseResiduals.slice();
}

/**
 * The noise residual of the newest of three successive readings (KiB, scaled to one reading's σ),
 * or undefined without three readings in time order, or when the first and last are more than
 * `changeKiB` apart (a change in use, see changeBeyondNoiseKiB).
 */
export function noiseResidualKiB(samples: readonly Pick<UsageSample, 'atSeconds' | 'usedKiB'>[], changeKiB = Infinity): number | undefined {
  if (samples.length < 3) return undefined;
  const [a, b, c] = samples.slice(-3) as [UsageSample, UsageSample, UsageSample];
  if (Math.abs(c.usedKiB - a.usedKiB) > changeKiB) return undefined;
  const before = b.atSeconds - a.atSeconds;
  const after = c.atSeconds - b.atSeconds;
  if (before <= 0 || after <= 0) return undefined;
  const r = after / before;
  return (c.usedKiB - b.usedKiB - r * (b.usedKiB - a.usedKiB)) / Math.sqrt(1 + (1 + r) ** 2 + r ** 2);
}

/** A guest's noise band: one reading's σ, never below `minChangeKiB` (the smallest change worth a move). */
export function noiseBandKiB(sigmaKiB: number, minChangeKiB: number): number {
  return Math.max(minChangeKiB, sigmaKiB);
}

/**
 * How far apart two readings can lie by noise alone: `sigmas` standard deviations of their
 * difference (√2 × the noise band), so a guest whose noise is not yet known, or is tiny, still
 * keeps the wiggles of its quiet use.
 */
function changeBeyondNoiseKiB(sigmaKiB: number, minChangeKiB: number, sigmas: number): number {
  return sigmas * Math.SQRT2 * noiseBandKiB(sigmaKiB, minChangeKiB);
}

/** Appends one residual, keeping the last `window`. */
function addResidual(residuals: readonly number[], residualKiB: number, window: number): number[] {
  return [...residuals, residualKiB].slice(-Math.max(MIN_RESIDUALS, window));
}

/**
 * The residuals after a fresh reading (the newest of `samples`): its triple's residual added, unless the triple
 * changed beyond what the noise measured so far (`sigmaKiB`, noiseSigmaKiB of `residuals`, which the caller has
 * taken already) could move it (changeBeyondNoiseKiB). The same array when nothing is added.
 */
export function residualsAfter(residuals: number[], sigmaKiB: number, samples: readonly Pick<UsageSample, 'atSeconds' | 'usedKiB'>[], minChangeKiB: number, sigmas: number, window: number): number[] {
  const residual = noiseResidualKiB(samples, changeBeyondNoiseKiB(sigmaKiB, minChangeKiB, sigmas));
  return residual === undefined ? residuals : addResidual(residuals, residual, window);
}

/** σ of one used reading, KiB, from the residuals; 0 until there are enough. */
export function noiseSigmaKiB(residuals: readonly number[]): number {
  if (residuals.length < MIN_RESIDUALS) return 0;
  const n = residuals.length;
  const values = scratchOf(n);
  for (let k = 0; k < n; k++) values[k] = residuals[k]!;
  const center = medianInPlace(values, n);
  for (let k = 0; k < n; k++) values[k] = Math.abs(residuals[k]! - center);
  return medianInPlace(values, n) / MAD_PER_SIGMA;
}

/** The next level of use after a fresh reading: averaged while the reading is within the noise, restarted beyond it. */
export function nextLevelKiB(levelKiB: number | undefined, usedKiB: number, sigmaKiB: number, smoothing: number): number {
  if (levelKiB === undefined || Math.abs(usedKiB - levelKiB) > LEVEL_RESTART_SIGMAS * sigmaKiB) return usedKiB;
  return levelKiB + smoothing * (usedKiB - levelKiB);
}

/**
 * What a guest is sized for beyond its reading: its level plus the headroom for its noise, less
 * the reading itself (never negative: a reading above that is used as it is).
 */
export function noiseAllowanceKiB(usedKiB: number, levelKiB: number | undefined, sigmaKiB: number, headroomSigmas: number): number {
  if (levelKiB === undefined || sigmaKiB <= 0) return 0;
  return Math.max(0, levelKiB + headroomSigmas * sigmaKiB - usedKiB);
}

// Medians are taken for every guest at every reading: one reused buffer and a selection (no sort, no allocation).
let scratch = new Float64Array(64);

function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

/** Median of the first `n` values (reordered in place). */
function medianInPlace(values: Float64Array, n: number): number {
  const mid = n >> 1;
  const upper = selectInPlace(values, n, mid);
  if (n % 2 === 1) return upper;
  // After selection everything before `mid` is ≤ the upper middle value: the lower one is their largest.
  let lower = values[0]!;
  for (let k = 1; k < mid; k++) if (values[k]! > lower) lower = values[k]!;
  return (lower + upper) / 2;
}

/** The k-th smallest (0-based) of the first `n` values; leaves smaller ones before index k, larger after (Hoare selection). */
function selectInPlace(values: Float64Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  while (left < right) {
    const pivot = values[(left + right) >> 1]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return values[k]!;
}
