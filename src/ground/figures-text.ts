// How figures read in reasons and summaries: one place, so a pin's reason and the decision's summary say a number the same way.

/** 0.8333 → "0.83" (fairness, demand served, demand in vCPUs). */
export const fixed2 = (x: number): string => x.toFixed(2);
/** 12.345 → "12.3", 12 → "12" (spreads in points). */
export const oneDecimal = (x: number): string => (Math.round(x * 10) / 10).toString();
/** 0.834 → "83 %" (fractions of fair share). */
export const wholePercent = (x: number): string => `${Math.round(x * 100)} %`;
