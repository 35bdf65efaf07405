import type { Action } from '../../src/ground/actions.js';
import { baselineController, running, setMemory } from './common.js';

// oVirt MOM's balloon policy as vdsm ships it, written here from its published rules (no code copied):
//  - the policy runs every 15 s;
//  - the host is under pressure when its free memory is below 20 % of its total;
//  - under pressure, every guest with more than 20 % of its memory free is shrunk, never below
//    keeping 20 % free; without pressure, every guest with less than 20 % free is grown;
//  - one step moves at most 5 % of the guest's total (maximum) memory; grows stop at the maximum.
// Guest free memory is the balloon's `unused` (MemFree).

const POLICY_SECONDS = 15;
const PRESSURE_FREE = 0.2;
const GUEST_FREE = 0.2;
const STEP = 0.05;

export const momController = baselineController('oVirt MOM balloon policy (baseline)', POLICY_SECONDS, (obs, options) => {
  const actions: Action[] = [];
  const pressure = obs.host.memoryFreeKiB < PRESSURE_FREE * obs.host.memoryTotalKiB;
  for (const d of running(obs)) {
    const b = d.balloon!;
    if (b.unusedKiB === undefined) continue;
    const freeShare = b.unusedKiB / b.currentKiB;
    const stepKiB = STEP * b.maximumKiB;
    const min = options.minKiB[d.name] ?? 0;
    if (pressure && freeShare > GUEST_FREE) {
      // Shrink by up to 5 %, keeping 20 % free: used / 0.8 is the size at which 20 % is free.
      const keep = (b.currentKiB - b.unusedKiB) / (1 - GUEST_FREE);
      const a = setMemory(d, Math.max(keep, b.currentKiB - stepKiB), min, `MOM: host under pressure, guest ${Math.round(freeShare * 100)} % free`);
      if (a) actions.push(a);
    } else if (!pressure && freeShare < GUEST_FREE) {
      const a = setMemory(d, b.currentKiB + stepKiB, min, `MOM: guest ${Math.round(freeShare * 100)} % free < 20 %`);
      if (a) actions.push(a);
    }
  }
  return actions;
});
