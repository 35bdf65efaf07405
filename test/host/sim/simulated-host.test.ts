import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BALLOON_DRIVER_LOAD_SECONDS, createSimulatedHost, SIM_EPOCH_SECONDS, type SimOptions, type SimulatedRun } from '../../../src/host/sim/simulated-host.js';
import { loadScenario, parseScenario } from '../../../src/host/sim/scenario.js';
import type { DomainObservation, HostObservation } from '../../../src/ground/hypervisor.js';

const SCENARIOS = fileURLToPath(new URL('../../../../scenarios/', import.meta.url));
const MiB = 1024;

/** A scenario with the given domains (YAML list items, indented by two) on a host of `pcpus`. */
function sim(domains: string, opts: SimOptions & { pcpus?: number; memoryMiB?: number; overheadMiB?: number; rate?: number; stepMs?: number } = {}): SimulatedRun {
  const text = `name: test
interval: 1
intervals: 10
${opts.stepMs ? `stepMs: ${opts.stepMs}\n` : ''}host:
  pcpus: ${opts.pcpus ?? 4}
  memoryMiB: ${opts.memoryMiB ?? 8192}
  overheadMiB: ${opts.overheadMiB ?? 0}
  balloonRateMiBps: ${opts.rate ?? 400}
domains:
${domains}`;
  return createSimulatedHost(parseScenario(text, 'test.yaml'), opts);
}

function dom(obs: HostObservation, name: string): DomainObservation {
  const d = obs.domains.find((x) => x.name === name);
  assert.ok(d, `domain ${name} observed`);
  return d;
}

const busyOn0 = (name: string, demand = 1): string => `  - { name: ${name}, memoryMiB: 512, pin: [0], workload: { cpu: ${demand} } }\n`;

test('three busy vCPUs on one pCPU: a third of the time each, the rest counted as delay, in ns', async () => {
  const { hypervisor, clock } = sim(busyOn0('a') + busyOn0('b') + busyOn0('c'));
  await clock.sleep(1000);
  const obs = await hypervisor.observe();
  assert.equal(obs.timeNs, 1_000_000_000);
  let total = 0;
  for (const name of ['a', 'b', 'c']) {
    const v = dom(obs, name).vcpus[0]!;
    assert.ok(Number.isInteger(v.timeNs) && Number.isInteger(v.delayNs!), 'ns are integers');
    assert.ok(Math.abs(v.timeNs - 333_333_333) <= 1, `time ${v.timeNs}`);
    assert.ok(Math.abs(v.delayNs! - 666_666_667) <= 1, `delay ${v.delayNs}`);
    assert.equal(v.pcpu, 0);
    assert.deepEqual(v.affinity, [0]);
    total += v.timeNs;
  }
  assert.ok(Math.abs(total - 1e9) <= 2, 'the pCPU was fully used, not more');
});

test('a light vCPU beside a busy one gets its demand and no delay', async () => {
  const { hypervisor, clock } = sim(busyOn0('busy') + busyOn0('light', 0.2));
  await clock.sleep(2000);
  const obs = await hypervisor.observe();
  const light = dom(obs, 'light').vcpus[0]!;
  const busy = dom(obs, 'busy').vcpus[0]!;
  assert.ok(Math.abs(light.timeNs - 0.4e9) <= 1);
  assert.ok(light.delayNs! <= 1);
  assert.ok(Math.abs(busy.timeNs - 1.6e9) <= 1);
  assert.ok(Math.abs(busy.delayNs! - 0.4e9) <= 1);
});

test('unpinned vCPUs are spread by the host scheduler and report where they ran', async () => {
  const four = ['a', 'b', 'c', 'd'].map((n) => `  - { name: ${n}, memoryMiB: 512, workload: { cpu: 1 } }\n`).join('');
  const { hypervisor, clock } = sim(four);
  await clock.sleep(1000);
  const obs = await hypervisor.observe();
  const pcpus = obs.domains.map((d) => d.vcpus[0]!.pcpu);
  assert.equal(new Set(pcpus).size, 4, `one per pCPU, got ${pcpus}`);
  for (const d of obs.domains) {
    assert.deepEqual(d.vcpus[0]!.affinity, [0, 1, 2, 3]);
    assert.ok(Math.abs(d.vcpus[0]!.timeNs - 1e9) <= 1);
    assert.ok(d.vcpus[0]!.delayNs! <= 1);
  }
});

