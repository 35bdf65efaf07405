import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../ground/hypervisor.js';

// A simulated host runs on a virtual clock: a whole scenario takes well under a second. To watch
// it live, pacing stretches virtual time to real time: `pace` intervals per real second. Sleeps
// keep a real-time schedule, so the work done in an interval does not make the run drift.

export function pacedClock(virtual: Clock, intervalSeconds: number, pace: number): Clock {
  const realMsPerVirtualMs = 1 / (intervalSeconds * pace);
  let deadline: number | undefined;
  return {
    nowMs: () => virtual.nowMs(),
    async sleep(ms: number) {
      await virtual.sleep(ms);
      const now = performance.now();
      const step = ms * realMsPerVirtualMs;
      // After a stall longer than a step, start afresh rather than rush to catch up.
      deadline = deadline === undefined || deadline < now - step ? now + step : deadline + step;
      if (deadline > now) await delay(deadline - now);
    },
  };
}
