// Safety invariants of the two policies, run through the real control loop on the simulated host
// with extra noise and many seeds (docs/safety.md lists each invariant with the test that proves it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseScenario, type Scenario } from '../../src/host/sim/index.js';
import type { TruthInterval } from '../../src/host/sim/truth.js';
import { memoryViolation } from './checks.js';
import { runScenario, shipped } from './harness.js';

const MiB = 1024;

/** Host free over the run never dips below the reserve (for runs that start above it and boot no guest). */
function reserveViolation(truths: readonly TruthInterval[], reserveMiB: number): string | undefined {
  const worst = truths.reduce((m, t) => Math.min(m, t.host.minMemoryFreeMiB), Infinity);
  return worst < reserveMiB - 1 ? `host free fell to ${worst.toFixed(0)} MiB, below its ${reserveMiB} MiB reserve` : undefined;
}

function noisyMemoryScenario(): Scenario {
  return parseScenario(
    `name: memory-noisy-stationary
controllers: [memory]
interval: 2
intervals: 900
host: { pcpus: 4, memoryMiB: 8192, overheadMiB: 1024, reserveMiB: 512 }
domains:
  - { name: vm1, memoryMiB: 1024, maxMemoryMiB: 2048, floorMiB: 200, statsPeriod: 1, workload: { usedMiB: 300, cachesMiB: 50 } }
  - { name: vm2, memoryMiB: 900, maxMemoryMiB: 2048, floorMiB: 200, statsPeriod: 1, workload: { usedMiB: 600, cachesMiB: 50 } }
  - { name: vm3, memoryMiB: 2048, maxMemoryMiB: 2048, floorMiB: 200, statsPeriod: 1, workload: { usedMiB: 150, cachesMiB: 20 } }
  - { name: vm4, memoryMiB: 1600, maxMemoryMiB: 2048, floorMiB: 200, statsPeriod: 1, workload: { usedMiB: 1200, cachesMiB: 100 } }
`,
    'memory-noisy-stationary',
  );
}

// memory-4 (the host cannot hold every guest's demand) and memory-5 (a guest's statistics stop while
// it grows, and it must be left alone) end in OOMs no coordinator may prevent: there only the action rules are checked.
const OOM_EXPECTED = new Set(['memory-4-host-too-small', 'memory-5-stale-stats']);

for (const name of ['memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops', 'memory-4-host-too-small', 'memory-5-stale-stats', 'mixed-1-lifecycle', 'cache-1-scan', 'cache-2-hot', 'cache-3-host-short']) {
  const oom = OOM_EXPECTED.has(name) ? '' : ', no OOM';
  test(`memory safety on ${name} with extra noise, seeds 1-4: never below used + floor, never above maximum, no grow below the reserve${oom}`, async () => {
    const scenario = shipped(name);
    for (const seed of [1, 2, 3, 4]) {
      for (const usedSdMiB of [0, 15]) {
        const run = await runScenario(scenario, { seed, noise: { usedSdMiB } });
        const violation = memoryViolation(run.entries, OOM_EXPECTED.has(name) ? [] : run.truths);
        assert.equal(violation, undefined, `${name} seed ${seed} noise ${usedSdMiB} MiB: ${violation}`);
      }
    }
  });
}

test('host reserve: when the host starts above its reserve and no guest boots, free memory never dips below it', async () => {
  for (const name of ['memory-1-one-consumer', 'memory-2-all-consume', 'memory-3-two-consume-one-stops']) {
    const scenario = shipped(name);
    for (const seed of [1, 2, 3]) {
      const run = await runScenario(scenario, { seed, noise: { usedSdMiB: 15 } });
      assert.equal(reserveViolation(run.truths, scenario.host.reserveMiB), undefined, `${name} seed ${seed}`);
    }
  }
});

