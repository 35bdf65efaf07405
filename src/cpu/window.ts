// Whether one measurement window is long enough to decide on (issue #17). After a slow interval the
// loop starts the next one at once, so a window can be a small part of the interval: its rates are
// a few scheduler ticks' worth of noise, and a decision on it would move vCPUs for nothing. On such a
// window the vCPU scheduler decides nothing, and the trace marks it (`TraceCpu.shortWindow`).

/** A window shorter than this part of the interval is too short to decide on. */
export const SHORT_WINDOW_FRACTION = 0.5;

/**
 * Why nothing is decided on a window of `elapsedNs`, as one line for the log; undefined when it is
 * long enough, or when the interval is not known (a caller without one decides as before).
 */
export function shortWindowSummary(elapsedNs: number, intervalSeconds: number | undefined): string | undefined {
  if (intervalSeconds === undefined || !Number.isFinite(intervalSeconds) || intervalSeconds <= 0) return undefined;
  if (elapsedNs >= SHORT_WINDOW_FRACTION * intervalSeconds * 1e9) return undefined;
  return `window ${(Math.max(0, elapsedNs) / 1e9).toFixed(2)} s is shorter than half the ${intervalSeconds} s interval: nothing decided`;
}
