// The shortcuts that make one decision on 4,000 vCPUs cheap must give what the plain versions give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ascendingOrder, descendingOrder } from '../../src/cpu/stable-order.js';
import { PcpuSums } from '../../src/cpu/pcpu-sums.js';
import { byDemandDescending, currentAssignment, lptAssignment, stickyLptAssignment, makespanLowerBound, type PlacementItem } from '../../src/cpu/placement.js';
import { pcpuUsageOf, type VcpuLoad } from '../../src/cpu/usage.js';

/** Keys with many ties, both zeros and a few extremes. */
const keyArb = fc.oneof(fc.constantFrom(0, -0, 0.5, 1, 0.25), fc.double({ min: -2, max: 2, noNaN: true }));

test('ascendingOrder is the stable comparator sort, ties (and −0 against 0) in index order, small and large', () => {
  fc.assert(
    fc.property(fc.array(keyArb, { maxLength: 200 }), (keys) => {
      const typed = Float64Array.from(keys);
      const expected = keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
      assert.deepEqual([...ascendingOrder(typed)], expected);
      const down = keys.map((_, i) => i).sort((a, b) => keys[b]! - keys[a]! || a - b);
      assert.deepEqual([...descendingOrder(keys)], down);
    }),
    { numRuns: 300 },
  );
});

test('ascendingOrder on many keys (the radix sort) is the stable comparator sort: ties, −0 against 0, negatives, infinities', () => {
  const manyKeyArb = fc.oneof(keyArb, fc.constantFrom(-0, Infinity, -Infinity, -1e-300, 5e-324, Number.MAX_VALUE));
  fc.assert(
    fc.property(fc.array(manyKeyArb, { minLength: 256, maxLength: 1500 }), (keys) => {
      const expected = keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
      assert.deepEqual([...ascendingOrder(Float64Array.from(keys))], expected);
      const down = keys.map((_, i) => i).sort((a, b) => keys[b]! - keys[a]! || a - b);
      assert.deepEqual([...descendingOrder(keys)], down);
    }),
    { numRuns: 60 },
  );
  // A NaN key falls back to the comparator sort.
  const withNaN = Float64Array.from({ length: 300 }, (_, i) => (i === 7 ? NaN : (i * 37) % 11));
  assert.equal(ascendingOrder(withNaN).length, 300);
});

test('PcpuSums equals adding to every pCPU of each affinity, ranges and scattered sets alike', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }).chain((pcpus) =>
        fc.tuple(
          fc.constant(pcpus),
          fc.array(
            fc.tuple(fc.uniqueArray(fc.integer({ min: 0, max: pcpus - 1 }), { minLength: 1, maxLength: pcpus }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()),
            { maxLength: 30 },
          ),
        ),
      ),
      ([pcpus, adds]) => {
        const sums = new PcpuSums(pcpus);
        const plain = new Array<number>(pcpus).fill(0);
        for (const [set, amount, whole] of adds) {
          // Half of them contiguous ranges (what released and unpinned vCPUs have).
          const start = Math.min(Math.min(...set), pcpus - set.length);
          const where = whole ? Array.from({ length: set.length }, (_, k) => start + k) : [...set].sort((a, b) => a - b);
          sums.add(where, amount);
          for (const p of where) plain[p] = plain[p]! + amount;
        }
        sums.values().forEach((v, p) => assert.ok(Math.abs(v - plain[p]!) < 1e-9, `pCPU${p}: ${v} vs ${plain[p]}`));
      },
    ),
    { numRuns: 300 },
  );
});

/** LPT with a plain scan for the least loaded pCPU (lowest index on ties): what the heap must reproduce. */
function plainLpt(items: readonly PlacementItem[], pcpus: number): number[] {
  const loads = new Array<number>(pcpus).fill(0);
  const assignment = new Array<number>(items.length).fill(0);
  for (const i of items.map((_, i) => i).sort((a, b) => items[b]!.demand - items[a]!.demand || a - b)) {
    let least = 0;
    for (let p = 1; p < pcpus; p++) if (loads[p]! < loads[least]!) least = p;
    assignment[i] = least;
    loads[least] = loads[least]! + items[i]!.demand;
  }
  return assignment;
}

/** Sticky LPT with a plain scan: stays home while home stays under the ideal load. */
function plainStickyLpt(items: readonly PlacementItem[], pcpus: number, tolerance: number): number[] {
  const ideal = makespanLowerBound(items.map((i) => i.demand), pcpus) + tolerance;
  const loads = new Array<number>(pcpus).fill(0);
  const assignment = new Array<number>(items.length).fill(0);
  for (const i of items.map((_, i) => i).sort((a, b) => items[b]!.demand - items[a]!.demand || a - b)) {
    const home = items[i]!.home;
    let p = 0;
    if (home !== undefined && home >= 0 && home < pcpus && loads[home]! + items[i]!.demand <= ideal + 1e-9) p = home;
    else for (let q = 1; q < pcpus; q++) if (loads[q]! < loads[p]!) p = q;
    assignment[i] = p;
    loads[p] = loads[p]! + items[i]!.demand;
  }
  return assignment;
}

test('LPT, sticky LPT and the current assignment with the indexed heap equal plain scans', () => {
  const demandArb = fc.oneof(fc.constantFrom(0, 0.5, 1, 0.25), fc.double({ min: 0, max: 1, noNaN: true }));
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }).chain((pcpus) =>
        fc.tuple(fc.constant(pcpus), fc.array(fc.tuple(demandArb, fc.option(fc.integer({ min: 0, max: pcpus - 1 }))), { maxLength: 60 })),
      ),
      ([pcpus, rows]) => {
        const items: PlacementItem[] = rows.map(([demand, home]) => ({ demand, home: home ?? undefined, pinned: home !== null }));
        const order = byDemandDescending(items);
        assert.deepEqual(lptAssignment(items, pcpus, order), plainLpt(items, pcpus));
        assert.deepEqual(stickyLptAssignment(items, pcpus, 0.02, order), plainStickyLpt(items, pcpus, 0.02));
        // Items with a home stay; the others go, largest first, to the least loaded pCPU.
        const current = currentAssignment(items, pcpus, order);
        items.forEach((item, i) => {
          if (item.home !== undefined) assert.equal(current[i], item.home);
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('released vCPUs are poured as one: the usage per pCPU is level and sums to what they used', () => {
  const everywhere = Array.from({ length: 16 }, (_, p) => p);
  const vcpus: VcpuLoad[] = Array.from({ length: 50 }, (_, i) => ({
    domain: { name: `vm${i}`, uuid: `u${i}` },
    vcpu: 0,
    affinity: i < 2 ? [i] : everywhere,
    pcpu: 0,
    usage: i < 2 ? 1 : 0.2,
    demand: 0.2,
  }));
  const usage = pcpuUsageOf(vcpus, 16);
  // 48 × 0.2 = 9.6 poured over 16 pCPUs where two already carry 1.0: the other 14 fill to 8.6 / 14.
  assert.ok(Math.abs(usage.reduce((a, b) => a + b, 0) - 11.6) < 1e-9);
  for (let p = 2; p < 16; p++) assert.ok(Math.abs(usage[p]! - 9.6 / 14) < 1e-9, `pCPU${p} ${usage[p]}`);
  assert.equal(usage[0], 1);
});
