import type { Action } from '../../src/ground/actions.js';
import { baselineController, hostFreeAsReadKiB, running, setMemory } from './common.js';

// Proxmox VE's auto-ballooning (pvestatd every 10 s, `PVE::AutoBalloon::compute_alg1`), written here
// from its rules (no code copied):
//  - host used = MemTotal − MemAvailable; the goal is 80 % of MemTotal used: goal = 0.8 × total − used
//    (positive: memory to hand out, negative: to take back); nothing happens within ±10 MiB;
//  - the guests taking part have a balloon and a configured minimum; those with free memory above a
//    quarter of their minimum (and at or above it) are "relaxed", the others "under pressure";
//  - a grow goes first to the guests under pressure, a shrink first to the relaxed ones; if that
//    moves nothing, to every guest;
//  - within a group the goal is shared over each guest's allocation above its minimum by shares
//    (equal here): desired = minimum + (Σ allocation above minimum + what is left) × share, kept
//    within [minimum, maximum]; each guest moves toward its desired size by at most 100 MiB from its
//    current balloon; repeated while a guest was clamped and something moved, until nothing is left.
// MemAvailable is the host's free memory as a real host reads it (`hostFreeAsReadKiB`).

const CYCLE_SECONDS = 10;
const TARGET_USED = 0.8;
const MAX_CHANGE_KIB = 100 * 1024;
const DEADBAND_KIB = 10 * 1024;

export interface ProxmoxGuest {
  id: string;
  balloonKiB: number;
  minimumKiB: number;
  maximumKiB: number;
  freeKiB?: number;
}

/** One group's pass (the rules above): new balloons by id, and what is left of `bytes`. */
function share(guests: ProxmoxGuest[], result: Map<string, number>, bytes: number): number {
  let rest = bytes;
  const done = new Set<string>();
  let repeat = true;
  let progress = true;
  while (rest !== 0 && repeat && progress) {
    repeat = false;
    progress = false;
    const open = guests.filter((g) => !done.has(g.id));
    const allocated = open.reduce((sum, g) => sum + (result.get(g.id) ?? g.balloonKiB) - g.minimumKiB, 0);
    const perShare = (allocated + rest) / Math.max(1, open.length);
    let changes = 0;
    for (const g of open) {
      let desired = g.minimumKiB + Math.trunc(perShare);
      if (desired > g.maximumKiB || desired < g.minimumKiB) {
        desired = Math.min(g.maximumKiB, Math.max(g.minimumKiB, desired));
        repeat = true;
      }
      let balloon: number;
      if (bytes > 0 && desired > g.balloonKiB) balloon = Math.min(desired, g.balloonKiB + MAX_CHANGE_KIB);
      else if (desired < g.balloonKiB) balloon = Math.max(desired, g.balloonKiB - MAX_CHANGE_KIB);
      else {
        done.add(g.id);
        continue;
      }
      const change = balloon - (result.get(g.id) ?? g.balloonKiB);
      if (balloon !== g.balloonKiB) result.set(g.id, balloon);
      if (change !== 0) {
        changes += change;
        progress = true;
        repeat = true;
      }
    }
    rest -= changes;
  }
  return rest;
}

/** compute_alg1's targets for the goal (KiB): new balloon by guest id. */
export function autoBalloonTargets(guests: ProxmoxGuest[], goalKiB: number): Map<string, number> {
  const result = new Map<string, number>();
  const relaxed = guests.filter((g) => g.freeKiB !== undefined && g.freeKiB > 0.25 * g.minimumKiB && g.balloonKiB >= g.minimumKiB);
  const pressed = guests.filter((g) => !relaxed.includes(g));
  if (goalKiB > DEADBAND_KIB) {
    const rest = share(pressed, result, goalKiB);
    if (rest >= goalKiB) share(guests, result, rest);
  } else if (goalKiB < -DEADBAND_KIB) {
    const rest = share(relaxed, result, goalKiB);
    if (rest <= goalKiB) share(guests, result, rest);
  }
  return result;
}

export const proxmoxController = baselineController('Proxmox VE auto-ballooning (baseline)', CYCLE_SECONDS, (obs, options) => {
  const actions: Action[] = [];
  const domains = running(obs);
  const usedKiB = obs.host.memoryTotalKiB - hostFreeAsReadKiB(obs);
  const goalKiB = TARGET_USED * obs.host.memoryTotalKiB - usedKiB;
  const guests: ProxmoxGuest[] = domains.map((d) => ({
    id: d.uuid,
    balloonKiB: d.balloon!.currentKiB,
    minimumKiB: options.minKiB[d.name] ?? 0,
    maximumKiB: d.balloon!.maximumKiB,
    ...(d.balloon!.unusedKiB !== undefined && { freeKiB: d.balloon!.unusedKiB }),
  }));
  const targets = autoBalloonTargets(guests, goalKiB);
  for (const d of domains) {
    const target = targets.get(d.uuid);
    if (target === undefined) continue;
    const a = setMemory(d, target, options.minKiB[d.name] ?? 0, `Proxmox: host ${Math.round((usedKiB / obs.host.memoryTotalKiB) * 100)} % used, goal 80 %`);
    if (a) actions.push(a);
  }
  return actions;
});
