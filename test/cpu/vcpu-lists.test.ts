// The scheduler's per-vCPU memory kept as lists beside their keys must behave as the Records it replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptEntries, keptValues, PreviousByKey } from '../../src/cpu/vcpu-lists.js';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState } from '../../src/cpu/scheduler.js';
import { defaultCpuSchedulerOptions } from '../../src/cpu/options.js';
import { measurementOf, vms } from './fixtures.js';
import fc from 'fast-check';
import { isVcpuKey, vcpuKey } from '../../src/cpu/usage.js';

test('last interval\'s entry is found by position, and by key once the order changed', () => {
  const previous = new PreviousByKey(['a/0', 'a/1', 'b/0'], [1, 2, 3]);
  assert.equal(previous.get('a/0', 0), 1);
  assert.equal(previous.aligned, true);
  assert.equal(previous.get('b/0', 1), 3);
  assert.equal(previous.get('c/0', 2), undefined);
  assert.equal(previous.aligned, false);
});

test('a key listed twice is kept once, with its last value, at its first place', () => {
  const kept = keptEntries(['a/0', 'b/0', 'a/0'], false);
  assert.deepEqual(kept, { keys: ['a/0', 'b/0'], from: [2, 1] });
  assert.deepEqual(keptValues(['first', 'b', 'last'], kept.from), ['last', 'b']);
  assert.deepEqual(keptEntries(['a/0', 'b/0'], false), { keys: ['a/0', 'b/0'], from: undefined });
});

test('a vCPU keeps its demand history and prediction when the host lists vCPUs in another order', () => {
  const options = { ...defaultCpuSchedulerOptions, persistIntervals: 1 };
  const list = vms([0.9, 0.3, 0.6, 0.1, 0.8], [0, 0, 1, 1, 1]);
  const first = decideCpu(measurementOf(2, list), initialCpuSchedulerState(), options);
  const second = measurementOf(2, list, [0.05, -0.05, 0.02, 0, 0.04]);
  const inOrder = decideCpu(second, first.state, options);
  const reordered = decideCpu({ ...second, vcpus: [...second.vcpus].reverse() }, JSON.parse(JSON.stringify(first.state)), options);
  const byKey = (keys: string[], values: readonly unknown[]): Record<string, unknown> => Object.fromEntries(keys.map((key, j) => [key, values[j]]));
  assert.deepEqual(byKey(reordered.state.vcpuKeys, reordered.state.vcpus), byKey(inOrder.state.vcpuKeys, inOrder.state.vcpus));
  assert.deepEqual(byKey(reordered.state.predicted!.keys, reordered.state.predicted!.shares), byKey(inOrder.state.predicted!.keys, inOrder.state.predicted!.shares));
  // Smoothed, not fresh: the history of the first interval was found.
  assert.ok(reordered.state.vcpus.every((h) => h.steps === 1));
});

test('isVcpuKey says exactly whether a key is vcpuKey of that vCPU (UUIDs, names, look-alikes)', () => {
  const part = fc.oneof(fc.constantFrom('', 'a', 'name:a', 'a/1', '1', '/'), fc.string({ maxLength: 6 }));
  fc.assert(
    fc.property(part, part, fc.integer({ min: -2, max: 12 }), part, part, fc.integer({ min: -2, max: 12 }), (uuid, name, vcpu, otherUuid, otherName, otherVcpu) => {
      const key = vcpuKey({ uuid: otherUuid, name: otherName }, otherVcpu);
      assert.equal(isVcpuKey(key, { uuid, name }, vcpu), key === vcpuKey({ uuid, name }, vcpu));
      assert.equal(isVcpuKey(vcpuKey({ uuid, name }, vcpu), { uuid, name }, vcpu), true);
    }),
    { numRuns: 2000 },
  );
});
