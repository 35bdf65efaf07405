// The imbalance test and its hysteresis: when is the host out of balance enough to re-pin?
//
// Out of balance = the best placement the optimiser found would lower the demand-load spread
// (busiest pCPU's demand − idlest pCPU's demand) by more than the required gain: the larger of
// `marginPoints` (is it worth moving anything?) and the gain noise alone could fake (is it real?
// see noise.ts). Comparing with the best ACHIEVABLE spread, not with zero, means an indivisible
// load (one busy vCPU among idle ones) never looks out of balance just because it cannot be split.
//
// Also out of balance when the caller says the placement is unfair: some vCPU is predicted well short
// of its fair share and the best plan serves it much better. Such a fairness imbalance is never
// urgent by itself: it must persist like a small spread gain.
//
// Hysteresis: the gain must exceed the requirement in `persistIntervals` consecutive intervals
// before acting — unless it is at least the urgent level (`urgentGainPoints`, and at least twice
// the requirement), as when everything is piled on one pCPU; then the scheduler acts at once.
//
// Settling: when some vCPU's demand really changed this interval (a guest went busy or idle), the
// reading may cover only part of the new phase. The scheduler then waits one interval, so one
// change costs one re-pin instead of two. It never waits two intervals in a row.

export interface BalanceThresholds {
  marginPoints: number;
  persistIntervals: number;
  urgentGainPoints: number;
}

export interface BalanceInputs {
  beforeSpreadPoints: number;
  afterSpreadPoints: number;
  /** Gain noise could fake (noise.ts), points. */
  noiseGainPoints: number;
  /** The best plan serves the worst-served vCPU much better (a fairness imbalance, see scheduler.ts). */
  unfair?: boolean;
  /** Out-of-balance intervals in a row before this one. */
  previousStreak: number;
  /** Some vCPU's demand changed for real this interval. */
  demandChanged: boolean;
  /** The previous interval already waited for demands to settle. */
  waitedLastInterval: boolean;
}

export interface BalanceVerdict {
  /** Predicted spread reduction, points (100 points = one pCPU). */
  gainPoints: number;
  requiredGainPoints: number;
  urgentGainPoints: number;
  outOfBalance: boolean;
  /** Intervals in a row (including this one) the host has been out of balance. */
  streak: number;
  /** Out of balance long enough (or badly enough) to act… */
  due: boolean;
  /** …but waiting one interval for a changed demand to settle. */
  settling: boolean;
  act: boolean;
}

export function judgeBalance(input: BalanceInputs, t: BalanceThresholds): BalanceVerdict {
  const gainPoints = input.beforeSpreadPoints - input.afterSpreadPoints;
  const requiredGainPoints = Math.max(t.marginPoints, input.noiseGainPoints);
  const urgentGainPoints = Math.max(t.urgentGainPoints, 2 * requiredGainPoints);
  const outOfBalance = gainPoints > requiredGainPoints || input.unfair === true;
  const streak = outOfBalance ? input.previousStreak + 1 : 0;
  const due = outOfBalance && (streak >= t.persistIntervals || gainPoints >= urgentGainPoints);
  const settling = due && input.demandChanged && !input.waitedLastInterval;
  return { gainPoints, requiredGainPoints, urgentGainPoints, outOfBalance, streak, due, settling, act: due && !settling };
}
