import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLever, RETRY_SECONDS, STUCK_SECONDS, type LeverInput } from '../../src/memory/lever.js';
import type { ResizeMemoryDeviceAction, SetMemoryAction } from '../../src/ground/actions.js';
import { assessStarvation } from '../../src/memory/starvation.js';
import { defaultMemoryOptions } from '../../src/memory/options.js';
import type { GuestAssessment } from '../../src/memory/assessment.js';

const MiB = 1024;
const UNPLUG_AFTER_SECONDS = defaultMemoryOptions.unplugAfterSeconds;
const S = 1e9;
const ref = { name: 'vm1', uuid: 'u1' };

/** vm1: 512 MiB boot, 3 GiB device of 2 MiB blocks, `plugged` plugged (and requested), balloon holding `held`. */
function input(over: Partial<LeverInput> & { plugged?: number; requested?: number; held?: number; target?: number }): LeverInput {
  const plugged = (over.plugged ?? 0) * MiB;
  const requested = (over.requested ?? over.plugged ?? 0) * MiB;
  const ceilingKiB = 512 * MiB + plugged;
  const currentKiB = ceilingKiB - (over.held ?? 0) * MiB;
  const proposal: SetMemoryAction | undefined = over.target === undefined
    ? undefined
    : { kind: 'set-memory', domain: ref, fromKiB: currentKiB, targetKiB: over.target * MiB, reason: `why: ${currentKiB / MiB} → ${over.target} MiB`, cause: 'why' };
  return {
    ref,
    nowNs: 0,
    device: { bootKiB: 512 * MiB, sizeKiB: 3072 * MiB, blockKiB: 2 * MiB, requestedKiB: requested, currentKiB: plugged, devices: 1 } as LeverInput['device'],
    currentKiB,
    ceilingKiB,
    ...(proposal && { proposal }),
    vetoKiB: 300 * MiB,
    hostShort: false,
    minChangeKiB: 4 * MiB,
    unplugAfterSeconds: UNPLUG_AFTER_SECONDS,
    ...over,
  };
}
const resizes = (a: readonly { kind: string }[]) => a.filter((x): x is ResizeMemoryDeviceAction => x.kind === 'resize-memory-device');
const balloons = (a: readonly { kind: string }[]) => a.filter((x): x is SetMemoryAction => x.kind === 'set-memory');

test('growth above boot + plugged is plugged, rounded up to whole blocks, and the balloon deflates with it', () => {
  const d = chooseLever(input({ plugged: 100, held: 50, target: 1001 }), {});
  const [r] = resizes(d.actions);
  assert.equal(r!.requestedKiB, 490 * MiB, '1001 − 512 = 489 MiB, rounded up to 2 MiB blocks');
  assert.match(r!.reason, /^why; plugged.*virtio-mem 100 → 490 MiB requested \(100 MiB plugged, boot 512 MiB, block 2 MiB, size 3072 MiB\)/);
  const [b] = balloons(d.actions);
  assert.equal(b!.targetKiB, 612 * MiB, 'deflated to boot + plugged');
});

test('never plugged above the device size', () => {
  const d = chooseLever(input({ plugged: 3000, target: 5000 }), {});
  assert.equal(resizes(d.actions)[0]!.requestedKiB, 3072 * MiB);
});

test('growth within boot + plugged is the balloon, as for any guest', () => {
  const d = chooseLever(input({ plugged: 1000, held: 200, target: 1400 }), {});
  assert.deepEqual(resizes(d.actions), []);
  assert.equal(balloons(d.actions)[0]!.targetKiB, 1400 * MiB);
});

test('shrinking unplugs only what stayed unneeded for a while, never below anonymous use + floor', () => {
  let state = chooseLever(input({ plugged: 2000, target: 800 }), {}).state;
  assert.ok(state.unneededSinceNs !== undefined);
  const early = chooseLever(input({ plugged: 2000, target: 800, nowNs: (UNPLUG_AFTER_SECONDS - 2) * S }), state);
  assert.deepEqual(early.actions, [], 'neither lever before the while is up (no gradual balloon shrink of plugged memory)');
  state = early.state;
  const due = chooseLever(input({ plugged: 2000, target: 400, vetoKiB: 700 * MiB, nowNs: UNPLUG_AFTER_SECONDS * S }), state);
  const [r] = resizes(due.actions);
  assert.equal(r!.requestedKiB, 188 * MiB, 'keeps anon + floor 700 MiB: 700 − 512 = 188 MiB plugged');
  assert.match(r!.reason, new RegExp(`unneeded for ${UNPLUG_AFTER_SECONDS} s.*anonymous \\+ floor 700 MiB`));
  assert.deepEqual(balloons(due.actions), []);
});