test('pinning takes effect from the next sub-step: spreading eight busy guests gives each half a pCPU', async () => {
  const eight = Array.from({ length: 8 }, (_, i) => busyOn0(`vm${i + 1}`)).join('');
  const { hypervisor, clock } = sim(eight);
  await clock.sleep(1000);
  const before = await hypervisor.observe();
  for (const [i, d] of before.domains.entries()) await hypervisor.pinVcpu(d, 0, [i % 4]);
  await clock.sleep(1000);
  const after = await hypervisor.observe();
  for (const [i, d] of after.domains.entries()) {
    const gained = d.vcpus[0]!.timeNs - before.domains[i]!.vcpus[0]!.timeNs;
    assert.ok(Math.abs(gained - 0.5e9) <= 2, `${d.name} ran ${gained} ns in the second second`);
    assert.equal(d.vcpus[0]!.pcpu, i % 4);
  }
});

test('time and delay are monotonic integers across many observations', async () => {
  const { hypervisor, clock } = sim(
    `  - { name: a, memoryMiB: 512, vcpus: 2, workload: { cpu: { onOff: { period: 3, onFor: 1, on: 1, off: 0.1 }, noise: { sd: 0.2 } } } }\n` + busyOn0('b'),
    { pcpus: 2 },
  );
  let previous = await hypervisor.observe();
  for (let i = 0; i < 40; i++) {
    await clock.sleep(250);
    const obs = await hypervisor.observe();
    assert.ok(obs.timeNs > previous.timeNs);
    for (const d of obs.domains) {
      d.vcpus.forEach((v, k) => {
        const p = dom(previous, d.name).vcpus[k]!;
        assert.ok(Number.isInteger(v.timeNs) && Number.isInteger(v.delayNs!));
        assert.ok(v.timeNs >= p.timeNs && v.delayNs! >= p.delayNs!, 'monotonic');
        assert.ok(v.timeNs - p.timeNs <= obs.timeNs - previous.timeNs + 1, 'no more than wall time');
      });
    }
    previous = obs;
  }
});

test('pinVcpu and the memory calls validate like libvirt', async () => {
  const { hypervisor } = sim(busyOn0('a') + `  - { name: nob, memoryMiB: 512, balloon: false }\n`);
  const a = dom(await hypervisor.observe(), 'a');
  await assert.rejects(hypervisor.pinVcpu(a, 1, [0]), /vcpu 1 is out of range of live cpu count 1/);
  await assert.rejects(hypervisor.pinVcpu(a, 0, [4]), /pCPU 4 does not exist \(host has 4/);
  await assert.rejects(hypervisor.pinVcpu(a, 0, []), /empty cpumap/);
  await assert.rejects(hypervisor.pinVcpu({ name: 'ghost', uuid: '' }, 0, [0]), /Domain not found: no domain with matching name 'ghost'/);
  await assert.rejects(hypervisor.pinVcpu({ name: 'a', uuid: '00000000-0000-4000-8000-000000000000' }, 0, [0]), /Domain not found/, 'same name, other UUID');
  await assert.rejects(hypervisor.setMemory(a, 513 * MiB), /cannot set memory higher than max memory/);
  await assert.rejects(hypervisor.setMemory(a, 0), /positive integer/);
  await assert.rejects(hypervisor.setMemoryStatsPeriod(a, -1), /stats period/);
  await assert.rejects(hypervisor.setMemory({ name: 'nob', uuid: '' }, 256 * MiB), /no balloon device/);
  await hypervisor.pinVcpu(a, 0, [3, 1, 3]);
  assert.deepEqual(dom(await hypervisor.observe(), 'a').vcpus[0]!.affinity, [1, 3]);
  assert.equal(dom(await hypervisor.observe(), 'nob').balloon, undefined);
  await hypervisor.close();
  await assert.rejects(hypervisor.observe(), /closed/);
});

test('the balloon moves toward its target at the configured rate, both ways', async () => {
  const { hypervisor, clock } = sim(`  - { name: a, memoryMiB: 512, maxMemoryMiB: 2048, workload: { usedMiB: 100 } }\n`, { rate: 400 });
  const a = dom(await hypervisor.observe(), 'a');
  await hypervisor.setMemory(a, 1536 * MiB);
  assert.equal(dom(await hypervisor.observe(), 'a').balloon!.currentKiB, 512 * MiB, 'not at once');
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    await clock.sleep(1000);
    seen.push(dom(await hypervisor.observe(), 'a').balloon!.currentKiB / MiB);
  }
  assert.deepEqual(seen, [912, 1312, 1536, 1536]);
  await hypervisor.setMemory(a, 1000 * MiB);
  await clock.sleep(500);
  assert.equal(dom(await hypervisor.observe(), 'a').balloon!.currentKiB, 1336 * MiB);
});

