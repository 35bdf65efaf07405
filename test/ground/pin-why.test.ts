import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pinAction, renderPinReason, type PinWhy } from '../../src/ground/pin-why.js';

// The one place pin reason prose is asserted: everywhere else tests read the why's data.
const vm = { domain: { name: 'vm1' }, vcpu: 2 };
const spread = { before: 85.04, after: 3.26 };
const cases: [PinWhy, string][] = [
  [
    { rule: 'pins', from: { pcpus: [0] }, to: [3], figures: { strategy: 'sticky-lpt', demand: 0.9, spread, loads: [{ pcpu: 0, before: 3.2, after: 2.3 }, { pcpu: 3, before: 0, after: 0.9 }] } },
    'vm1 vCPU2 (demand 0.90): pCPU0 → pCPU3; pCPU0 demand 3.20 → 2.30, pCPU3 demand 0.00 → 0.90, spread 85 → 3.3 pts',
  ],
  [
    { rule: 'pins', from: { pcpus: [0, 1, 2, 3], on: 3 }, to: [3], figures: { strategy: 'lpt', demand: 1, spread, loads: [{ pcpu: 3, before: 1, after: 1 }], objective: 'balance' } },
    'vm1 vCPU2 (demand 1.00): unpinned (on pCPU3) → pCPU3; pCPU3 demand 1.00 → 1.00, spread 85 → 3.3 pts; objective balance',
  ],
  [
    { rule: 'shared', from: { pcpus: [0, 1, 2] }, to: [0, 1], figures: { strategy: 'share', demand: 0.5, spread, sharedBy: 4, worst: { pinned: 0.6, after: 0.97 }, off: [{ pcpu: 2, owner: 'db' }] } },
    'vm1 vCPU2 (demand 0.50): pCPUs 0-2 → pCPUs 0-1, shared by 4 vCPUs; pinned one per pCPU the worst-served vCPU would get 60 % of its fair share, sharing gives 97 %; spread 85 → 3.3 pts; off pCPU2 (dedicated to db)',
  ],
  [
    { rule: 'segregate', from: { pcpus: [1] }, to: [0], figures: { strategy: 'groups', demand: 0.3, spread, worst: { before: 0.5, after: 0.85 }, objective: 'fairness' } },
    'vm1 vCPU2 (demand 0.30): pCPU1 → pCPU0; learned clock-bound vCPUs kept apart from busy ones: the worst-served vCPU gets 50 % of its fair share now, 85 % after; spread 85 → 3.3 pts; objective fairness',
  ],
  [
    { rule: 'groups', from: { pcpus: [1] }, to: [0, 2], figures: { strategy: 'groups', demand: 0.3, spread, sharedBy: 3, worst: { before: 0.5, after: 0.85 }, objective: 'fairness' } },
    'vm1 vCPU2 (demand 0.30): pCPU1 → pCPUs 0,2, shared by 3 vCPUs; learned clock-bound vCPUs grouped apart from the others: the worst-served vCPU gets 50 % of its fair share now, 85 % after; spread 85 → 3.3 pts; objective fairness',
  ],
  [
    { rule: 'revert', from: { pcpus: [0, 1, 2, 3] }, to: [1], figures: { tried: { worstFraction: 0.7, usageSpreadPoints: 12.4, samples: 3 }, baseline: { worstFraction: 0.9, usageSpreadPoints: 4, samples: 3 } } },
    'vm1 vCPU2: back to pCPUs 1 (trial reverted): the tried placement delivered worst 70 % of fair share, usage spread 12 pts over 3 interval(s), the one before worst 90 % of fair share, usage spread 4 pts over 3 interval(s)',
  ],
  [
    { rule: 'probe', from: { pcpus: [0, 1] }, to: [0, 1, 2, 3], figures: { delivered: { worstFraction: 0.8, usageSpreadPoints: 20, samples: 2 } } },
    'vm1 vCPU2: pCPUs 0,1 → every pCPU (trial of the host scheduler alone): the placement in force delivered worst 80 % of fair share, usage spread 20 pts over 2 interval(s)',
  ],
  [
    { rule: 'dedicated', from: { pcpus: [0, 1, 2, 3] }, to: [2], figures: { demand: 0.95, busyIntervals: 3 } },
    'vm1 vCPU2 (demand 0.95): pCPUs 0-3 → pCPU2, dedicated: busy for 3 intervals; no other vCPU may run there until it idles',
  ],
  [
    { rule: 'off-dedicated', from: { pcpus: [2] }, to: [0, 1, 3], figures: { demand: 0.4, off: [{ pcpu: 2, owner: 'db' }] } },
    'vm1 vCPU2 (demand 0.40): pCPU2 → pCPUs 0-1,3; off pCPU2 (dedicated to db)',
  ],
];

test('renderPinReason says each rule as the log always has', () => {
  for (const [why, text] of cases) assert.equal(renderPinReason(vm, why), text, why.rule);
});

test('a pin action made by pinAction says its reason when read, in the log, in JSON and in a copy made with pinAction', () => {
  const [why, text] = cases[0]!;
  const domain = { name: 'vm1', uuid: 'u-1' };
  const action = pinAction({ domain, vcpu: 2 }, [3], [0], why);
  assert.equal(action.reason, text);
  assert.equal(action.reason, text, 'the same text when read again');
  assert.deepEqual(JSON.parse(JSON.stringify(action)), { kind: 'pin', domain, vcpu: 2, pcpus: [3], previous: [0], reason: text, why: JSON.parse(JSON.stringify(why)) });
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(action))), ['kind', 'domain', 'vcpu', 'pcpus', 'previous', 'reason', 'why'], 'the trace keeps the order it always had');
  const copy = pinAction(action, action.pcpus, action.previous, action.why!);
  assert.equal(copy.reason, text);
  assert.equal(`${action.domain.name}: ${action.reason}`, `vm1: ${text}`);
});
