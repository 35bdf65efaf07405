import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextLevelKiB, noiseAllowanceKiB, noiseResidualKiB, noiseSigmaKiB, residualsAfter } from '../../src/memory/noise.js';
import { estimateGrowth, type UsageSample } from '../../src/memory/growth.js';
import { assessReclaim } from '../../src/memory/reclaim.js';
import type { GuestAssessment } from '../../src/memory/assessment.js';
import { defaultMemoryOptions } from '../../src/memory/coordinator.js';
import { BalloonWorld, MiB, consumer, resetLows, setMemoryActions } from './balloon-driver.js';

/** Deterministic standard normal value number k of stream `seed` (mulberry32 + Box-Muller). */
function normalAt(seed: number, k: number): number {
  const uniform = (n: number): number => {
    let t = (seed * 0x9e3779b1 + n * 0x6d2b79f5) | 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Math.sqrt(-2 * Math.log(uniform(2 * k))) * Math.cos(2 * Math.PI * uniform(2 * k + 1));
}

const samplesOf = (usedMiB: (i: number) => number, n: number, spacing = 2): UsageSample[] =>
  Array.from({ length: n }, (_, i) => ({ atSeconds: 1000 + i * spacing, usedKiB: usedMiB(i) * MiB, source: 'available' as const }));

/** σ the coordinator would estimate from these readings, MiB (window 60; triples that change beyond the noise left out). */
function sigmaOf(samples: readonly UsageSample[]): number {
  const o = defaultMemoryOptions;
  let residuals: number[] = [];
  for (let i = 3; i <= samples.length; i++) residuals = residualsAfter(residuals, noiseSigmaKiB(residuals), samples.slice(0, i), o.minChangeMiB * MiB, o.noiseSigmas, o.noiseWindow);
  return noiseSigmaKiB(residuals) / MiB;
}

test('noise estimate: Gaussian noise within 20 %, a steady ramp of any rate reads as none, a load step barely moves it', () => {
  for (const seed of [1, 2, 3]) {
    const sigma = sigmaOf(samplesOf((i) => 300 + 30 * normalAt(seed, i), 61));
    assert.ok(Math.abs(sigma - 30) <= 6, `seed ${seed}: σ ${sigma.toFixed(1)} MiB for 30`);
    // Noise measured before a climb stands through it; the climb's own wiggles are not added.
    const onRamp = sigmaOf(samplesOf((i) => 300 + (i < 30 ? 0 : 80 * (i - 30)) + 15 * normalAt(seed, i), 61));
    assert.ok(Math.abs(onRamp - 15) <= 4, `seed ${seed}: σ on a ramp ${onRamp.toFixed(1)} MiB for 15`);
    const stepped = sigmaOf(samplesOf((i) => (i < 30 ? 1500 : 200) + 20 * normalAt(seed, i), 61));
    assert.ok(stepped <= 24, `seed ${seed}: σ across a 1.3 GiB drop ${stepped.toFixed(1)} MiB for 20`);
  }
  assert.equal(sigmaOf(samplesOf((i) => 150 + 40 * i, 61)), 0, 'a steady ramp is not noise');
  assert.equal(sigmaOf(samplesOf((i) => 150 + 120 * i, 61, 3)), 0);
  assert.equal(noiseSigmaKiB([]), 0, 'no estimate without readings');
  // A real consumer (CI, a TCG guest): 30 MiB/s in jerks of 0-120 MiB per 2 s reading, a hold,
  // everything freed, then flat. Its use wiggles by 1 MiB when flat; the jerks are growth, not noise.
  const jerks = [60, 0, 120, 20, 100, 60, 60, 0, 130, 50, 70, 40, 80, 0, 110, 60];
  const jerky = (i: number): number => {
    const flat = 113 + (i % 3) - 1;
    if (i < 4) return flat;
    const climbed = jerks.slice(0, Math.min(i - 4, jerks.length)).reduce((sum, step) => sum + step, 0);
    if (i < 4 + jerks.length + 6) return flat + climbed;
    return flat + 5;
  };
  const afterRelease = sigmaOf(samplesOf(jerky, 4 + jerks.length + 6 + 10));
  assert.ok(afterRelease <= 2, `σ ${afterRelease.toFixed(1)} MiB after a jerky climb and its release on a quiet guest`);
  // Uneven spacing: the residual of a ramp is still zero.
  assert.equal(noiseResidualKiB([{ atSeconds: 0, usedKiB: 0 }, { atSeconds: 1, usedKiB: 40 }, { atSeconds: 4, usedKiB: 160 }]), 0);
});

test('level of use: averages readings within the noise, restarts at a real change; the allowance sizes for level + 2σ', () => {
  const sigma = 30 * MiB;
  let level = nextLevelKiB(undefined, 300 * MiB, sigma, 0.25);
  level = nextLevelKiB(level, 340 * MiB, sigma, 0.25);
  assert.equal(level, 310 * MiB, 'a reading within the noise moves the level by a quarter');
  level = nextLevelKiB(level, 900 * MiB, sigma, 0.25);
  assert.equal(level, 900 * MiB, 'a reading 4σ away restarts it');
  assert.equal(nextLevelKiB(300 * MiB, 301 * MiB, 0, 0.25), 301 * MiB, 'without noise the level is the reading');
  assert.equal(noiseAllowanceKiB(280 * MiB, 300 * MiB, sigma, 2), 80 * MiB, 'a low reading is sized for level + 2σ');
  assert.equal(noiseAllowanceKiB(400 * MiB, 300 * MiB, sigma, 2), 0, 'a reading above level + 2σ is used as it is');
  assert.equal(noiseAllowanceKiB(280 * MiB, 300 * MiB, 0, 2), 0, 'no allowance without noise');
});

test('growth under noise: a flat guest with σ 30 MiB shows no growth in any window; a 40 MiB/s consumer with σ 15 MiB is seen at nearly its rate', () => {
  const noise = { sigmaKiB: 30 * MiB, sigmas: defaultMemoryOptions.noiseSigmas };
  let falseAlarms = 0;
  let plainAlarms = 0;
  for (const seed of [1, 2, 3, 4, 5]) {
    const flat = samplesOf((i) => 300 + 30 * normalAt(seed, i), 400);
    for (let i = 5; i <= flat.length; i++) {
      const window = flat.slice(i - 5, i);
      // 40 MiB over the 4 s horizon: enough to push a guest resting ~60 MiB above its grow threshold over it.
      if (estimateGrowth(window, MiB, noise).kibPerSecond * 4 > 40 * MiB) falseAlarms++;
      if (estimateGrowth(window, MiB).kibPerSecond * 4 > 40 * MiB) plainAlarms++;
    }
  }
  assert.ok(plainAlarms > 50, `without the noise test only ${plainAlarms} windows read growth worth 40 MiB over the horizon`);
  assert.ok(falseAlarms <= 10, `${falseAlarms} of ~2000 noisy windows read growth worth 40 MiB over the horizon`);
  for (const seed of [1, 2, 3]) {
    const ramp = samplesOf((i) => 300 + 80 * i + 15 * normalAt(seed, i), 5);
    const g = estimateGrowth(ramp, MiB, { sigmaKiB: 15 * MiB, sigmas: defaultMemoryOptions.noiseSigmas });
    assert.ok(g.kibPerSecond >= 30 * MiB, `seed ${seed}: ${(g.kibPerSecond / MiB).toFixed(1)} MiB/s (${g.basis})`);
  }
});

function assessment(over: Partial<GuestAssessment>): GuestAssessment {
  return {
    ref: { name: 'g', uuid: 'u' },
    actualKiB: 900 * MiB,
    maximumKiB: 2048 * MiB,
    unusedKiB: 300 * MiB,
    usedKiB: 600 * MiB,
    noiseAllowanceKiB: 0,
    noiseSigmaKiB: 0,
    floorKiB: 200 * MiB,
    minActualKiB: 200 * MiB,
    growthKiBps: 0,
    growthBasis: '',
    horizonSeconds: 4,
    committedKiB: 900 * MiB,
    weight: 1,
    reclaiming: false,
    wasteSeen: false,
    settled: true,
    ...over,
    // A guest without MemAvailable: what it cannot drop is all it uses.
    anonKiB: over.anonKiB ?? over.usedKiB ?? 600 * MiB,
  };
}

test('reclaim under noise: waste within the noise needs a second reading, waste far beyond counts at once, excess within one σ is left', () => {
  const o = defaultMemoryOptions;
  // σ 30 MiB, 2σ allowance 60 MiB: unused 400 leaves 340 beyond the allowance, 40 MiB over the
  // 300 MiB waste threshold — less than 3σ, so it could be noise.
  const near = { actualKiB: 1000 * MiB, usedKiB: 600 * MiB, unusedKiB: 400 * MiB, noiseSigmaKiB: 30 * MiB, noiseAllowanceKiB: 60 * MiB, committedKiB: 1000 * MiB };
  const first = assessReclaim(assessment(near), o, 'gradual');
  assert.equal(first.proposal, undefined);
  assert.deepEqual([first.reclaiming, first.wasteSeen], [false, true]);
  const second = assessReclaim(assessment({ ...near, wasteSeen: true }), o, 'gradual');
  assert.ok(second.proposal, 'confirmed on the second reading');
  assert.match(second.proposal.why, /340 MiB after its 60 MiB noise allowance, > 300 MiB waste threshold on two readings/);
  assert.equal(second.proposal.targetKiB, 1000 * MiB - 70 * MiB, 'half of the 140 MiB above used + noise + floor');
  const far = assessReclaim(assessment({ ...near, actualKiB: 1400 * MiB, unusedKiB: 800 * MiB, committedKiB: 1400 * MiB }), o, 'gradual');
  assert.ok(far.proposal, 'waste far beyond the noise counts at once');
  // In a run, excess smaller than one σ is not taken: it is within what the next reading may ask back.
  const small = assessReclaim(assessment({ actualKiB: 885 * MiB, unusedKiB: 285 * MiB, noiseSigmaKiB: 30 * MiB, noiseAllowanceKiB: 60 * MiB, reclaiming: true, usedKiB: 600 * MiB }), o, 'gradual');
  assert.equal(small.proposal, undefined, '25 MiB above the need is within σ 30 MiB');
  assert.equal(small.reclaiming, false);
  // Without noise the same 25 MiB is worth taking.
  const quiet = assessReclaim(assessment({ actualKiB: 825 * MiB, unusedKiB: 225 * MiB, reclaiming: true }), o, 'gradual');
  assert.equal(quiet.proposal?.targetKiB, 800 * MiB);
});

/** Real use with Gaussian noise redrawn every second. */
const noisyUse = (base: number, sd: number, seed: number) => (t: number): number => base + sd * normalAt(seed, Math.floor(t));

for (const seed of [1, 2, 3]) {
  test(`a guest whose use jitters with σ 35 MiB settles and then changes its balloon at most every 2 minutes, without OOM (seed ${seed})`, () => {
    const world = new BalloonWorld(
      [{ name: 'jittery', actualMiB: 1200, maximumMiB: 2048, used: noisyUse(400, 35, seed), reservedMiB: 40 }],
      8192,
      undefined,
      2,
      seed,
    );
    world.run(60);
    resetLows(world);
    const records = world.run(600);
    const changes = records.flatMap((r) => setMemoryActions(r.decision));
    assert.ok(changes.length <= 10, `${changes.length} balloon changes in 20 minutes: ${changes.map((c) => c.reason).join('\n')}`);
    const actual = world.guest('jittery').actualKiB / MiB;
    assert.ok(actual >= 400 + 40 + 200 && actual <= 400 + 40 + 200 + 5 * 35, `settled at ${actual.toFixed(0)} MiB`);
    assert.equal(world.oomEvents, 0);
  });
}

test('a load that stops on a noisy guest is still reclaimed within 10 intervals', () => {
  const stop = 60;
  const base = consumer(150, 5, 80, 1800, stop);
  const world = new BalloonWorld(
    [{ name: 'burst', actualMiB: 512, maximumMiB: 2048, used: (t) => base(t) + 15 * normalAt(7, Math.floor(t)), reservedMiB: 40 }],
    8192,
  );
  world.run(stop);
  assert.ok(world.guest('burst').actualKiB >= 1800 * MiB, 'grew during the load');
  world.run(10);
  const actual = world.guest('burst').actualKiB / MiB;
  // Within 10 % of used + floor, the score's reclaim criterion (used 150 + reserved 40 + floor 200).
  assert.ok(actual <= 1.1 * (150 + 40 + 200), `after 10 intervals at ${actual.toFixed(0)} MiB`);
  assert.equal(world.oomEvents, 0);
});

test('room for a re-read: gradual reclaim leaves anon + the margin, idle-tax takes it', () => {
  const o = defaultMemoryOptions;
  // A guest with 150 MiB anon and 700 MiB of cold cache that it read whole, at 200 MiB/s.
  const cache = { cacheKiB: 700 * MiB, hotKiB: 0, coldKiB: 700 * MiB, freeKiB: 0, coldStepKiB: 32 * MiB };
  const g = assessment({ actualKiB: 600 * MiB, committedKiB: 600 * MiB, usedKiB: 150 * MiB, anonKiB: 150 * MiB, unusedKiB: 450 * MiB, cache, reclaiming: true, rereadMarginKiB: 400 * MiB });
  const gradual = assessReclaim(g, o, 'gradual');
  assert.ok(gradual.proposal, 'still 50 MiB above anon + 400 MiB');
  assert.ok(gradual.proposal.targetKiB >= 550 * MiB, `target ${gradual.proposal.targetKiB / MiB} MiB`);
  assert.match(gradual.proposal.why, /at least anon 150 \+ room to re-read a recent read 400 MiB\)/);
  const settled = assessReclaim({ ...g, actualKiB: 560 * MiB, committedKiB: 560 * MiB }, o, 'gradual');
  assert.equal(settled.proposal, undefined, 'within the band of anon + margin: left alone');
  const short = assessReclaim(g, o, 'idle-tax', 'host short');
  assert.equal(short.proposal?.targetKiB, 350 * MiB, 'the host short: anon + floor');
});