test('a slower balloon rate from the scenario is honoured', async () => {
  const { hypervisor, clock } = sim(`  - { name: a, memoryMiB: 512, maxMemoryMiB: 2048 }\n`, { rate: 50 });
  await hypervisor.setMemory({ name: 'a', uuid: '' }, 1024 * MiB);
  await clock.sleep(2000);
  assert.equal(dom(await hypervisor.observe(), 'a').balloon!.currentKiB, 612 * MiB);
});

test('host free memory is total − overhead − Σ balloon actual', async () => {
  const { hypervisor, clock } = sim(
    `  - { name: a, memoryMiB: 1024, maxMemoryMiB: 2048 }\n  - { name: b, memoryMiB: 512 }\n`,
    { memoryMiB: 4096, overheadMiB: 512 },
  );
  let obs = await hypervisor.observe();
  assert.equal(obs.host.memoryTotalKiB, 4096 * MiB);
  assert.equal(obs.host.memoryFreeKiB, (4096 - 512 - 1024 - 512) * MiB);
  await hypervisor.setMemory(dom(obs, 'a'), 2048 * MiB);
  await clock.sleep(1000);
  obs = await hypervisor.observe();
  assert.equal(obs.host.memoryFreeKiB, (4096 - 512 - 1424 - 512) * MiB);
});

test('without a period the guest keeps its boot-time report, measured against its maximum, until a period is set', async () => {
  const { hypervisor, clock } = sim(
    `  - { name: a, memoryMiB: 1024, maxMemoryMiB: 2048, workload: { usedMiB: { steps: [[0, 100], [2.5, 300]] }, cachesMiB: 50 } }\n`,
  );
  const boot = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(boot.currentKiB, 1024 * MiB, 'current is the balloon');
  assert.equal(boot.lastUpdate, SIM_EPOCH_SECONDS, 'reported when the driver loaded');
  assert.equal(boot.availableKiB, 2048 * MiB, 'before the balloon inflated, the guest saw its maximum');
  assert.equal(boot.unusedKiB, (2048 - 100 - 50) * MiB, 'unused is far above the balloon');
  assert.equal(boot.usableKiB, (2048 - 100) * MiB);
  await clock.sleep(3000);
  const { rssKiB: _rss, ...bootStats } = boot;
  const { rssKiB, ...laterStats } = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(rssKiB, (300 + 50) * MiB, 'the guest did grow at 2.5 s');
  assert.deepEqual(laterStats, bootStats, 'yet its stats stayed frozen');

  await hypervisor.setMemoryStatsPeriod({ name: 'a', uuid: '' }, 2);
  await clock.sleep(100);
  const first = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(first.lastUpdate, SIM_EPOCH_SECONDS + 3, 'enabling polls the guest at once');
  assert.equal(first.usableKiB, (1024 - 300) * MiB, 'now measured against the balloon');
  assert.equal(first.unusedKiB, (1024 - 300 - 50) * MiB);
  assert.equal(first.availableKiB, 1024 * MiB);
  assert.equal(first.diskCachesKiB, 50 * MiB);
});

