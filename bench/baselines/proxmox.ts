import type { Action } from '../../src/ground/actions.js';
import { baselineController, running, setMemory } from './common.js';

// Proxmox VE's auto-ballooning, written here from its published rules (no code copied):
//  - every 10 s the host aims at 80 % of its memory used;
//  - the difference (positive: memory to hand out, negative: to take back) is divided among the
//    guests in proportion to their shares (default equal), each between its configured minimum and
//    its maximum;
//  - no guest moves more than 100 MiB per cycle.
// It looks at host memory only, not at what a guest uses inside.

const CYCLE_SECONDS = 10;
const TARGET_USED = 0.8;
const MAX_MOVE_KIB = 100 * 1024;

export const proxmoxController = baselineController('Proxmox VE auto-ballooning (baseline)', CYCLE_SECONDS, (obs, options) => {
  const actions: Action[] = [];
  const guests = running(obs);
  const usedKiB = obs.host.memoryTotalKiB - obs.host.memoryFreeKiB;
  const moveKiB = TARGET_USED * obs.host.memoryTotalKiB - usedKiB;
  // Equal shares: each guest that can still move in that direction takes its part.
  const movable = guests.filter((d) => (moveKiB > 0 ? d.balloon!.currentKiB < d.balloon!.maximumKiB : d.balloon!.currentKiB > (options.minKiB[d.name] ?? 0)));
  for (const d of movable) {
    const b = d.balloon!;
    const part = Math.max(-MAX_MOVE_KIB, Math.min(MAX_MOVE_KIB, moveKiB / movable.length));
    const a = setMemory(d, b.currentKiB + part, options.minKiB[d.name] ?? 0, `Proxmox: host ${Math.round((usedKiB / obs.host.memoryTotalKiB) * 100)} % used, target 80 %`);
    if (a) actions.push(a);
  }
  return actions;
});
