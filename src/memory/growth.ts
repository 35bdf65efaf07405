// Rule: predict demand. Memory must be given before the guest needs it, because a new target
// reaches the guest only after the next reading (one interval + the stats lag) and the balloon's own
// lag. So from successive fresh readings we estimate how fast the guest's use grows and provision
// for that whole horizon at once, instead of creeping up in fixed steps.

export interface UsageSample {
  /** The reading's `last-update`, seconds. */
  atSeconds: number;
  usedKiB: number;
  /** Which formula produced usedKiB; a window never mixes them (they differ by kernel reservations,
   *  and the anon- ones leave out the page cache the guest could drop). */
  source: 'available' | 'actual' | 'anon-available' | 'anon-actual';
}

/** Appends a fresh sample, keeping the last `window` (at least 3, for the noise estimate) samples of the same source. */
export function addSample(samples: readonly UsageSample[], sample: UsageSample, window: number): UsageSample[] {
  const last = samples[samples.length - 1];
  const kept = last && last.source === sample.source && last.atSeconds < sample.atSeconds ? [...samples] : [];
  kept.push(sample);
  return kept.slice(-Math.max(3, window));
}

/** What this rule remembers of a guest: fresh, self-consistent used-memory readings for the estimate. */
export interface GrowthMemory {
  samples: UsageSample[];
}

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyGrowthMemory(copy: GrowthMemory): void {
  if (Array.isArray(copy.samples)) copy.samples = copy.samples.map((s) => (typeof s === 'object' && s !== null ? { ...s } : s));
}

export interface GrowthEstimate {
  /** Growth of used memory, KiB/s, never negative (shrinking use is the reclaim rule's business). */
  kibPerSecond: number;
  /** How it was derived, for the reason text. */
  basis: string;
}

export interface GrowthNoise {
  /** σ of one used reading, KiB (noise.ts); 0 when unknown. */
  sigmaKiB: number;
  /** How many standard deviations of the noise a rate must clear (see estimateGrowth). */
  sigmas: number;
}

/**
 * The largest of three rates:
 *  - the least-squares slope over the window (steady, noise-resistant);
 *  - the smaller of the last two step rates (a consumer that started two readings ago);
 *  - the last step rate alone, if it stands out of the earlier steps: above their mean by more
 *    than three standard deviations and above three times the largest of them (a consumer that started
 *    one reading ago, on a quiet guest).
 * One noisy reading on a jittery guest cannot fake growth; a real jump on a quiet one is seen at once.
 * With the guest's measured noise σ (noise.ts), noise must not pass for growth:
 *  - the slope counts only if it exceeds `sigmas` times the standard deviation noise alone gives
 *    it, σ / √Σ(t − t̄)² (σ/6.3 over 5 readings 2 s apart). A real consumer's slope clears that by
 *    far and then counts in full, so it is provisioned for at its real rate;
 *  - the step rates, each resting on two readings (standard deviation σ·√2 / Δt, 4.5 times the
 *    slope's over 5 readings), are lowered by `sigmas` times that: what is left is growth those
 *    two readings show beyond doubt (a lower confidence bound), nothing for a wiggle.
 * Without noise (σ = 0) the rates are as read.
 * Below `minKiBps` the estimate is noise and counts as zero.
 */
export function estimateGrowth(samples: readonly UsageSample[], minKiBps: number, noise: GrowthNoise = { sigmaKiB: 0, sigmas: 0 }): GrowthEstimate {
  if (samples.length < 2) return { kibPerSecond: 0, basis: 'not enough readings' };
  const rates: number[] = [];
  const sure: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const rate = (b.usedKiB - a.usedKiB) / (b.atSeconds - a.atSeconds);
    rates.push(rate);
    sure.push(rate - (noise.sigmas * noise.sigmaKiB * Math.SQRT2) / (b.atSeconds - a.atSeconds));
  }
  const n = rates.length;
  const last = sure[n - 1]!;
  const recent = n >= 2 ? Math.min(last, sure[n - 2]!) : last;
  const { slope, slopeNoise } = leastSquaresSlope(samples, noise);
  const slopeRate = slope > slopeNoise ? slope : -Infinity;
  const jump = standsOut(rates[n - 1]!, rates.slice(0, -1)) ? last : -Infinity;
  const rate = Math.max(slopeRate, recent, jump);
  if (rate < minKiBps) return { kibPerSecond: 0, basis: `${samples.length} readings, no growth${noise.sigmaKiB > 0 ? ' beyond the noise' : ''}` };
  const basis = rate === slopeRate ? `slope over ${samples.length} readings` : rate === recent ? 'last two readings' : 'jump in the last reading';
  const beyond = noise.sigmaKiB > 0 ? `, less ${noise.sigmas} σ of noise (σ ${Math.round(noise.sigmaKiB / 1024)} MiB)` : '';
  return { kibPerSecond: rate, basis: basis + beyond };
}

function standsOut(value: number, earlier: readonly number[]): boolean {
  if (earlier.length < 3) return false;
  const mean = earlier.reduce((s, r) => s + r, 0) / earlier.length;
  const sd = Math.sqrt(earlier.reduce((s, r) => s + (r - mean) ** 2, 0) / earlier.length);
  const largest = Math.max(...earlier.map(Math.abs));
  return value > mean + 3 * sd && value > 3 * largest;
}

function leastSquaresSlope(samples: readonly UsageSample[], noise: GrowthNoise): { slope: number; slopeNoise: number } {
  const n = samples.length;
  const meanT = samples.reduce((s, p) => s + p.atSeconds, 0) / n;
  const meanU = samples.reduce((s, p) => s + p.usedKiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.atSeconds - meanT) * (p.usedKiB - meanU);
    den += (p.atSeconds - meanT) ** 2;
  }
  if (den <= 0) return { slope: 0, slopeNoise: 0 };
  return { slope: num / den, slopeNoise: (noise.sigmas * noise.sigmaKiB) / Math.sqrt(den) };
}

/** Seconds until memory given now could next be corrected: next reading, its lag, and the balloon's lag. */
export function horizonSeconds(intervalSeconds: number, statsPeriodSeconds: number, balloonLagSeconds: number): number {
  return intervalSeconds + statsPeriodSeconds + balloonLagSeconds;
}
