// Rule: predict demand. Memory must be given before the guest needs it, because a new target
// reaches the guest only after the next reading (one interval + the stats lag) and the balloon's own
// lag. So from successive fresh readings we estimate how fast the guest's use grows and provision
// for that whole horizon at once, instead of creeping up in fixed steps.

export interface UsageSample {
  /** The reading's `last-update`, seconds. */
  atSeconds: number;
  usedKiB: number;
  /** Which formula produced usedKiB; a window never mixes the two (they differ by kernel reservations). */
  source: 'available' | 'actual';
}

/** Appends a fresh sample, keeping the last `window` samples of the same source. */
export function addSample(samples: readonly UsageSample[], sample: UsageSample, window: number): UsageSample[] {
  const last = samples[samples.length - 1];
  const kept = last && last.source === sample.source && last.atSeconds < sample.atSeconds ? [...samples] : [];
  kept.push(sample);
  return kept.slice(-Math.max(2, window));
}

export interface GrowthEstimate {
  /** Growth of used memory, KiB/s, never negative (shrinking use is the reclaim rule's business). */
  kibPerSecond: number;
  /** How it was derived, for the reason text. */
  basis: string;
}

/**
 * The largest of three rates:
 *  - the least-squares slope over the window (steady, noise-resistant);
 *  - the smaller of the last two step rates (a consumer that started two readings ago);
 *  - the last step rate alone, if it stands out of the earlier steps: above their mean by more
 *    than three standard deviations and above three times the largest of them (a consumer that started
 *    one reading ago, on a quiet guest).
 * One noisy reading on a jittery guest cannot fake growth; a real jump on a quiet one is seen at once.
 * Below `minKiBps` the estimate is noise and counts as zero.
 */
export function estimateGrowth(samples: readonly UsageSample[], minKiBps: number): GrowthEstimate {
  if (samples.length < 2) return { kibPerSecond: 0, basis: 'not enough readings' };
  const rates: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    rates.push((b.usedKiB - a.usedKiB) / (b.atSeconds - a.atSeconds));
  }
  const last = rates[rates.length - 1]!;
  const recent = rates.length >= 2 ? Math.min(last, rates[rates.length - 2]!) : last;
  const slope = leastSquaresSlope(samples);
  const jump = standsOut(last, rates.slice(0, -1)) ? last : -Infinity;
  const rate = Math.max(slope, recent, jump);
  if (rate < minKiBps) return { kibPerSecond: 0, basis: `${samples.length} readings, no growth` };
  const basis = rate === slope ? `slope over ${samples.length} readings` : rate === recent ? 'last two readings' : 'jump in the last reading';
  return { kibPerSecond: rate, basis };
}

function standsOut(value: number, earlier: readonly number[]): boolean {
  if (earlier.length < 3) return false;
  const mean = earlier.reduce((s, r) => s + r, 0) / earlier.length;
  const sd = Math.sqrt(earlier.reduce((s, r) => s + (r - mean) ** 2, 0) / earlier.length);
  const largest = Math.max(...earlier.map(Math.abs));
  return value > mean + 3 * sd && value > 3 * largest;
}

function leastSquaresSlope(samples: readonly UsageSample[]): number {
  const n = samples.length;
  const meanT = samples.reduce((s, p) => s + p.atSeconds, 0) / n;
  const meanU = samples.reduce((s, p) => s + p.usedKiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.atSeconds - meanT) * (p.usedKiB - meanU);
    den += (p.atSeconds - meanT) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** Seconds until memory given now could next be corrected: next reading, its lag, and the balloon's lag. */
export function horizonSeconds(intervalSeconds: number, statsPeriodSeconds: number, balloonLagSeconds: number): number {
  return intervalSeconds + statsPeriodSeconds + balloonLagSeconds;
}
