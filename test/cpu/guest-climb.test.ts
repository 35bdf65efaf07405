// The climb for the worst-served guest (guest-climb.ts) on mix-88's second phase, as the model reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestClimbCandidate, worstGuestFraction } from '../../src/cpu/guest-climb.js';
import { segregatedAssignment } from '../../src/cpu/learned-sharing.js';
import { hostRoom, summarizePlacement } from '../../src/cpu/placement-summary.js';
import { fairSharesOf } from '../../src/cpu/sharing.js';
import type { CandidateInput } from '../../src/cpu/candidates.js';

// g1/0, g2/0, g2/1, g2/2, g2/3, g3/0, g4/0, g4/1: busy ones read 1 (censored), g2/2 0.11, g4/1 bursty 0.47, learned clock-bound.
const demands = [1, 1, 1, 0.11, 1, 1, 1, 0.47];
const guestOf = [0, 1, 1, 1, 1, 2, 3, 3];
const clockBound = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1]);
const room = { ...hostRoom(2, undefined), clockBound };
const everywhere = [0, 1];
const input: CandidateInput = { demands, affinities: demands.map(() => everywhere), homes: demands.map(() => undefined), room, fair: fairSharesOf(demands, 2) };

test('mix-88: from segregation the climb reaches the placement that serves guest g4 through its busy vCPU', () => {
  const released = summarizePlacement(demands, input.affinities, room, input.fair);
  const segregate = segregatedAssignment(demands, clockBound, input.homes, 2);
  const segregated = summarizePlacement(demands, segregate.map((p) => [p]), room, input.fair);
  const climbed = guestClimbCandidate(input, guestOf, [segregate]);
  assert.ok(climbed);
  const worst = worstGuestFraction(input, climbed.candidate.predicted, guestOf);
  // Released: g4/1 crowded by seven busy vCPUs; segregated: g4/1 alone, its busy g4/0 crowded.
  assert.ok(worstGuestFraction(input, released, guestOf) < 0.8);
  assert.ok(worstGuestFraction(input, segregated, guestOf) < 0.65);
  assert.ok(worst > 0.9, `climbed to ${worst}`);
  const p = climbed.candidate.where.map((w) => w[0]!);
  // g4's two vCPUs, the small g2/2 and one single-vCPU busy guest (g1 or g3, alike to the model) on one pCPU, the other four on the other (the oracle's placement).
  const withG4 = p.map((q, i) => (q === p[7] ? i : -1)).filter((i) => i >= 0);
  assert.equal(withG4.length, 4);
  assert.ok([3, 6, 7].every((i) => withG4.includes(i)));
  assert.ok(withG4.includes(0) !== withG4.includes(5));
});

test('the climb is bounded: hosts beyond 4 pCPUs or 8 vCPUs are not climbed', () => {
  const big = { ...input, room: { ...hostRoom(5, undefined), clockBound } };
  assert.equal(guestClimbCandidate(big, guestOf, [demands.map((_, i) => i % 5)]), undefined);
  const nine = [...demands, 1];
  const many: CandidateInput = { demands: nine, affinities: nine.map(() => everywhere), homes: nine.map(() => undefined), room: { ...room, clockBound: Uint8Array.from([...clockBound, 0]) }, fair: fairSharesOf(nine, 2) };
  assert.equal(guestClimbCandidate(many, [...guestOf, 4], [nine.map((_, i) => i % 2)]), undefined);
});