test('stats refresh every period and lag in between', async () => {
  const { hypervisor, clock } = sim(
    `  - { name: a, memoryMiB: 1024, workload: { usedMiB: { steps: [[0, 100], [2.5, 300]] }, cachesMiB: 50 } }\n`,
  );
  await clock.sleep(1000);
  await hypervisor.setMemoryStatsPeriod({ name: 'a', uuid: '' }, 2);
  await clock.sleep(100);
  const first = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(first.lastUpdate, SIM_EPOCH_SECONDS + 1, 'enabling polls the guest at once');
  assert.equal(first.usableKiB, (1024 - 100) * MiB);
  assert.equal(first.unusedKiB, (1024 - 100 - 50) * MiB);
  assert.equal(first.availableKiB, 1024 * MiB);
  assert.equal(first.diskCachesKiB, 50 * MiB);

  await clock.sleep(1800); // t = 2.9 s: usage rose at 2.5 s, the next refresh is at 3.1 s
  const stale = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(stale.lastUpdate, first.lastUpdate);
  assert.equal(stale.usableKiB, (1024 - 100) * MiB, 'the lag is real');

  await clock.sleep(300);
  const fresh = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(fresh.lastUpdate, SIM_EPOCH_SECONDS + 3);
  assert.equal(fresh.usableKiB, (1024 - 300) * MiB);

  await hypervisor.setMemoryStatsPeriod({ name: 'a', uuid: '' }, 0);
  await clock.sleep(5000);
  assert.equal(dom(await hypervisor.observe(), 'a').balloon!.lastUpdate, fresh.lastUpdate, 'stats stopped: last-update frozen');
});

test('a guest whose stats stop (statsStopAt) keeps its last reading', async () => {
  const { hypervisor, clock } = sim(`  - { name: a, memoryMiB: 1024, statsPeriod: 1, statsStopAt: 3, workload: { usedMiB: { ramp: [[0, 100], [10, 600]] } } }\n`);
  await clock.sleep(2500);
  const early = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(early.lastUpdate, SIM_EPOCH_SECONDS + 2);
  await clock.sleep(5000);
  const late = dom(await hypervisor.observe(), 'a').balloon!;
  assert.ok(late.lastUpdate! < SIM_EPOCH_SECONDS + 3, `frozen before 3 s, got ${late.lastUpdate! - SIM_EPOCH_SECONDS}`);
});

test('demand above the balloon records one OOM event per episode and caps use at actual', async () => {
  const { hypervisor, clock, truth } = sim(`  - { name: a, memoryMiB: 1024, maxMemoryMiB: 2048, workload: { usedMiB: { steps: [[0, 200], [2, 1500], [8, 300]] } } }\n`);
  await clock.sleep(1000);
  assert.deepEqual(truth().oomEvents, []);
  await clock.sleep(2000);
  const t = truth();
  assert.equal(t.oomEvents.length, 1);
  const ev = t.oomEvents[0]!;
  assert.equal(ev.domain, 'a');
  assert.ok(Math.abs(ev.timeNs - 2e9) <= 100e6, `at the step, got ${ev.timeNs}`);
  assert.equal(ev.demandMiB, 1500);
  assert.equal(ev.actualMiB, 1024);
  const a = t.domains[0]!;
  assert.equal(a.usedMiB, 1024, 'used is capped at actual');
  assert.equal(a.usedDemandMiB, 1500);
  assert.ok(Math.abs(a.oomNs - 1e9) <= 100e6, `about a second short, got ${a.oomNs}`);
  // Growing the balloon ends the episode; shrinking it below use starts another.
  await hypervisor.setMemory({ name: 'a', uuid: '' }, 2048 * MiB);
  await clock.sleep(4000);
  assert.equal(truth().oomEvents.length, 0);
  await clock.sleep(2000); // t = 9 s, demand back at 300
  await hypervisor.setMemory({ name: 'a', uuid: '' }, 200 * MiB);
  await clock.sleep(5000);
  const squeezed = truth();
  assert.equal(squeezed.oomEvents.length, 1);
  assert.ok(Math.abs(squeezed.oomEvents[0]!.actualMiB - 300) < 41, 'runs out as the balloon passes its use');
});

