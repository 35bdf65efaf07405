import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../ground/hypervisor.js';

/** Wall-clock time for real hosts (monotonic, so a clock change cannot stretch an interval). */
export const realClock: Clock = {
  nowMs: () => performance.now(),
  sleep: (ms) => delay(ms),
};
