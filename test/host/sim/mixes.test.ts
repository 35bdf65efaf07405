// The random CPU mix generator (issue #17): seeded, deterministic, within its ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateMix, issueMix, MIX_RANGES, withPins } from '../../../src/host/sim/mixes.js';
import { createSimulatedHost } from '../../../src/host/sim/simulated-host.js';

const SEEDS = Array.from({ length: 300 }, (_, k) => k + 1);

test('generateMix: the same seed and constraints give the same mix; other seeds other mixes', () => {
  for (const seed of [1, 7, 12345, 0xfffffff0]) {
    assert.deepEqual(generateMix(seed), generateMix(seed));
    assert.deepEqual(generateMix(seed, { small: true }), generateMix(seed, { small: true }));
  }
  const distinct = new Set(SEEDS.slice(0, 50).map((s) => JSON.stringify(generateMix(s).domains)));
  assert.equal(distinct.size, 50);
});

test('generateMix: every mix within the ranges; every kind of vCPU, other load, weights, phases and start appear', () => {
  const seen = { busy: 0, bursty: 0, partial: 0, noisy: 0, other: 0, weights: 0, phased: 0, steady: 0, unpinned: 0, pcpu0: 0, random: 0 };
  const pcpuCounts = new Set<number>();
  for (const seed of SEEDS) {
    const m = generateMix(seed);
    assert.deepEqual(m.controllers, ['cpu']);
    assert.ok(m.host.pcpus >= 2 && m.host.pcpus <= 16, `pcpus ${m.host.pcpus}`);
    pcpuCounts.add(m.host.pcpus);
    const vcpus = m.domains.reduce((a, d) => a + d.vcpus, 0);
    assert.ok(m.domains.length >= 4 && m.domains.length <= 40, `${m.name}: ${m.domains.length} guests`);
    assert.ok(vcpus <= MIX_RANGES.maxVcpus && vcpus <= Math.max(8, MIX_RANGES.vcpusPerPcpu * m.host.pcpus), `${m.name}: ${vcpus} vCPUs on ${m.host.pcpus}`);
    assert.equal(m.small, m.host.pcpus <= 4 && vcpus <= 8);
    for (const d of m.domains) {
      assert.ok(d.vcpus >= 1 && d.vcpus <= 4);
      assert.equal(d.cpu.length, d.vcpus);
      assert.equal(d.pin.length, d.vcpus);
      assert.ok(d.weight > 0);
      if (d.weight !== 1) seen.weights++;
      for (const p of d.pin) if (p) for (const x of p) assert.ok(x >= 0 && x < m.host.pcpus);
      for (const w of d.cpu) {
        if (w.kind === 'bursty') {
          seen.bursty++;
          assert.ok(w.duty >= 0.1 && w.duty <= 0.9 && w.periodMs >= 10 && w.periodMs <= 200, JSON.stringify(w));
        } else if (w.kind === 'constant') {
          assert.ok(w.value >= 0 && w.value <= 1);
          if (w.noise) seen.noisy++;
          else if (w.value === 1) seen.busy++;
          else seen.partial++;
        } else {
          assert.equal(w.kind, 'steps');
          assert.equal(m.steady, false, `${m.name}: a step in a steady mix`);
        }
      }
    }
    for (const o of m.host.otherLoad ?? []) {
      assert.ok(o.pcpu >= 0 && o.pcpu < m.host.pcpus && o.weight > 0);
      if (m.steady) assert.equal(o.load.kind, 'constant');
    }
    if ((m.host.otherLoad ?? []).length > 0) seen.other++;
    seen[m.steady ? 'steady' : 'phased']++;
    seen[m.start as 'unpinned' | 'pcpu0' | 'random']++;
    if (m.start === 'unpinned') assert.ok(m.domains.every((d) => d.pin.every((p) => p === null)));
    if (m.start === 'pcpu0') assert.ok(m.domains.every((d) => d.pin.every((p) => p !== null && p.join() === '0')));
    assert.ok(m.summary.length > 0);
  }
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `never drew ${k}`);
  assert.ok(seen.steady > seen.phased, `steady ${seen.steady}, phased ${seen.phased}`);
  assert.ok(seen.unpinned > seen.pcpu0 + seen.random, 'mostly unpinned starts');
  assert.ok(pcpuCounts.has(2) && pcpuCounts.has(16), `pCPU counts drawn: ${[...pcpuCounts].sort((a, b) => a - b).join(',')}`);
});

test('generateMix small: at most 4 pCPUs and 8 vCPUs in all, still 4 or more guests', () => {
  for (const seed of SEEDS) {
    const m = generateMix(seed, { small: true });
    const vcpus = m.domains.reduce((a, d) => a + d.vcpus, 0);
    assert.ok(m.host.pcpus >= 2 && m.host.pcpus <= 4, `${m.name}: ${m.host.pcpus} pCPUs`);
    assert.ok(vcpus <= 8, `${m.name}: ${vcpus} vCPUs`);
    assert.ok(m.domains.length >= 4, `${m.name}: ${m.domains.length} guests`);
    assert.equal(m.small, true);
  }
});

test('issueMix: 3 busy + 3 bursty (40 % of 50 ms) one-vCPU guests on 2 pCPUs, started mixed on both', () => {
  const m = issueMix();
  assert.equal(m.host.pcpus, 2);
  const busy = m.domains.filter((d) => d.cpu[0]!.kind === 'constant' && (d.cpu[0] as { value: number }).value === 1);
  const bursty = m.domains.filter((d) => d.cpu[0]!.kind === 'bursty');
  assert.equal(busy.length, 3);
  assert.equal(bursty.length, 3);
  for (const d of bursty) assert.deepEqual(d.cpu[0], { kind: 'bursty', duty: 0.4, periodMs: 50 });
  for (const group of [busy, bursty]) assert.deepEqual(new Set(group.map((d) => d.pin[0]!.join())), new Set(['0', '1']));
});

test('a generated mix runs on the simulated host; withPins replaces every pin', async () => {
  const m = generateMix(3);
  const held = withPins(m, () => [0]);
  assert.ok(held.domains.every((d) => d.pin.every((p) => p!.join() === '0')));
  const run = createSimulatedHost(m);
  await run.clock.sleep(2000);
  const t = run.truth();
  assert.equal(t.vcpus.length, m.domains.reduce((a, d) => a + d.vcpus, 0));
  assert.ok(t.vcpus.reduce((a, v) => a + v.received, 0) <= m.host.pcpus + 1e-9);
});
