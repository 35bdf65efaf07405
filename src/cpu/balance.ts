// The imbalance test and its hysteresis: when is the host out of balance enough to re-pin?
//
// Out of balance = the best placement the optimiser found would lower the demand-load spread
// (busiest pCPU's demand − idlest pCPU's demand) by more than `marginPoints`. Comparing with the
// best ACHIEVABLE spread, not with zero, means an indivisible load (one busy vCPU among idle ones)
// never looks out of balance just because it cannot be split.
//
// Hysteresis: a gain above the margin must be seen in `persistIntervals` consecutive intervals
// before acting — unless it is at least `urgentGainPoints`, which no measurement noise produces
// (everything piled on one pCPU), and then the scheduler acts at once.

export interface BalanceThresholds {
  marginPoints: number;
  persistIntervals: number;
  urgentGainPoints: number;
}

export interface BalanceVerdict {
  /** Predicted spread reduction, points (100 points = one pCPU). */
  gainPoints: number;
  outOfBalance: boolean;
  /** Intervals in a row (including this one) the host has been out of balance. */
  streak: number;
  act: boolean;
}

export function judgeBalance(beforeSpreadPoints: number, afterSpreadPoints: number, previousStreak: number, t: BalanceThresholds): BalanceVerdict {
  const gainPoints = beforeSpreadPoints - afterSpreadPoints;
  const outOfBalance = gainPoints > t.marginPoints;
  const streak = outOfBalance ? previousStreak + 1 : 0;
  const act = outOfBalance && (streak >= t.persistIntervals || gainPoints >= t.urgentGainPoints);
  return { gainPoints, outOfBalance, streak, act };
}
