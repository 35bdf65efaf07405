import type { DomainRef, HostObservation, Hypervisor } from '../ground/hypervisor.js';
import { domainKey } from '../ground/domain-identity.js';
import type { Action, PinAction, SetMemoryAction } from '../ground/actions.js';
import { errorText } from '../ground/errors.js';
import { renderRestoredWeight } from '../ground/weight-why.js';
import { applyAction, type ControllersRestore } from './loop.js';
import { sameCpuSet } from '../ground/cpu-list.js';
import { mib, mibToKiB } from '../ground/units.js';
import { safeTargetKiB } from '../memory/bounds.js';
import { floorKiBOf, type MemoryOptions } from '../memory/options.js';
import { growthBudgetKiB } from '../memory/reserve.js';
import { measureUsage } from '../memory/usage.js';

// `--restore`: on the way out, put back the vCPU pins and balloon sizes found at start.
// What was found is taken from the first observation; what is put back is decided against a final
// observation, for the domains that still run with the same UUID. The memory safety rules hold here
// too, through the coordinator's own rules (memory/bounds.ts, memory/reserve.ts): a balloon is never
// shrunk back below what the guest now uses plus its floor (that would start its OOM killer), nor
// shrunk without statistics saying what it uses, and balloons are grown back only as far as the
// host stays above its reserve. Shrinks go first so their memory is free
// before anything grows. Then what the controllers themselves put back (their `restore` hook,
// src/ground/controller.ts): the CPU weights (cpu_shares) the run set, lever or configured, go back
// to what each domain had before the run's first change (src/cpu/weights.ts); domains it never
// changed keep theirs.

export interface DomainAtStart {
  ref: DomainRef;
  /** Affinity per vCPU index. */
  pins: Map<number, number[]>;
  balloonKiB?: number;
  /** For a guest with virtio-mem: what its balloon held (boot + plugged − actual) and what was plugged, at start. */
  device?: { heldKiB: number; pluggedKiB: number };
}

export interface StartState {
  domains: Map<string, DomainAtStart>;
}

export function captureStartState(obs: HostObservation): StartState {
  const domains = new Map<string, DomainAtStart>();
  for (const d of obs.domains) {
    domains.set(domainKey(d), {
      ref: { name: d.name, uuid: d.uuid },
      pins: new Map(d.vcpus.map((v) => [v.index, [...v.affinity].sort((a, b) => a - b)])),
      ...(d.balloon ? { balloonKiB: d.balloon.currentKiB } : {}),
      ...(d.balloon && d.memoryDevice ? { device: { heldKiB: Math.max(0, d.balloon.maximumKiB - d.balloon.currentKiB), pluggedKiB: d.memoryDevice.currentKiB } } : {}),
    });
  }
  return { domains };
}

export interface RestoreOptions {
  pins: boolean;
  balloons: boolean;
  /** The memory coordinator's options: its floors, minimum and reserve bound what is put back. */
  memory: MemoryOptions;
  /** What the controllers that ran put back themselves (the loop's `ended` sink hands it over), after pins and balloons. */
  controllers?: ControllersRestore;
}

export interface RestorePlan {
  actions: Action[];
  /** What is not put back, and why (one line each). */
  notes: string[];
}


