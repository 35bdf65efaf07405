// The random-mix bench's metric and oracle (issue #17): the worst guest's median fraction of fair
// share in the second half, and the best static placement found by search in the tick physics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateMix, issueMix } from '../../src/host/sim/mixes.js';
import { bestStaticPlacement, heldMetric, shiftWorkload } from '../../src/control/oracle.js';
import { compareMix, runPolicy } from '../../src/control/mix-compare.js';
import { mixMetric } from '../../src/score/mix-metric.js';
import { shapeValue } from '../../src/host/sim/workload.js';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';

function interval(k: number, vcpus: { domain: string; demand: number; received: number }[], otherReceived?: number[], pins: { domain: string; from: number[]; to: number[] }[] = []): TraceInterval {
  return {
    type: 'interval',
    interval: k,
    timeMs: k * 2000,
    domains: [],
    actions: pins.map((p) => ({ kind: 'pin', domain: { name: p.domain, uuid: '' }, vcpu: 0, pcpus: p.to, previous: p.from, reason: 'test' })) as TraceInterval['actions'],
    failures: [],
    notices: [],
    truth: {
      vcpus: vcpus.map((v) => ({ ...v, vcpu: 0 })),
      memoryDemandKiB: {},
      oomEvents: [],
      ...(otherReceived ? { otherLoad: { demand: otherReceived, received: otherReceived } } : {}),
    },
  };
}

test('mixMetric: per guest the median over the second half of received / max-min fair share; the worst guest; idle guests left out; pin changes after 20', () => {
  const lines: TraceLine[] = [];
  // 2 pCPUs; a (busy), b (busy), c (busy), idle (nothing): fair shares 2/3 each.
  for (let k = 0; k < 41; k++) {
    const b = k < 30 ? 0.5 : 0.6;
    lines.push(interval(k, [
      { domain: 'a', demand: 1, received: 2 / 3 },
      { domain: 'b', demand: 1, received: b },
      { domain: 'c', demand: 1, received: 2 - 2 / 3 - b },
      { domain: 'idle', demand: 0, received: 0 },
    ], undefined, k === 20 || k === 25 ? [{ domain: 'a', from: [0], to: [1] }] : []));
  }
  const setup = { host: { pcpus: 2 }, domains: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }, { name: 'idle', weight: 1 }] };
  const m = mixMetric(lines, setup);
  assert.equal(m.fromInterval, 20);
  assert.equal(m.intervals, 21);
  assert.deepEqual(m.guests.map((g) => g.domain), ['a', 'b', 'c']);
  // b: 10 intervals (20-29) at 0.75 of its share, 11 (30-40) at 0.9: median 0.9; c gets the rest: 1.25, then 1.1.
  assert.ok(Math.abs(m.guests.find((g) => g.domain === 'b')!.median - 0.9) < 1e-9);
  assert.ok(Math.abs(m.guests.find((g) => g.domain === 'c')!.median - 1.1) < 1e-9);
  assert.equal(m.worstDomain, 'b');
  assert.ok(Math.abs(m.worstFraction - 0.9) < 1e-9);
  assert.equal(m.pinChangesAfter, 1, 'the change at 25 counts, the one at 20 does not');
  assert.equal(m.pinChangesTotal, 2);
  // Weights make weighted fair shares; other load lowers what a pCPU has for the guests.
  const weighted = mixMetric(lines, { ...setup, domains: setup.domains.map((d) => (d.name === 'a' ? { ...d, weight: 2 } : d)) });
  assert.ok(weighted.guests.find((g) => g.domain === 'a')!.median < 1 - 1e-6, 'weight 2: a deserves more than 2/3');
  const withOther = mixMetric(lines.map((l) => ({ ...(l as TraceInterval), truth: { ...(l as TraceInterval).truth!, otherLoad: { demand: [0.5, 0], received: [0.5, 0] } } })), setup);
  assert.ok(withOther.guests.find((g) => g.domain === 'a')!.median > 1.3, 'half a pCPU taken: fair shares of 1.5 pCPUs');
});

test('shiftWorkload: w(t + t0)', () => {
  const steps = { kind: 'steps' as const, points: [[0, 0.2], [30, 0.9], [60, 0.1]] as Array<[number, number]> };
  const onOff = { kind: 'onOff' as const, periodSeconds: 20, onSeconds: 5, on: 1, off: 0, phaseSeconds: 3 };
  const ramp = { kind: 'ramp' as const, points: [[10, 0], [50, 1]] as Array<[number, number]> };
  for (const w of [steps, onOff, ramp]) {
    for (const t0 of [0, 7, 30, 45]) for (const t of [0, 1, 12.5, 29, 40]) assert.ok(Math.abs(shapeValue(shiftWorkload(w, t0), t) - shapeValue(w, t + t0)) < 1e-9, `${w.kind} t0 ${t0} t ${t}`);
  }
});

