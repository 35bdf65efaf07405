// The drop-in's tie-break (src/cpu/away-from-other.ts): as balanced by the vCPUs' demand alone, away from other load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadsOf, planPlacement, spreadOf, type PlacementItem } from '../../src/cpu/placement.js';
import { awayFromOtherLoad } from '../../src/cpu/away-from-other.js';

const pinnedAt = (demands: number[], homes: number[]): PlacementItem[] => demands.map((demand, i) => ({ demand, home: homes[i], pinned: true }));

test('blind to other load, a vCPU left beside a host process moves where the demand spread stays as narrow (mix-147)', () => {
  // Four pCPUs, three vCPUs all on pCPU0 where a host process runs: the plan spreads two and leaves one home,
  // beside the process, although pCPU3 is empty and free of other load.
  const items = pinnedAt([1, 0.6, 0.3], [0, 0, 0]);
  const other = [0.46, 0, 0, 0];
  const plan = planPlacement(items, 4, 0.02).best;
  assert.ok(plan.assignment.includes(0), 'the plan keeps a vCPU on pCPU0');
  const away = awayFromOtherLoad(items, plan, 4, other);
  assert.ok(!away.assignment.includes(0), `nothing left beside the host process: ${away.assignment.join(',')}`);
  // The objective is unchanged: the spread of the vCPUs' demand (other load not counted) is no wider.
  assert.ok(spreadOf(loadsOf(items, away.assignment, 4)) <= plan.spread + 1e-9);
});

test('no move that widens the demand spread, and none without other load', () => {
  // Two pCPUs, both needed: moving off the host process's pCPU would pile both vCPUs on one.
  const items = pinnedAt([1, 1], [0, 1]);
  const plan = planPlacement(items, 2, 0.02).best;
  assert.deepEqual(awayFromOtherLoad(items, plan, 2, [0.5, 0]).assignment, plan.assignment);
  const three = pinnedAt([1, 0.5], [0, 0]);
  const p3 = planPlacement(three, 3, 0.02).best;
  assert.equal(awayFromOtherLoad(three, p3, 3, [0, 0, 0]), p3);
});
