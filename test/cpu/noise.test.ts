import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demandSigma, loadSigmaRms, noiseGainPoints, rangeFactor, updateHistory, type NoiseOptions, type VcpuHistory } from '../../src/cpu/noise.js';
import { seededRandom } from './fixtures.js';

const o: NoiseOptions = { demandSmoothing: 0.5, changeThreshold: 0.25, noisePrior: 0.03 };

function feed(values: number[], options = o): VcpuHistory {
  let h: VcpuHistory | undefined;
  for (const v of values) h = updateHistory(h, v, options);
  return h!;
}

test('a new vCPU starts at its reading with the prior noise', () => {
  const h = updateHistory(undefined, 0.4, o);
  assert.equal(h.demand, 0.4);
  assert.equal(h.fresh, true);
  assert.ok(Math.abs(demandSigma(h, o.demandSmoothing) - 0.03) < 1e-12);
});

test('the jitter estimate recovers the σ of normal noise', () => {
  const random = seededRandom(11);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  for (const sigma of [0.01, 0.05]) {
    const estimates: number[] = [];
    let h: VcpuHistory | undefined;
    for (let i = 0; i < 2000; i++) {
      h = updateHistory(h, 0.5 + sigma * gauss(), o);
      if (i > 50) estimates.push(demandSigma({ ...h, fresh: true }, 1));
    }
    const mean = estimates.reduce((a, b) => a + b, 0) / estimates.length;
    assert.ok(Math.abs(mean - sigma) < 0.15 * sigma, `σ ${sigma}: estimated ${mean}`);
  }
});

test('smoothing halves a step below the change threshold and restarts at a real change', () => {
  const small = feed([0.5, 0.5, 0.5, 0.7]);
  assert.ok(Math.abs(small.demand - 0.6) < 1e-12);
  assert.equal(small.changed, false);
  const big = feed([0.1, 0.1, 0.1, 0.9]);
  assert.equal(big.demand, 0.9);
  assert.equal(big.changed, true);
  assert.equal(big.fresh, true);
  // A real change counts toward the jitter at most by the threshold.
  assert.ok(big.jitter <= feed([0.1, 0.1, 0.1]).jitter + 0.25);
});

test('smoothed demand is quieter than a raw reading', () => {
  const h = feed([0.5, 0.52, 0.48, 0.51]);
  assert.ok(demandSigma(h, 0.5) < demandSigma({ ...h, fresh: true }, 0.5));
  assert.equal(demandSigma(h, 1), demandSigma({ ...h, fresh: true }, 1));
});

test('range factor grows with the pCPU count and matches the exact values for small hosts', () => {
  assert.equal(rangeFactor(1), 0);
  assert.ok(Math.abs(rangeFactor(4) - 2.06) < 0.2);
  assert.ok(Math.abs(rangeFactor(8) - 2.85) < 0.2);
  for (let p = 2; p < 300; p++) assert.ok(rangeFactor(p + 1) >= rangeFactor(p));
});

test('load noise: variances add per pCPU, an unpinned vCPU adds a fragment to each allowed pCPU', () => {
  // Two vCPUs of σ 0.03 on pCPU0, nothing on pCPU1: variance 0.0018 and 0, RMS √0.0009 = 0.03.
  assert.ok(Math.abs(loadSigmaRms([0.03, 0.03], [[0], [0]], 2) - 0.03) < 1e-12);
  // One vCPU of σ 0.04 over both pCPUs: 0.02 on each.
  assert.ok(Math.abs(loadSigmaRms([0.04], [[0, 1]], 2) - 0.02) < 1e-12);
  assert.ok(Math.abs(noiseGainPoints(0.02, 4, 3) - 2 * (rangeFactor(4) + 3)) < 1e-9);
});