test('the issue\'s 3 busy + 3 bursty case: nothing pinned ≈ 0.48 (as measured on real guests); the oracle finds busy on one pCPU and bursty on the other (or better), far above unpinned', () => {
  const m = issueMix();
  const unpinned = heldMetric(m, () => null);
  // Real guests: 0.48 (bursty ~16 % of a pCPU against a fair share of 1/3).
  assert.ok(Math.abs(unpinned.worstFraction - 0.48) < 0.04, `unpinned ${unpinned.worstFraction}`);
  const segregated = heldMetric(m, (d) => (d.startsWith('busy') ? [0] : [1]));
  // Real guests: 0.74 (busy 33 %, bursty 25-29 %). The tick model gives ~0.93: its bursty windows
  // drift until three of them cover their pCPU, where the real ones left it idle a fifth of the time.
  assert.ok(segregated.worstFraction > 0.7, `segregated ${segregated.worstFraction}`);
  const oracle = bestStaticPlacement(m, { budgetMs: 20_000 });
  assert.equal(oracle.complete, true);
  assert.ok(oracle.worstFraction >= segregated.worstFraction - 0.01, `oracle ${oracle.worstFraction} < segregated ${segregated.worstFraction}`);
  assert.ok(oracle.worstFraction >= unpinned.worstFraction + 0.2, `oracle ${oracle.worstFraction} vs unpinned ${unpinned.worstFraction}`);
  const pcpusOf = (prefix: string): Set<string> => new Set(oracle.placement.filter((p) => p.domain.startsWith(prefix)).map((p) => p.pcpus.join()));
  assert.equal(pcpusOf('busy').size, 1, JSON.stringify(oracle.placement));
  assert.equal(pcpusOf('burst').size, 1, JSON.stringify(oracle.placement));
  assert.notEqual([...pcpusOf('busy')][0], [...pcpusOf('burst')][0]);
  assert.deepEqual(oracle.placement.map((p) => `${p.domain}/${p.vcpu}`), m.domains.map((d) => `${d.name}/0`), 'in scenario order');
  // Its own metric, recomputed from the placement it returns.
  const where = new Map(oracle.placement.map((p) => [p.domain, p.pcpus]));
  assert.ok(Math.abs(heldMetric(m, (d) => where.get(d)!).worstFraction - oracle.worstFraction) < 1e-9);
});

/** Hand placements of a mix: all on pCPU0, one pCPU each round robin, largest demand first on the least loaded pCPU. */
function handPlacements(m: ReturnType<typeof generateMix>): Array<(d: string, v: number) => number[] | null> {
  const flat = m.domains.flatMap((d) => d.cpu.map((w, i) => ({ d: d.name, i, demand: w.kind === 'bursty' ? w.duty : w.kind === 'constant' ? w.value : 0.5 })));
  const rr = new Map(flat.map((x, k) => [`${x.d}/${x.i}`, [k % m.host.pcpus]]));
  const loads = new Array<number>(m.host.pcpus).fill(0);
  const lpt = new Map<string, number[]>();
  for (const x of [...flat].sort((a, b) => b.demand - a.demand)) {
    const p = loads.indexOf(Math.min(...loads));
    loads[p]! += x.demand;
    lpt.set(`${x.d}/${x.i}`, [p]);
  }
  return [() => [0], (d, v) => rr.get(`${d}/${v}`)!, (d, v) => lpt.get(`${d}/${v}`)!];
}

test('the oracle on small random mixes: never below the host alone, nor (by more than a point) below hand placements', () => {
  for (const seed of [2, 3, 6, 10, 12]) {
    const m = generateMix(seed, { small: true });
    const oracle = bestStaticPlacement(m, { budgetMs: 4000 });
    const host = heldMetric(m, () => null);
    assert.ok(oracle.worstFraction >= host.worstFraction - 1e-9, `${m.name}: oracle ${oracle.worstFraction} < host ${host.worstFraction}`);
    for (const [k, hand] of handPlacements(m).entries()) {
      const h = heldMetric(m, hand).worstFraction;
      assert.ok(oracle.worstFraction >= h - 0.01, `${m.name}: oracle ${oracle.worstFraction.toFixed(3)} < hand placement ${k} ${h.toFixed(3)}`);
    }
    assert.equal(oracle.placement.length, m.domains.reduce((a, d) => a + d.vcpus, 0));
    for (const p of oracle.placement) assert.ok(p.pcpus.length >= 1 && p.pcpus.every((x) => x >= 0 && x < m.host.pcpus));
  }
});

test('the oracle keeps to its time budget and says so; a mix beyond its reach is refused', () => {
  const m = generateMix(1, { small: true });
  const short = bestStaticPlacement(m, { budgetMs: 1 });
  assert.equal(short.budgetHit, true);
  assert.equal(short.complete, false);
  // The search stops at the budget; judging the few best found whole comes on top (a few whole runs).
  assert.ok(short.ms < 1 + 2000, `${short.ms} ms`);
  assert.ok(short.worstFraction >= heldMetric(m, () => null).worstFraction - 1e-9, 'release at least');
  assert.throws(() => bestStaticPlacement(generateMix(5, { minPcpus: 8 })), /beyond its reach/);
});

test('compareMix: host alone is the unpinned run, the oracle only on small mixes', async () => {
  const m = generateMix(4, { small: true });
  const c = await compareMix(m, { oracle: { budgetMs: 2000 } });
  assert.ok(Math.abs(c.host.worstFraction - heldMetric(m, () => null).worstFraction) < 1e-9, 'host alone through the control loop = held unpinned');
  assert.ok(c.oracle !== undefined);
  assert.equal(c.host.pinChangesTotal, 0);
  const ours = await runPolicy(m, 'ours');
  assert.deepEqual(ours, c.ours);
  const big = await compareMix(generateMix(5, { minPcpus: 8 }), { policies: ['host'] });
  assert.equal(big.oracle, undefined);
});
