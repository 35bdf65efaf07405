// A guest kernel keeps memory back from MemAvailable (reserves, watermarks: ~70 MiB on the lab guests of
// issue #18). Learned from a MemAvailable below MemFree, it is not counted as anonymous use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryState } from '../../src/memory/coordinator.js';
import type { HostObservation } from '../../src/ground/hypervisor.js';
import type { SetMemoryAction } from '../../src/ground/actions.js';
import type { TraceGuestMemory } from '../../src/ground/trace-record.js';

const MiB = 1024;
const INTERVAL = 2;
const RESERVE = 70;
const ANON = 100;

/** A guest whose MemAvailable is MemFree + cache − the kernel's reserve, as Linux computes it (clamped at 0). */
function observe(step: number, actualMiB: number, cacheMiB: number): HostObservation {
  const free = actualMiB - ANON - cacheMiB;
  return {
    timeNs: step * INTERVAL * 1e9,
    host: { hostname: 'test', pcpus: 4, memoryTotalKiB: 16384 * MiB, memoryFreeKiB: 8192 * MiB },
    domains: [{
      name: 'vm1', uuid: 'uuid-vm1', state: 'running', vcpus: [],
      balloon: {
        currentKiB: actualMiB * MiB, maximumKiB: 2048 * MiB, availableKiB: actualMiB * MiB,
        unusedKiB: free * MiB, usableKiB: Math.max(0, free + cacheMiB - RESERVE) * MiB, diskCachesKiB: cacheMiB * MiB,
        lastUpdate: 1000 + step * INTERVAL,
      },
      blockReadBytes: 0,
    }],
  };
}

/** Runs the guest: idle (no cache) for `idleSteps`, then it holds `cacheMiB` of cold cache; the balloon follows each target. */
function run(idleSteps: number, cacheMiB: number, steps: number): { actualMiB: number; view: TraceGuestMemory; targets: number[] } {
  let state: MemoryState = initialMemoryState();
  let actual = 512;
  let view: TraceGuestMemory | undefined;
  const targets: number[] = [];
  for (let step = 0; step < steps; step++) {
    // The guest drops cache to meet the balloon, keeping at least the free memory it had.
    const cache = step < idleSteps ? 0 : Math.max(0, Math.min(cacheMiB, actual - ANON - 82));
    const d = decideMemory(observe(step, actual, cache), state, defaultMemoryOptions, INTERVAL);
    state = d.state;
    view = d.guests[0];
    const a = d.actions.find((x): x is SetMemoryAction => x.kind === 'set-memory');
    if (a) {
      targets.push(a.targetKiB / MiB);
      actual = a.targetKiB / MiB;
    }
  }
  return { actualMiB: actual, view: view!, targets };
}

test('an idle reading with MemAvailable below MemFree is a reading: the guest is split into anon and (no) cache', () => {
  const r = run(3, 0, 3);
  assert.equal(r.view.cacheKiB, 0);
  assert.equal(r.view.anonKiB, ANON * MiB, 'anon = used (no cache to split off)');
});

test('after the reserve was learned while idle, a guest full of cache is sized on its true anon + floor', () => {
  // A guest seen idle first (MemFree 412, MemAvailable 342: the reserve shows), then with 330 MiB of cold cache.
  const learned = run(3, 330, 60);
  // The same guest seen only with its cache: MemAvailable − MemFree undercounts the cache by the reserve.
  const unlearned = run(0, 330, 60);
  assert.equal(learned.view.anonKiB, ANON * MiB);
  assert.equal(unlearned.view.anonKiB, (ANON + RESERVE) * MiB);
  assert.ok(learned.actualMiB <= 1.1 * (ANON + 200), `learned ends at ${learned.actualMiB} MiB`);
  assert.ok(unlearned.actualMiB >= ANON + RESERVE + 200 - 1, `unlearned ends at ${unlearned.actualMiB} MiB`);
  // Never below what it truly uses plus the floor.
  for (const t of learned.targets) assert.ok(t >= ANON + 200, `target ${t} MiB below anon + floor`);
});