test('domains start and stop mid-run; acting on a vanished one says domain not found', async () => {
  const { hypervisor, clock, truth } = sim(
    busyOn0('always') + `  - { name: late, memoryMiB: 1024, start: 2, stop: 5, pin: [0], workload: { cpu: 1 } }\n`,
    { memoryMiB: 4096 },
  );
  let obs = await hypervisor.observe();
  assert.deepEqual(obs.domains.map((d) => d.name), ['always']);
  assert.equal(obs.host.memoryFreeKiB, (4096 - 512) * MiB);
  await assert.rejects(hypervisor.setMemory({ name: 'late', uuid: '' }, 512 * MiB), /Domain not found/);
  await clock.sleep(3000);
  obs = await hypervisor.observe();
  assert.deepEqual(obs.domains.map((d) => d.name), ['always', 'late']);
  assert.equal(obs.host.memoryFreeKiB, (4096 - 512 - 1024) * MiB);
  const late = dom(obs, 'late');
  assert.ok(Math.abs(late.vcpus[0]!.timeNs - 0.5e9) <= 1, 'its counters start at boot, sharing pCPU0 for a second');
  await clock.sleep(2000);
  obs = await hypervisor.observe();
  assert.deepEqual(obs.domains.map((d) => d.name), ['always']);
  assert.equal(obs.host.memoryFreeKiB, (4096 - 512) * MiB, 'its memory returns to the host');
  await assert.rejects(hypervisor.pinVcpu(late, 0, [1]), /Domain not found: no domain with matching name 'late'/);
  const t = truth();
  assert.deepEqual(t.lifecycle.map((e) => [e.domain, e.kind, e.timeNs]), [['always', 'start', 0], ['late', 'start', 2e9], ['late', 'stop', 5e9]]);
  assert.equal(t.actions.rejectedCalls, 2);
  const always = t.vcpus.find((v) => v.domain === 'always')!;
  assert.ok(Math.abs(always.receivedNs - 3.5e9) <= 2, 'alone for 2 s, shared for 3 s');
  assert.equal(truth().domains.some((d) => d.name === 'late'), false, 'gone from later reports');
});

test('truth reports demand, received time, placement and actions for the interval', async () => {
  const { hypervisor, clock, truth } = sim(busyOn0('a') + busyOn0('b', 0.5), { pcpus: 2 });
  await clock.sleep(2000);
  await hypervisor.pinVcpu({ name: 'b', uuid: '' }, 0, [1]);
  await hypervisor.pinVcpu({ name: 'b', uuid: '' }, 0, [1]);
  await clock.sleep(2000);
  const t = truth();
  assert.equal(t.toNs - t.fromNs, 4e9);
  const a = t.vcpus.find((v) => v.domain === 'a')!;
  const b = t.vcpus.find((v) => v.domain === 'b')!;
  assert.ok(Math.abs(a.demand - 1) < 1e-9 && Math.abs(b.demand - 0.5) < 1e-9);
  assert.ok(Math.abs(a.received - 0.75) < 1e-9, `a got half, then all: ${a.received}`);
  assert.ok(Math.abs(b.received - 0.5) < 1e-9);
  assert.ok(Math.abs(a.waitNs - 1e9) <= 2);
  assert.ok(Math.abs(b.pcpuNs[1]! - 1e9) <= 2 && Math.abs(b.pcpuNs[0]! - 1e9) <= 2);
  assert.ok(Math.abs(t.pcpuBusy[0]! - 1) < 1e-9 && Math.abs(t.pcpuBusy[1]! - 0.25) < 1e-9);
  assert.deepEqual(t.actions, { pinCalls: 2, pinChanges: 1, setMemoryCalls: 0, setStatsPeriodCalls: 0, rejectedCalls: 0 });
  assert.equal(truth().fromNs, 4e9, 'next report starts where this one ended');
});

