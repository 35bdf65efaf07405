import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideMemory, defaultMemoryOptions, initialMemoryState, type MemoryOptions } from '../../src/memory/coordinator.js';
import { safeTargetKiB } from '../../src/memory/bounds.js';
import type { HostObservation } from '../../src/ground/hypervisor.js';

const MiB = 1024;

// Random sequences of observations: guests whose actual, use, statistics and host free memory jump
// around arbitrarily. Whatever the history, every action must respect the safety invariants.

const guestArb = fc.record({
  actualMiB: fc.integer({ min: 64, max: 4096 }),
  maximumMiB: fc.integer({ min: 128, max: 4096 }),
  unusedFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  hasStats: fc.boolean(),
  advance: fc.boolean(),
  available: fc.boolean(),
  rssFraction: fc.option(fc.double({ min: 0, max: 1.2, noNaN: true })),
  // MemAvailable: free + this share of what is not free as droppable page cache (null: not reported).
  cacheFraction: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
  // What the guest kernel keeps back from MemAvailable: it may put MemAvailable below MemFree.
  kernelReserveMiB: fc.integer({ min: 0, max: 100 }),
  // The guest also reports its page cache (disk_caches): the droppable part exactly.
  diskCaches: fc.boolean(),
  readMiB: fc.integer({ min: 0, max: 400 }),
  reporting: fc.boolean(),
});

const stepArb = fc.record({
  hostFreeMiB: fc.integer({ min: 0, max: 8192 }),
  guests: fc.array(guestArb, { minLength: 4, maxLength: 4 }),
});

const optionsArb = fc.record({
  floorMiB: fc.integer({ min: 0, max: 512 }),
  minActualMiB: fc.integer({ min: 0, max: 512 }),
  reserveMiB: fc.integer({ min: 0, max: 2048 }),
  reclaimFraction: fc.double({ min: 0.1, max: 1, noNaN: true }),
});

test('never below used + floor (anon + floor with MemAvailable) or the absolute minimum, never above maximum, never past the host reserve', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), optionsArb, fc.constantFrom(0.5, 1, 2, 5), (steps, opts, interval) => {
      const options: MemoryOptions = { ...defaultMemoryOptions, ...opts, floorsMiB: { g1: opts.floorMiB + 100 } };
      let state = initialMemoryState();
      const lastUpdate = [10, 10, 10, 10];
      const readBytes = [0, 0, 0, 0];
      // The largest MemFree − MemAvailable each guest has shown (a lower bound of its kernel's reserve, usage.ts).
      const offsetKiB = [0, 0, 0, 0];
      steps.forEach((step, t) => {
        const obs: HostObservation = {
          timeNs: Math.round(t * interval * 1e9),
          host: { hostname: 'h', pcpus: 4, memoryTotalKiB: 16384 * MiB, memoryFreeKiB: step.hostFreeMiB * MiB },
          domains: step.guests.map((g, i) => {
            const maximumKiB = g.maximumMiB * MiB;
            const currentKiB = Math.min(g.actualMiB, g.maximumMiB) * MiB;
            if (g.advance) lastUpdate[i]! += 1;
            const unusedKiB = Math.floor(currentKiB * g.unusedFraction);
            const droppableKiB = g.cacheFraction === null ? undefined : Math.floor((currentKiB - unusedKiB) * g.cacheFraction);
            const usableKiB = droppableKiB === undefined ? undefined : Math.max(0, unusedKiB + droppableKiB - g.kernelReserveMiB * MiB);
            if (g.hasStats && usableKiB !== undefined && usableKiB > 0) offsetKiB[i] = Math.max(offsetKiB[i]!, unusedKiB - usableKiB);
            readBytes[i]! += g.readMiB * MiB * 1024;
            return {
              name: `g${i}`,
              uuid: `u${i}`,
              state: 'running' as const,
              vcpus: [],
              balloon: {
                currentKiB,
                maximumKiB,
                ...(g.rssFraction !== null && { rssKiB: Math.floor(currentKiB * g.rssFraction) }),
                ...(g.hasStats && { unusedKiB, lastUpdate: lastUpdate[i]! }),
                ...(g.hasStats && g.available && { availableKiB: currentKiB - 40 * MiB }),
                ...(g.hasStats && usableKiB !== undefined && { usableKiB }),
                ...(g.hasStats && g.diskCaches && droppableKiB !== undefined && { diskCachesKiB: droppableKiB }),
                ...(g.reporting && { freePageReporting: true }),
              },
              blockReadBytes: readBytes[i]!,
            };
          }),
        };
        const decision = decideMemory(obs, state, options, interval);
        state = decision.state;
        let increases = 0;
        for (const a of decision.actions) {
          if (a.kind !== 'set-memory') continue;
          const d = obs.domains.find((x) => x.name === a.domain.name)!;
          const b = d.balloon!;
          assert.ok(b.unusedKiB !== undefined, 'never acts on a guest without statistics');
          assert.equal(a.fromKiB, b.currentKiB);
          assert.ok(a.targetKiB <= b.maximumKiB, `above maximum: ${a.targetKiB} > ${b.maximumKiB}`);
          assert.notEqual(a.targetKiB, b.currentKiB);
          assert.match(a.reason, /\d+ → \d+ MiB$/);
          if (a.targetKiB < b.currentKiB) {
            const floorKiB = (options.floorsMiB[d.name] ?? options.floorMiB) * MiB;
            // With MemAvailable the page cache (usable − unused + the kernel's reserve learned so far) may be
            // dropped: anon + floor is the limit. With disk_caches too, the estimate may add the low
            // watermark Linux keeps out of MemAvailable (usage.ts), never past what the guest really
            // can drop (here: disk_caches): the limit is its true anon + floor.
            const i = Number(d.name.slice(1));
            const cacheKiB = b.usableKiB === undefined ? 0 : b.diskCachesKiB !== undefined ? b.diskCachesKiB : Math.max(0, b.usableKiB - b.unusedKiB + (b.usableKiB > 0 ? offsetKiB[i]! : 0));
            const usedKiB = b.currentKiB - b.unusedKiB - cacheKiB;
            assert.ok(a.targetKiB >= usedKiB + floorKiB || a.targetKiB >= b.maximumKiB, `below used + floor: ${a.reason}`);
            assert.ok(a.targetKiB >= options.minActualMiB * MiB, `below the absolute minimum: ${a.reason}`);
          } else {
            increases += a.targetKiB - b.currentKiB;
          }
        }
        const allowed = Math.max(0, obs.host.memoryFreeKiB - options.reserveMiB * MiB);
        assert.ok(increases <= allowed, `increases ${increases} KiB > host free − reserve ${allowed} KiB`);
      });
    }),
    { numRuns: 400 },
  );
});

test('safeTargetKiB clamps a shrink to used + floor and a grow to the maximum', () => {
  const g = { actualKiB: 1000 * MiB, usedKiB: 300 * MiB, floorKiB: 200 * MiB, minActualKiB: 200 * MiB, maximumKiB: 2048 * MiB };
  assert.equal(safeTargetKiB(100 * MiB, g), 500 * MiB);
  assert.equal(safeTargetKiB(3000 * MiB, g), 2048 * MiB);
  assert.equal(safeTargetKiB(700 * MiB, g), 700 * MiB);
  assert.equal(safeTargetKiB(100 * MiB, { ...g, usedKiB: 0, floorKiB: 0 }), 200 * MiB);
  // A shrink never turns into a grow, even when the guest already sits below used + floor.
  assert.equal(safeTargetKiB(100 * MiB, { ...g, actualKiB: 400 * MiB }), 400 * MiB);
});
