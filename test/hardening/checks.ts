// Invariant checks shared by the hardening tests and the soak run.
import type { SetMemoryAction } from '../../src/ground/actions.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import type { TruthInterval } from '../../src/host/sim/truth.js';
import { defaultMemoryOptions } from '../../src/memory/coordinator.js';

const MiB = 1024;

/** Checks every balloon action against the memory safety rules; returns the first violation, if any. */
export function memoryViolation(entries: readonly TraceInterval[], truths: readonly TruthInterval[], minActualMiB = defaultMemoryOptions.minActualMiB): string | undefined {
  for (const entry of entries) {
    const memory = entry.memory;
    const grows = entry.actions.filter((a): a is SetMemoryAction => a.kind === 'set-memory' && a.targetKiB > a.fromKiB);
    if (memory && grows.length > 0 && memory.hostFreeKiB < memory.reserveKiB) {
      return `interval ${entry.interval}: grew ${grows.map((g) => g.domain.name).join(',')} while host free ${memory.hostFreeKiB / MiB} MiB < reserve ${memory.reserveKiB / MiB} MiB`;
    }
    for (const action of entry.actions) {
      if (action.kind !== 'set-memory') continue;
      const guest = memory?.guests.find((g) => g.domain === action.domain.name);
      if (!guest) return `interval ${entry.interval}: balloon action on ${action.domain.name}, which the coordinator did not see`;
      if (action.targetKiB > guest.maximumKiB) return `interval ${entry.interval}: ${action.domain.name} set to ${action.targetKiB} KiB above its maximum ${guest.maximumKiB}`;
      if (action.targetKiB < action.fromKiB) {
        if (guest.usedKiB === undefined || !guest.fresh) return `interval ${entry.interval}: ${action.domain.name} shrunk without fresh statistics`;
        // What the guest cannot drop: its anonymous use when it reports MemAvailable (its page cache can be dropped).
        const used = guest.anonKiB ?? guest.usedKiB;
        const lowest = Math.min(guest.maximumKiB, Math.max(used + guest.floorKiB, minActualMiB * MiB));
        if (action.targetKiB < lowest - 1) {
          return `interval ${entry.interval}: ${action.domain.name} shrunk to ${(action.targetKiB / MiB).toFixed(0)} MiB < ${guest.anonKiB !== undefined ? 'anon' : 'used'} ${(used / MiB).toFixed(0)} + floor ${guest.floorKiB / MiB} MiB`;
        }
      }
    }
  }
  for (const t of truths) {
    const oom = t.oomEvents[0];
    if (oom) return `OOM in ${oom.domain} at ${(oom.timeNs / 1e9).toFixed(1)} s: wanted ${oom.demandMiB.toFixed(0)} MiB, had ${oom.actualMiB.toFixed(0)} MiB`;
  }
  return undefined;
}