test('once the while is up, one unplug down to what the guest needs (+ half a band), not the balloon\'s halving step', () => {
  const s0 = chooseLever(input({ plugged: 2500, target: 1900, unplugKeepKiB: 390 * MiB }), {}).state;
  const due = chooseLever(input({ plugged: 2500, target: 1900, unplugKeepKiB: 390 * MiB, nowNs: UNPLUG_AFTER_SECONDS * S }), s0);
  const [r] = resizes(due.actions);
  assert.equal(r!.requestedKiB, 0, 'keeps 390 MiB usable: all within the 512 MiB boot memory');
  assert.match(r!.reason, /need \+ half a band 390 MiB/);
  const later = chooseLever(input({ plugged: 2500, target: 1900, unplugKeepKiB: 390 * MiB, unplugAfterSeconds: 10, nowNs: 10 * S }), s0);
  assert.equal(resizes(later.actions)[0]!.requestedKiB, 0, 'the while is an option (memory.unplugAfter)');
  const short = chooseLever(input({ plugged: 2500, target: 2000, vetoKiB: 2300 * MiB, unplugKeepKiB: 390 * MiB, nowNs: UNPLUG_AFTER_SECONDS * S }), s0);
  assert.equal(resizes(short.actions)[0]!.requestedKiB, 1788 * MiB, 'never below anonymous + floor 2300 MiB');
});

test('a plug does not delay the next unplug; an unplug delays the next one by RETRY_SECONDS', () => {
  // Plugged at t=0 (growth), freed right after: the unplug comes after the while, not a minute after the plug.
  const plug = chooseLever(input({ plugged: 2000, target: 2700 }), {});
  assert.equal(resizes(plug.actions).length, 1);
  let state = chooseLever(input({ plugged: 2700, target: 1800, unplugKeepKiB: 390 * MiB, nowNs: 2 * S }), plug.state).state;
  const due = chooseLever(input({ plugged: 2700, target: 1800, unplugKeepKiB: 390 * MiB, nowNs: (2 + UNPLUG_AFTER_SECONDS) * S }), state);
  assert.equal(resizes(due.actions)[0]!.requestedKiB, 0);
  state = chooseLever(input({ plugged: 1000, target: 900, unplugKeepKiB: 390 * MiB, nowNs: (4 + UNPLUG_AFTER_SECONDS) * S }), due.state).state;
  const again = chooseLever(input({ plugged: 1000, target: 900, unplugKeepKiB: 390 * MiB, nowNs: (4 + 2 * UNPLUG_AFTER_SECONDS) * S }), state);
  assert.deepEqual(resizes(again.actions), [], `no second unplug within ${RETRY_SECONDS} s of the first`);
});

test('a proposal that grows again resets the while', () => {
  const s1 = chooseLever(input({ plugged: 2000, target: 800 }), {}).state;
  const s2 = chooseLever(input({ plugged: 2000, held: 100, target: 2450, nowNs: 10 * S }), s1).state;
  assert.equal(s2.unneededSinceNs, undefined);
});

test('when the host is short the balloon squeezes, never to or below what is plugged', () => {
  const d = chooseLever(input({ plugged: 1000, target: 600, hostShort: true }), {});
  const [b] = balloons(d.actions);
  assert.equal(b!.targetKiB, 1004 * MiB, 'held just above the 1000 MiB plugged');
  assert.match(b!.reason, /^why: 1512 → 1004 MiB \(held above the 1000 MiB plugged: unplugging does the rest\)$/, 'the cause re-rendered with the held target');
  const above = chooseLever(input({ plugged: 200, target: 600, hostShort: true }), {});
  assert.equal(balloons(above.actions)[0]!.targetKiB, 600 * MiB);
});

test('with nothing plugged the balloon shrinks the boot memory once it has stayed unneeded for the while; at once when the host is short', () => {
  const first = chooseLever(input({ plugged: 0, target: 400 }), {});
  assert.deepEqual(first.actions, [], 'not at first sight: a guest booted at floor + a little keeps that little to grow into');
  const early = chooseLever(input({ plugged: 0, target: 400, nowNs: (UNPLUG_AFTER_SECONDS - 2) * S }), first.state);
  assert.deepEqual(early.actions, []);
  const due = chooseLever(input({ plugged: 0, target: 400, nowNs: UNPLUG_AFTER_SECONDS * S }), early.state);
  assert.equal(balloons(due.actions)[0]!.targetKiB, 400 * MiB);
  assert.deepEqual(resizes(due.actions), []);
  const grows = chooseLever(input({ plugged: 0, held: 100, target: 450, nowNs: (UNPLUG_AFTER_SECONDS + 2) * S }), due.state);
  assert.equal(grows.state.unneededSinceNs, undefined, 'a growth resets the while');
  const short = chooseLever(input({ plugged: 0, target: 400, hostShort: true }), {});
  assert.equal(balloons(short.actions)[0]!.targetKiB, 400 * MiB, 'a squeeze does not wait');
});

