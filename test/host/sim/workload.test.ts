import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapeValue, workloadValue, type Workload } from '../../../src/host/sim/workload.js';
import { normalAt, uniformAt, uuidFromName } from '../../../src/host/sim/random.js';

test('steps hold the last value whose time has come', () => {
  const w: Workload = { kind: 'steps', points: [[10, 0.2], [20, 0.8]] };
  assert.equal(shapeValue(w, 0), 0.2);
  assert.equal(shapeValue(w, 19.99), 0.2);
  assert.equal(shapeValue(w, 20), 0.8);
  assert.equal(shapeValue(w, 1000), 0.8);
});

test('ramps interpolate, stay flat outside, and jump on a repeated time', () => {
  const w: Workload = { kind: 'ramp', points: [[10, 100], [20, 300], [20, 50]] };
  assert.equal(shapeValue(w, 0), 100);
  assert.equal(shapeValue(w, 15), 200);
  assert.equal(shapeValue(w, 19.5), 290);
  assert.equal(shapeValue(w, 20), 50);
  assert.equal(shapeValue(w, 99), 50);
});

test('on/off duty cycles with a phase', () => {
  const w: Workload = { kind: 'onOff', periodSeconds: 10, onSeconds: 3, on: 1, off: 0.1, phaseSeconds: 5 };
  assert.equal(shapeValue(w, 5), 1);
  assert.equal(shapeValue(w, 7.9), 1);
  assert.equal(shapeValue(w, 8), 0.1);
  assert.equal(shapeValue(w, 2), 0.1);
  assert.equal(shapeValue(w, 15.5), 1);
});

test('noise is a function of seed, stream and time bucket, not of call order', () => {
  const w: Workload = { kind: 'constant', value: 0.5, noise: { sd: 0.1, everySeconds: 2 } };
  const a = workloadValue(w, 3.0, 1, 77);
  assert.equal(workloadValue(w, 2.5, 1, 77), a, 'same bucket, same value');
  assert.equal(workloadValue(w, 3.0, 1, 77), a, 'repeatable');
  assert.notEqual(workloadValue(w, 4.0, 1, 77), a, 'next bucket differs');
  assert.notEqual(workloadValue(w, 3.0, 2, 77), a, 'other seed differs');
  assert.notEqual(workloadValue(w, 3.0, 1, 78), a, 'other stream differs');
});

test('the seeded normal has mean 0 and sd 1, the uniform stays in [0, 1)', () => {
  let sum = 0;
  let squares = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const x = normalAt(3, 5, i);
    sum += x;
    squares += x * x;
    const u = uniformAt(3, 5, i);
    assert.ok(u >= 0 && u < 1);
  }
  assert.ok(Math.abs(sum / n) < 0.03, `mean ${sum / n}`);
  assert.ok(Math.abs(Math.sqrt(squares / n) - 1) < 0.03, `sd ${Math.sqrt(squares / n)}`);
});

test('UUIDs derived from names are stable and distinct', () => {
  assert.equal(uuidFromName('vm1'), uuidFromName('vm1'));
  assert.notEqual(uuidFromName('vm1'), uuidFromName('vm2'));
});