/** Runs a scenario with a fixed sequence of actions and returns everything observable. */
async function trace(file: string, options: SimOptions): Promise<string> {
  const { hypervisor, clock, truth, scenario } = createSimulatedHost(loadScenario(join(SCENARIOS, file)), options);
  const out: unknown[] = [];
  for (let i = 0; i < 40; i++) {
    const obs = await hypervisor.observe();
    if (i === 1) for (const d of obs.domains) if (d.balloon) await hypervisor.setMemoryStatsPeriod(d, 1);
    if (i === 5) for (const [k, d] of obs.domains.entries()) await hypervisor.pinVcpu(d, 0, [k % obs.host.pcpus]);
    if (i === 8) for (const d of obs.domains) if (d.balloon) await hypervisor.setMemory(d, d.balloon.maximumKiB);
    out.push(obs, truth());
    await clock.sleep(scenario.intervalSeconds * 1000);
  }
  return JSON.stringify(out);
}

test('determinism: the same scenario and seed give identical traces; another seed differs', async () => {
  for (const file of ['cpu-5-overcommit.yaml', 'memory-1-one-consumer.yaml', 'mixed-1-lifecycle.yaml']) {
    const one = await trace(file, { seed: 11 });
    const two = await trace(file, { seed: 11 });
    assert.equal(one, two, `${file} repeats exactly`);
    const other = await trace(file, { seed: 12 });
    assert.notEqual(one, other, `${file} depends on the seed`);
  }
});

test('the noise option perturbs demands reproducibly', async () => {
  const plain = await trace('cpu-2-all-on-pcpu0.yaml', { seed: 3 });
  const noisy = await trace('cpu-2-all-on-pcpu0.yaml', { seed: 3, noise: { cpuSd: 0.1, usedSdMiB: 20 } });
  assert.notEqual(plain, noisy);
  assert.equal(noisy, await trace('cpu-2-all-on-pcpu0.yaml', { seed: 3, noise: { cpuSd: 0.1, usedSdMiB: 20 } }));
});

test('speed: 100 intervals of the biggest shipped scenario', async (t) => {
  const scenarios = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml')).map((f) => loadScenario(join(SCENARIOS, f)));
  const size = (s: (typeof scenarios)[number]): number => s.domains.reduce((n, d) => n + d.vcpus, 0);
  const biggest = scenarios.reduce((a, b) => (size(b) > size(a) ? b : a));
  const { hypervisor, clock, truth } = createSimulatedHost(biggest, { noise: { cpuSd: 0.05 } });
  const started = performance.now();
  for (let i = 0; i < 100; i++) {
    await hypervisor.observe();
    truth();
    await clock.sleep(biggest.intervalSeconds * 1000);
  }
  const ms = performance.now() - started;
  const steps = (100 * biggest.intervalSeconds * 1000) / biggest.stepMs;
  t.diagnostic(`${biggest.name}: ${size(biggest)} vCPUs on ${biggest.host.pcpus} pCPUs, 100 intervals (${steps} sub-steps) in ${ms.toFixed(1)} ms`);
  assert.ok(ms < 10_000, 'far from interactive speed; something is wrong');
});

