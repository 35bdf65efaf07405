import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fairSharesOf, sharePcpus, worstFractionOfFairShare } from '../../src/cpu/sharing.js';
import { predictShares } from '../../src/cpu/fairness.js';

test('four heavy + four light on 4 pCPUs: the heavy guest next to the biggest light one shares with the least crowded pCPU', () => {
  const demands = [0.95, 0.2, 1.0, 0.1, 0.9, 0.3, 0.97, 0.15];
  const assignment = [0, 0, 1, 1, 2, 2, 3, 3];
  const fair = fairSharesOf(demands, 4);
  const pinned = predictShares(demands.map((demand, i) => ({ demand, pcpus: [assignment[i]!] })), 4);
  assert.ok(worstFractionOfFairShare(demands, pinned, fair) < 0.9);
  const shared = sharePcpus(demands, assignment, 4, 0.95);
  assert.ok(shared.worstFractionOfFairShare >= 0.95, `worst ${shared.worstFractionOfFairShare}`);
  // Only the pCPU of the 0.9 + 0.3 pair and the one of the 1.0 + 0.1 pair are merged.
  assert.deepEqual(shared.sets, [[0], [1, 2], [3]]);
  assert.equal(shared.setOf[4], 1);
  assert.equal(shared.setOf[3], 1);
});

test('five busy vCPUs on four pCPUs end in one set of all pCPUs; a fair placement is left alone', () => {
  const shared = sharePcpus([1, 1, 1, 1, 1], [0, 0, 1, 2, 3], 4, 0.95);
  assert.deepEqual(shared.sets, [[0, 1, 2, 3]]);
  assert.ok(Math.abs(shared.worstFractionOfFairShare - 1) < 1e-9);
  const fair = sharePcpus([0.5, 0.5, 0.5, 0.5], [0, 0, 1, 1], 2, 0.95);
  assert.deepEqual(fair.sets, [[0], [1]]);
});

test('any pCPU count: one pCPU is one set; idle vCPUs never trigger a merge', () => {
  assert.deepEqual(sharePcpus([1, 0.5], [0, 0], 1, 0.95).sets, [[0]]);
  assert.deepEqual(sharePcpus([0, 0, 0], [0, 0, 1], 3, 0.95).sets, [[0], [1], [2]]);
});
