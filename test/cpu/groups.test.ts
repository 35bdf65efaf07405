import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockBoundApart, groupedCandidates } from '../../src/cpu/groups.js';

test('clockBoundApart: true only when the clock-bound vCPUs and the rest run on disjoint, non-empty pCPU sets', () => {
  const cb = Uint8Array.from([1, 0, 0]);
  assert.equal(clockBoundApart([[0], [1], [1]], cb), true);
  assert.equal(clockBoundApart([[0], [0, 1], [1]], cb), false);
  assert.equal(clockBoundApart([[0, 1], [0, 1], [0, 1]], cb), false);
  assert.equal(clockBoundApart([[0], [1], [1]], Uint8Array.from([1, 1, 1])), false);
});

test('groupedCandidates: from a grouping in force (join), the clock-bound group may also take one of the rest, one at a time', () => {
  // vCPU 0 clock-bound; 1-3 elastic asking 0.3, 0.9, 1.0 on 2 pCPUs.
  const demands = [0.15, 0.3, 0.9, 1.0];
  const cb = Uint8Array.from([1, 0, 0, 0]);
  const homes = [0, 1, 1, 1];
  const key = (where: number[][]): string => where.map((w) => w.join('')).join(' ');
  const plain = groupedCandidates(demands, cb, homes, 2).map(key);
  assert.deepEqual(plain, ['0 1 1 1']);
  const joined = groupedCandidates(demands, cb, homes, 2, undefined, true).map(key);
  // The plain split first, then the group joined by each of the rest (least demanding first), never two at once.
  assert.deepEqual(joined, ['0 1 1 1', '0 0 1 1', '0 1 0 1', '0 1 1 0']);
});