test('a guest booting mid-run without a period reports once when its balloon driver loads, then never again', async () => {
  const { hypervisor, clock } = sim(`  - { name: b, memoryMiB: 512, maxMemoryMiB: 2048, start: 3, workload: { usedMiB: { steps: [[0, 108], [10, 900]] } } }\n`);
  await clock.sleep(3000);
  const booted = dom(await hypervisor.observe(), 'b').balloon!;
  assert.equal(booted.lastUpdate, undefined, 'no report before the driver loads');
  await clock.sleep(BALLOON_DRIVER_LOAD_SECONDS * 1000);
  const loaded = dom(await hypervisor.observe(), 'b').balloon!;
  assert.equal(loaded.lastUpdate, SIM_EPOCH_SECONDS + 3 + BALLOON_DRIVER_LOAD_SECONDS);
  assert.equal(loaded.currentKiB, 512 * MiB);
  assert.equal(loaded.unusedKiB, (2048 - 108) * MiB, 'like the lab: ~1940 MiB unused on a 512 MiB balloon');
  await clock.sleep(10_000);
  const later = dom(await hypervisor.observe(), 'b').balloon!;
  assert.equal(later.lastUpdate, loaded.lastUpdate, 'last-update frozen');
  assert.equal(later.unusedKiB, loaded.unusedKiB, 'though the guest now wants more than its balloon');
});

test('a guest without balloon or whose stats stop before its driver loads reports nothing', async () => {
  const { hypervisor, clock } = sim(`  - { name: a, memoryMiB: 512, balloon: false }\n  - { name: b, memoryMiB: 512, start: 1, statsStopAt: 2 }\n`);
  await clock.sleep(5000);
  const obs = await hypervisor.observe();
  assert.equal(dom(obs, 'a').balloon, undefined);
  assert.equal(dom(obs, 'b').balloon!.lastUpdate, undefined);
});

test('a guest that boots with a stats period reports from the start', async () => {
  const { hypervisor, clock } = sim(`  - { name: a, memoryMiB: 1024, statsPeriod: 2, workload: { usedMiB: 300 } }\n  - { name: b, memoryMiB: 1024, statsPeriod: 2, start: 3 }\n`);
  const a = dom(await hypervisor.observe(), 'a').balloon!;
  assert.equal(a.lastUpdate, SIM_EPOCH_SECONDS);
  assert.equal(a.usableKiB, (1024 - 300) * MiB);
  await clock.sleep(3000);
  const obs = await hypervisor.observe();
  assert.equal(dom(obs, 'b').balloon!.lastUpdate, SIM_EPOCH_SECONDS + 3);
  assert.equal(dom(obs, 'a').balloon!.lastUpdate, SIM_EPOCH_SECONDS + 2, 'refreshed at 2 s, next at 4 s');
});

test('other load: a weight-4 host process keeps 80 % of its pCPU beside one busy guest; busy counters include it, truth records both', async () => {
  const text = `name: test
interval: 1
intervals: 10
host:
  pcpus: 2
  memoryMiB: 4096
  otherLoad:
    - { pcpu: 1, load: 1.0 }
domains:
  - { name: a, memoryMiB: 256, pin: [1], workload: { cpu: 1.0 } }
  - { name: b, memoryMiB: 256, pin: [0], workload: { cpu: 0.5 } }
`;
  const run = createSimulatedHost(parseScenario(text, 'test.yaml'));
  const before = await run.hypervisor.observe();
  await run.clock.sleep(1000);
  const after = await run.hypervisor.observe();
  const busy = after.host.pcpuBusyNs!.map((ns, p) => (ns - before.host.pcpuBusyNs![p]!) / 1e9);
  assert.ok(Math.abs(busy[0]! - 0.5) < 1e-9 && Math.abs(busy[1]! - 1) < 1e-9, `busy ${busy}`);
  const a = dom(after, 'a').vcpus[0]!;
  assert.ok(Math.abs(a.timeNs / 1e9 - 0.2) < 1e-9, `guest beside it ran ${a.timeNs / 1e9}`);
  const truth = run.truth();
  assert.ok(Math.abs(truth.otherLoad!.received[1]! - 0.8) < 1e-9 && truth.otherLoad!.demand[1] === 1 && truth.otherLoad!.received[0] === 0);
  assert.ok(Math.abs(truth.vcpus.find((v) => v.domain === 'a')!.received - 0.2) < 1e-9);
});
