import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jainIndex, placementFairness, predictShares, shareFairness, waterFill } from '../../src/cpu/fairness.js';

const near = (a: number | undefined, b: number): boolean => a !== undefined && Math.abs(a - b) < 1e-9;

test('water-filling gives a small demand all it asks and splits the rest evenly', () => {
  const shares = waterFill([1, 0.2, 1]);
  assert.ok(near(shares[1], 0.2));
  assert.ok(near(shares[0], 0.4) && near(shares[2], 0.4), String(shares));
});

test('water-filling property: feasible, never above demand, serves everyone when capacity allows, max-min fair', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), fc.double({ min: 0.1, max: 4, noNaN: true }), (demands, capacity) => {
      const shares = waterFill(demands, capacity);
      const total = shares.reduce((a, b) => a + b, 0);
      const wanted = demands.reduce((a, b) => a + b, 0);
      assert.ok(total <= capacity + 1e-9);
      shares.forEach((x, i) => assert.ok(x >= 0 && x <= (demands[i] ?? 0) + 1e-12));
      if (wanted <= capacity) assert.ok(Math.abs(total - wanted) < 1e-9);
      else assert.ok(Math.abs(total - capacity) < 1e-9);
      // Max-min: a vCPU short of its demand gets at least as much as anyone else.
      const top = Math.max(0, ...shares);
      shares.forEach((x, i) => {
        if (x < (demands[i] ?? 0) - 1e-9) assert.ok(x >= top - 1e-9);
      });
    }),
  );
});

test("Jain's index: 1 for equal values, 1/n when one takes all", () => {
  assert.equal(jainIndex([0.5, 0.5, 0.5]), 1);
  assert.ok(near(jainIndex([1, 0, 0, 0]), 0.25));
  assert.equal(jainIndex([]), 1);
});

test('three busy VMs on one pCPU beside one alone: equal usage, unequal shares', () => {
  const items = [
    { demand: 1, pcpus: [0] },
    { demand: 1, pcpus: [0] },
    { demand: 1, pcpus: [0] },
    { demand: 1, pcpus: [1] },
  ];
  const shares = predictShares(items, 2);
  assert.ok(near(shares[0], 1 / 3) && near(shares[3], 1));
  const unfair = placementFairness(items, 2);
  const fair = placementFairness(items.map((it, i) => ({ ...it, pcpus: [i % 2] })), 2);
  assert.ok(unfair < 0.9, `3-vs-1 fairness ${unfair}`);
  assert.ok(near(fair, 1));
});

test('an unpinned vCPU is modelled as an equal fragment on each allowed pCPU', () => {
  // Five busy vCPUs free on four pCPUs: the host scheduler gives each 0.8.
  const shares = predictShares(Array.from({ length: 5 }, () => ({ demand: 1, pcpus: [0, 1, 2, 3] })), 4);
  for (const x of shares) assert.ok(near(x, 0.8));
});

test('idle vCPUs do not count toward fairness', () => {
  assert.equal(shareFairness([1, 1, 0], [0.5, 0.5, 0]), 1);
});
