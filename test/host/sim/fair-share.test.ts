import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fairShare, fairShareGeneral, waterLevel, type ShareProblem, type ShareResult } from '../../../src/host/sim/fair-share.js';

const close = (actual: number, expected: number, tol = 1e-9, what = ''): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected}, got ${actual}`);

function problem(demands: number[], affinity: number[][], pcpus: number, weights = demands.map(() => 1)): ShareProblem {
  return { demands, weights, affinity, pcpus };
}

/**
 * Max-min fairness, checked from its definition: every vCPU is either satisfied, or each pCPU it
 * may use is full and carries nobody with a higher weighted share (so nobody could give it time).
 */
function assertFair(p: ShareProblem, r: ShareResult, tol = 1e-7): void {
  const load = new Array<number>(p.pcpus).fill(0);
  p.demands.forEach((d, v) => {
    assert.ok(r.received[v]! <= d + tol, `vCPU ${v} gets ${r.received[v]} above its demand ${d}`);
    const row = r.placement[v]!;
    close(row.reduce((a, b) => a + b, 0), r.received[v]!, tol, `placement of vCPU ${v}`);
    row.forEach((x, pc) => {
      assert.ok(x >= -tol, 'negative placement');
      if (x > tol) assert.ok(p.affinity[v]!.includes(pc), `vCPU ${v} placed on pCPU ${pc} outside its affinity`);
      load[pc] = load[pc]! + x;
    });
  });
  load.forEach((l, pc) => assert.ok(l <= 1 + tol, `pCPU ${pc} overloaded: ${l}`));
  p.demands.forEach((d, v) => {
    if (r.received[v]! >= d - tol) return;
    const level = r.received[v]! / p.weights[v]!;
    for (const pc of p.affinity[v]!) {
      assert.ok(load[pc]! >= 1 - tol, `vCPU ${v} starves while pCPU ${pc} has room (${load[pc]})`);
      p.demands.forEach((_, u) => {
        if (r.placement[u]![pc]! > tol) {
          assert.ok(r.received[u]! / p.weights[u]! <= level + tol, `vCPU ${u} on pCPU ${pc} has more (${r.received[u]}) than starving vCPU ${v} (${r.received[v]})`);
        }
      });
    }
  });
}

test('three busy vCPUs pinned to one pCPU get a third each', () => {
  const p = problem([1, 1, 1], [[0], [0], [0]], 4);
  const r = fairShare(p);
  r.received.forEach((x) => close(x, 1 / 3));
  assertFair(p, r);
});

test('a light vCPU gets its demand and the busy ones share the rest', () => {
  const p = problem([1, 0.2, 1], [[0], [0], [0]], 1);
  const r = fairShare(p);
  close(r.received[1]!, 0.2);
  close(r.received[0]!, 0.4);
  close(r.received[2]!, 0.4);
});

test('nothing pinned: the host scheduler spreads busy vCPUs one per pCPU', () => {
  const all = [0, 1, 2, 3];
  const p = problem([1, 1, 1, 1], [all, all, all, all], 4);
  const r = fairShare(p);
  r.received.forEach((x) => close(x, 1));
  const where = r.placement.map((row) => row.indexOf(Math.max(...row)));
  assert.equal(new Set(where).size, 4, `each vCPU on its own pCPU, got ${where}`);
  assertFair(p, r);
});

test('more unpinned demand than pCPUs: equal demands get equal shares', () => {
  const all = [0, 1];
  const p = problem([0.9, 0.9, 0.9], [all, all, all], 2);
  const r = fairShare(p);
  r.received.forEach((x) => close(x, 2 / 3));
  assertFair(p, r);
});

test('overlapping affinities: a vCPU that may also use pCPU1 leaves pCPU0 to the pinned ones', () => {
  const p = problem([1, 1, 1], [[0], [0], [0, 1]], 2);
  const r = fairShare(p);
  close(r.received[0]!, 0.5);
  close(r.received[1]!, 0.5);
  close(r.received[2]!, 1);
  assertFair(p, r);
});

test('overlapping affinities that must share: everybody gets 2/3', () => {
  const p = problem([1, 1, 1], [[0], [0, 1], [0, 1]], 2);
  const r = fairShare(p);
  r.received.forEach((x) => close(x, 2 / 3, 1e-9));
  assertFair(p, r);
});

test('weights split a contended pCPU in proportion', () => {
  const p = problem([1, 1], [[0], [0]], 1, [2, 1]);
  const r = fairShare(p);
  close(r.received[0]!, 2 / 3);
  close(r.received[1]!, 1 / 3);
});

test('waterLevel finds the level where capped demands fill the capacity', () => {
  close(waterLevel([0.2, 1, 1], [1, 1, 1], 1), 0.4);
  assert.equal(waterLevel([0.2, 0.3], [1, 1], 1), Infinity);
});

const affinityArb = (pcpus: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: pcpus - 1 }), { minLength: 1, maxLength: pcpus }).map((a) => a.sort((x, y) => x - y));

const problemArb = fc.integer({ min: 1, max: 6 }).chain((pcpus) =>
  fc
    .array(
      fc.record({
        demand: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
        weight: fc.oneof(fc.constant(1), fc.double({ min: 0.25, max: 4, noNaN: true })),
        affinity: affinityArb(pcpus),
      }),
      { minLength: 1, maxLength: 14 },
    )
    .map((vs) => problem(vs.map((v) => v.demand), vs.map((v) => v.affinity), pcpus, vs.map((v) => v.weight))),
);

test('property: the general solver is max-min fair for random affinities and weights', () => {
  fc.assert(
    fc.property(problemArb, (p) => assertFair(p, fairShareGeneral(p))),
    { numRuns: 400, seed: 42 },
  );
});

test('property: the partition fast path agrees with the general solver', () => {
  // Affinity families that are pairwise identical or disjoint: pinned to one pCPU, or all pCPUs.
  const arb = fc.integer({ min: 1, max: 6 }).chain((pcpus) =>
    fc.record({
      pcpus: fc.constant(pcpus),
      unpinned: fc.boolean(),
      vcpus: fc.array(fc.record({ demand: fc.double({ min: 0, max: 1, noNaN: true }), pcpu: fc.integer({ min: 0, max: pcpus - 1 }) }), { minLength: 1, maxLength: 12 }),
    }),
  );
  fc.assert(
    fc.property(arb, ({ pcpus, unpinned, vcpus }) => {
      const all = Array.from({ length: pcpus }, (_, i) => i);
      const p = problem(vcpus.map((v) => v.demand), vcpus.map((v) => (unpinned ? all : [v.pcpu])), pcpus);
      const fast = fairShare(p);
      const general = fairShareGeneral(p);
      assertFair(p, fast);
      fast.received.forEach((x, v) => close(x, general.received[v]!, 1e-7, `vCPU ${v}`));
    }),
    { numRuns: 300, seed: 7 },
  );
});