/** What to do to return from `now` to `start` (pure). */
export function planRestore(start: StartState, now: HostObservation, options: RestoreOptions): RestorePlan {
  const notes: string[] = [];
  const shrinks: SetMemoryAction[] = [];
  const grows: SetMemoryAction[] = [];
  const pins: PinAction[] = [];
  const reserveKiB = mibToKiB(options.memory.reserveMiB);
  let budgetKiB = growthBudgetKiB(now.host.memoryFreeKiB, reserveKiB, []);
  const seen = new Set<string>();
  for (const d of now.domains) {
    const key = domainKey(d);
    const was = start.domains.get(key);
    if (!was) continue;
    seen.add(key);
    const ref = { name: d.name, uuid: d.uuid };
    if (d.state !== 'running' && d.state !== 'blocked') {
      notes.push(`${d.name}: ${d.state}, left as it is`);
      continue;
    }
    // A migration or a save holds it: a change would wait for the job (libvirt's state change lock) and fail.
    if (d.job !== undefined) {
      notes.push(`${d.name}: ${d.job} job under way, left as it is`);
      continue;
    }
    if (d.unanswered) {
      notes.push(`${d.name}: its QEMU does not answer, left as it is`);
      continue;
    }
    if (options.pins) {
      for (const v of d.vcpus) {
        const target = was.pins.get(v.index);
        const current = [...v.affinity].sort((a, b) => a - b);
        if (target && !sameCpuSet(target, current)) {
          pins.push({ kind: 'pin', domain: ref, vcpu: v.index, pcpus: target, previous: current, reason: 'restore: the pin found at start' });
        }
      }
    }
    if (!options.balloons || was.balloonKiB === undefined || !d.balloon) continue;
    const b = d.balloon;
    // virtio-mem: plugged memory is left as it is (unplugging under a running workload is not a
    // restore); the balloon goes back to holding what it held at start, above what is plugged now.
    if (d.memoryDevice) {
      notes.push(`${d.name}: its ${mib(d.memoryDevice.currentKiB)} MiB of plugged virtio-mem memory left as it is (${mib(was.device?.pluggedKiB ?? 0)} MiB at start): unplugging under a running workload is not a restore`);
    }
    const wanted = d.memoryDevice
      ? Math.max(d.memoryDevice.currentKiB + 1024, b.maximumKiB - (was.device?.heldKiB ?? 0))
      : Math.min(was.balloonKiB, b.maximumKiB);
    if (Math.abs(wanted - b.currentKiB) < 1024) continue;
    if (wanted < b.currentKiB) {
      if (b.unusedKiB === undefined) {
        notes.push(`${d.name}: not shrunk back to ${mib(wanted)} MiB: no balloon statistics say what it uses`);
        continue;
      }
      const { usedKiB } = measureUsage({ ...b, unusedKiB: b.unusedKiB, lastUpdate: b.lastUpdate ?? 0 }, [b.currentKiB]);
      const floorKiB = floorKiBOf(d.name, options.memory);
      const target = safeTargetKiB(wanted, { actualKiB: b.currentKiB, usedKiB, floorKiB, minActualKiB: mibToKiB(options.memory.minActualMiB), maximumKiB: b.maximumKiB });
      if (target > wanted) notes.push(`${d.name}: shrunk back to ${mib(target)} MiB, not ${mib(wanted)} MiB: it uses ${mib(usedKiB)} MiB plus its floor`);
      if (b.currentKiB - target >= 1024) {
        shrinks.push({ kind: 'set-memory', domain: ref, fromKiB: b.currentKiB, targetKiB: Math.round(target), reason: 'restore: the balloon size found at start' });
        budgetKiB += b.currentKiB - target;
      }
    } else {
      grows.push({ kind: 'set-memory', domain: ref, fromKiB: b.currentKiB, targetKiB: Math.round(wanted), reason: 'restore: the balloon size found at start' });
    }
  }
  const grants: SetMemoryAction[] = [];
  for (const g of grows) {
    const want = g.targetKiB - g.fromKiB;
    const give = Math.max(0, Math.min(want, budgetKiB));
    if (give < want) {
      const done = give >= 1024 ? `grown back to ${mib(g.fromKiB + give)} MiB, not ${mib(g.targetKiB)} MiB` : `not grown back to ${mib(g.targetKiB)} MiB`;
      notes.push(`${g.domain.name}: ${done}: the host keeps its ${mib(reserveKiB)} MiB reserve (${mib(now.host.memoryFreeKiB)} MiB free)`);
    }
    if (give >= 1024) {
      grants.push({ ...g, targetKiB: Math.round(g.fromKiB + give) });
      budgetKiB -= give;
    }
  }
  for (const [key, was] of start.domains) if (!seen.has(key)) notes.push(`${was.ref.name}: no longer runs here, nothing to restore`);
  const own = options.controllers?.(now) ?? { actions: [], notes: [] };
  notes.push(...own.notes);
  return { actions: [...shrinks, ...pins, ...grants, ...own.actions], notes };
}

function restoredWhat(action: Action): string {
  switch (action.kind) {
    case 'pin':
      return `pin of vCPU${action.vcpu}`;
    case 'set-cpu-weight':
      return `CPU weight ${action.weight}`;
    case 'resize-memory-device':
      return `virtio-mem request of ${Math.round(action.requestedKiB / 1024)} MiB`;
    default:
      return 'balloon';
  }
}

export interface RestoreOutcome {
  applied: number;
  failed: number;
}

/** Observes once more and puts back what `start` recorded; every note and failure is one line to `log`. */
export async function restoreStartState(hypervisor: Hypervisor, start: StartState, options: RestoreOptions, log: (line: string) => void): Promise<RestoreOutcome> {
  let now: HostObservation;
  try {
    now = await hypervisor.observe();
  } catch (err) {
    log(`restore: cannot observe the host: ${errorText(err)}; nothing restored`);
    return { applied: 0, failed: 1 };
  }
  const plan = planRestore(start, now, options);
  for (const note of plan.notes) log(`restore: ${note}`);
  let applied = 0;
  let failed = 0;
  for (const action of plan.actions) {
    try {
      await applyAction(hypervisor, action);
      applied++;
      if (action.kind === 'set-cpu-weight') log(`restore: ${action.domain.name}: ${action.why?.rule === 'restore' ? renderRestoredWeight(action.why) : action.reason}`);
    } catch (err) {
      failed++;
      log(`restore: ${action.domain.name}: ${restoredWhat(action)} not restored: ${errorText(err)}`);
    }
  }
  log(`restore: ${applied} change${applied === 1 ? '' : 's'} put back${failed ? `, ${failed} failed` : ''}`);
  return { applied, failed };
}