test('an unplug under way below anonymous use + floor (an operator asked for 0) is held there at once', () => {
  const d = chooseLever(input({ plugged: 2048, requested: 0, vetoKiB: 1700 * MiB }), {});
  const [r] = resizes(d.actions);
  assert.equal(r!.requestedKiB, 1188 * MiB, 'anon + floor 1700 MiB − boot 512 MiB');
  assert.match(r!.reason, /below anonymous \+ floor 1700 MiB: held/);
  assert.deepEqual(balloons(d.actions), []);
  const under = chooseLever(input({ plugged: 1100, requested: 0, vetoKiB: 1700 * MiB }), {});
  assert.equal(resizes(under.actions)[0]!.requestedKiB, 1100 * MiB, 'never a plug: at most what is plugged (the growth rule plugs the rest)');
  const above = chooseLever(input({ plugged: 2048, requested: 1500, vetoKiB: 1700 * MiB }), {});
  assert.deepEqual(resizes(above.actions), [], 'a request that leaves anon + floor usable goes on');
  // Our own unplug under way, read with anonymous use high (libvirt's <current> lags the guest's
  // MemTotal: plugged memory already gone still counts): not held, not plugged back.
  const ours = chooseLever(input({ plugged: 2560, requested: 0, vetoKiB: 1508 * MiB, target: 1700 }), { requestedKiB: 0 });
  assert.deepEqual(resizes(ours.actions), [], 'our own request is left to finish');
});

test('a partial unplug is accepted where it stopped and not fought: at most one resize a minute', () => {
  // Requested 0, stuck at 1024 MiB plugged (the guest cannot free more).
  const stuck = { plugged: 1024, requested: 0, target: 1400 };
  let state = chooseLever(input({ ...stuck }), {}).state;
  let t = 0;
  const times: number[] = [];
  for (; t <= 300; t += 2) {
    const d = chooseLever(input({ ...stuck, nowNs: t * S }), state);
    state = d.state;
    for (const r of resizes(d.actions)) {
      times.push(t);
      assert.equal(r.requestedKiB, 1024 * MiB, 'request set to what is plugged');
      assert.match(r.reason, /accepted where it stopped/);
    }
    assert.ok(balloons(d.actions).every((b) => b.targetKiB > 1024 * MiB), 'no balloon at or below plugged');
  }
  assert.ok(times.length >= 1 && times[0]! >= STUCK_SECONDS, `accepted after ${STUCK_SECONDS} s: ${times}`);
  for (let k = 1; k < times.length; k++) assert.ok(times[k]! - times[k - 1]! >= RETRY_SECONDS);
});

test('no unplug while an unplug is still under way', () => {
  const d = chooseLever(input({ plugged: 2000, requested: 1500, target: 800, nowNs: 500 * S }), { unneededSinceNs: 0 });
  assert.deepEqual(resizes(d.actions), []);
});

test('with room on the host a plug adds at least one 128 MiB memory block; when the host is short, only the target', () => {
  const roomy = chooseLever(input({ plugged: 0, target: 530 }), {});
  assert.equal(resizes(roomy.actions)[0]!.requestedKiB, 128 * MiB);
  const short = chooseLever(input({ plugged: 0, target: 530, hostShort: true }), {});
  assert.equal(resizes(short.actions)[0]!.requestedKiB, 18 * MiB);
});

test('a virtio-mem guest is grown (plugged) when its predicted unused memory falls below its whole floor, not half of it', () => {
  const g: GuestAssessment = {
    ref, actualKiB: 512 * MiB, maximumKiB: 3584 * MiB, unusedKiB: 201 * MiB, usedKiB: 311 * MiB, anonKiB: 291 * MiB,
    floorKiB: 200 * MiB, minActualKiB: 200 * MiB, noiseAllowanceKiB: 0, noiseSigmaKiB: 0, growthKiBps: 11 * MiB, growthBasis: 'slope over 3 readings',
    horizonSeconds: 4, committedKiB: 512 * MiB, weight: 1, reclaiming: false, wasteSeen: false, settled: true,
  };
  assert.equal(assessStarvation(g, defaultMemoryOptions).kind, 'fine', 'balloon-only: 201 − 44 MiB predicted is above the 100 MiB starvation threshold');
  const v = assessStarvation(g, defaultMemoryOptions, true);
  assert.equal(v.kind, 'grow');
  assert.match(v.kind === 'grow' ? v.proposal.why : '', /< 200 MiB plug threshold \(its floor\)/);
});

test('when the host is short, plugged memory a guest no longer needs is unplugged at once (the balloon cannot take it), beside the squeeze', () => {
  // 1770 MiB plugged, the balloon already holding 282 MiB; the guest freed to anon 90 + floor 200.
  const d = chooseLever(input({ plugged: 1770, held: 282, target: 290, vetoKiB: 290 * MiB, unplugKeepKiB: 340 * MiB, hostShort: true }), {});
  const [b] = balloons(d.actions);
  assert.equal(b!.targetKiB, 1774 * MiB, 'the squeeze, held just above what is plugged (+ the 4 MiB minimum change)');
  const [r] = resizes(d.actions);
  assert.equal(r!.requestedKiB, 286 * MiB, 'unplugged leaving anon + floor 290 MiB beside the 508 MiB the balloon will hold: 290 + 508 − 512');
  const again = chooseLever(input({ plugged: 1000, requested: 274, held: 496, target: 290, vetoKiB: 290 * MiB, hostShort: true, nowNs: 10 * S }), d.state);
  assert.deepEqual(resizes(again.actions), [], 'one unplug under way at a time, at most one a minute');
});