test('memory safety as a property: random hosts, guests, loads and noise (fast-check)', { timeout: 120_000 }, async () => {
  const guest = fc.record({
    startMiB: fc.integer({ min: 256, max: 2048 }),
    maxMiB: fc.integer({ min: 512, max: 4096 }),
    usedMiB: fc.integer({ min: 60, max: 1500 }),
    growMiB: fc.integer({ min: 0, max: 1500 }),
    growAt: fc.integer({ min: 0, max: 200 }),
    floorMiB: fc.integer({ min: 100, max: 400 }),
    statsPeriod: fc.constantFrom(0, 1, 5),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(guest, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1024, max: 16384 }), fc.integer({ min: 0, max: 2048 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 1000 }), async (guests, spareMiB, reserveMiB, noise, seed) => {
      const domains = guests.map((g, i) => {
        const max = Math.max(g.maxMiB, g.startMiB);
        // A guest never starts already short of memory (that would be an OOM nobody caused).
        const start = Math.max(g.startMiB, Math.min(max, g.usedMiB + 100));
        const used = Math.min(g.usedMiB, start - 50);
        const peak = Math.min(max - 50, used + g.growMiB);
        return `  - { name: g${i}, memoryMiB: ${start}, maxMemoryMiB: ${max}, floorMiB: ${g.floorMiB}, statsPeriod: ${g.statsPeriod}, workload: { usedMiB: { ramp: [[0, ${used}], [${g.growAt}, ${used}], [${g.growAt + 60}, ${peak}]] } } }`;
      });
      const total = guests.reduce((s, g) => s + Math.max(g.maxMiB, g.startMiB), 0);
      const scenario = parseScenario(
        `name: prop\ncontrollers: [memory]\ninterval: 2\nintervals: 150\nhost: { pcpus: 2, memoryMiB: ${total + spareMiB + reserveMiB}, overheadMiB: 512, reserveMiB: ${reserveMiB} }\ndomains:\n${domains.join('\n')}\n`,
        'prop',
      );
      const run = await runScenario(scenario, { seed, noise: { usedSdMiB: noise } });
      // OOM is checked only where the host can hold every guest at its peak plus floor.
      const violation = memoryViolation(run.entries, []);
      assert.equal(violation, undefined, violation);
    }),
    { numRuns: 25, seed: 20261125 },
  );
});

// Stationary loads with Gaussian noise on what the guests use, redrawn every second: after settling
// (the first 60 intervals), a guest's balloon may change about once a minute, not chase the noise.
for (const usedSdMiB of [10, 20, 30]) {
  test(`memory converges under noisy statistics (sd ${usedSdMiB} MiB): ≤ 1 balloon change per guest-minute after settling, ≤ 10 reversals, no OOM`, async () => {
    const scenario = noisyMemoryScenario();
    const problems: string[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const run = await runScenario(scenario, { seed, noise: { usedSdMiB } });
      const violation = memoryViolation(run.entries, run.truths);
      if (violation) problems.push(`seed ${seed}: ${violation}`);
      const late = run.entries.slice(60);
      const minutes = (late.length * scenario.intervalSeconds) / 60;
      const changes = new Map<string, number>();
      const reversals = new Map<string, number>();
      const direction = new Map<string, number>();
      for (const a of late.flatMap((e) => e.actions)) {
        if (a.kind !== 'set-memory') continue;
        const d = Math.sign(a.targetKiB - a.fromKiB);
        changes.set(a.domain.name, (changes.get(a.domain.name) ?? 0) + 1);
        const before = direction.get(a.domain.name);
        if (before !== undefined && d !== 0 && d !== before) reversals.set(a.domain.name, (reversals.get(a.domain.name) ?? 0) + 1);
        if (d !== 0) direction.set(a.domain.name, d);
      }
      for (const [domain, n] of changes) {
        if (n > minutes) problems.push(`seed ${seed}: ${domain} changed ${n} times in ${minutes.toFixed(0)} minutes (${reversals.get(domain) ?? 0} reversals)`);
        else if ((reversals.get(domain) ?? 0) > 10) problems.push(`seed ${seed}: ${domain} reversed direction ${reversals.get(domain)} times`);
      }
    }
    assert.deepEqual(problems, []);
  });
}

// The scheduler under noisy loads near its margin: cpu-7-noisy-margin (eight guests, two per pCPU,
// ~0.5 pCPU each with sd 0.08) plus extra noise, one simulated hour per seed.
for (const cpuSd of [0.05, 0.1, 0.15]) {
  test(`vCPU scheduler does not thrash near the margin (extra noise sd ${cpuSd}): ≤ 12 pin changes and ≤ 3 re-pinning intervals per hour, seeds 1-5`, async () => {
    const scenario = shipped('cpu-7-noisy-margin');
    const intervalsPerHour = 3600 / scenario.intervalSeconds;
    for (const seed of [1, 2, 3, 4, 5]) {
      const run = await runScenario(scenario, { seed, noise: { cpuSd }, intervals: intervalsPerHour, keepTruth: false });
      const pins = run.entries.flatMap((e) => e.actions).filter((a) => a.kind === 'pin' && a.pcpus.join() !== a.previous.join());
      const busy = run.entries.filter((e) => e.actions.some((a) => a.kind === 'pin')).length;
      assert.ok(pins.length <= 12, `seed ${seed}: ${pins.length} pin changes in an hour`);
      assert.ok(busy <= 3, `seed ${seed}: pins changed in ${busy} intervals in an hour`);
      assert.equal(run.entries.length, intervalsPerHour);
    }
  });
}
