import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../../src/ground/errors.js';
import type { Notice } from '../../src/ground/actions.js';
import type { PinRule } from '../../src/ground/pin-why.js';
import { decideCpu } from '../../src/cpu/decide.js';
import { initialCpuSchedulerState, predictedShareOf, type CpuSchedulerState } from '../../src/cpu/scheduler.js';
import { vcpuKey } from '../../src/cpu/usage.js';
import { predictShares } from '../../src/cpu/fairness.js';
import { cpuController } from '../../src/cpu/controller.js';
import { defaultCpuSchedulerOptions, validateCpuSchedulerOptions, type CpuSchedulerOptions } from '../../src/cpu/options.js';
import { applyPins, measurementOf, type Vm } from './fixtures.js';

const all = (pcpus: number): number[] => Array.from({ length: pcpus }, (_, p) => p);

function guests(pcpus: number, demands: Record<string, number>, vcpus: Record<string, number> = {}): Vm[] {
  const list: Vm[] = [];
  let k = 0;
  for (const [name, demand] of Object.entries(demands)) {
    for (let vcpu = 0; vcpu < (vcpus[name] ?? 1); vcpu++) list.push({ name, vcpu, demand, affinity: all(pcpus), pcpu: k++ % pcpus });
  }
  return list;
}

interface Step {
  placement: Vm[];
  notices: Notice[];
  state: CpuSchedulerState;
}

/** Runs the scheduler on the model host; `demandAt(i)` may change demands per interval. */
function run(pcpus: number, start: Vm[], intervals: number, options: CpuSchedulerOptions, demandAt?: (i: number, name: string) => number | undefined): Step[] {
  let placement = start;
  let state = initialCpuSchedulerState();
  const steps: Step[] = [];
  for (let i = 0; i < intervals; i++) {
    placement = placement.map((v) => ({ ...v, demand: demandAt?.(i, v.name) ?? v.demand }));
    const decision = decideCpu(measurementOf(pcpus, placement), state, options);
    state = decision.state;
    placement = applyPins(placement, decision.actions);
    steps.push({ placement, notices: decision.notices ?? [], state });
  }
  return steps;
}

/** pCPUs held alone by `name`'s vCPUs: each pinned to one pCPU that no other vCPU may use. */
function exclusivePcpus(placement: readonly Vm[], name: string): number[] | undefined {
  const mine = placement.filter((v) => v.name === name);
  if (!mine.every((v) => v.affinity.length === 1)) return undefined;
  const pcpus = mine.map((v) => v.affinity[0]!);
  if (new Set(pcpus).size !== pcpus.length) return undefined;
  const others = placement.filter((v) => v.name !== name);
  return others.some((v) => v.affinity.some((p) => pcpus.includes(p))) ? undefined : pcpus;
}

const options = (dedicated: string[], more: Partial<CpuSchedulerOptions> = {}): CpuSchedulerOptions => ({ ...defaultCpuSchedulerOptions, dedicated, ...more });

test('a busy dedicated guest gets a pCPU of its own after dedicatedBusyIntervals, and the others share the rest evenly', () => {
  const pcpus = 4;
  const start = guests(pcpus, { db: 1, a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 });
  const steps = run(pcpus, start, 6, options(['db']));
  // Busy in intervals 1 and 2: not yet after the first.
  assert.equal(exclusivePcpus(steps[0]!.placement, 'db'), undefined);
  const own = exclusivePcpus(steps[1]!.placement, 'db');
  assert.ok(own && own.length === 1, 'db holds one pCPU alone after its second busy interval');
  for (const s of steps.slice(1)) assert.deepEqual(exclusivePcpus(s.placement, 'db'), own);
  assert.ok(steps[1]!.notices.some((n) => n.domain === 'db' && /dedicated to it/.test(n.message)), JSON.stringify(steps[1]!.notices));
  // The six others share the three remaining pCPUs: half a pCPU each, as the model predicts.
  const last = steps.at(-1)!.placement;
  const shares = predictShares(last.map((v) => ({ demand: v.demand, pcpus: v.affinity })), pcpus);
  last.forEach((v, i) => {
    if (v.name === 'db') assert.ok(Math.abs(shares[i]! - 1) < 1e-9);
    else {
      assert.ok(!v.affinity.includes(own[0]!), `${v.name} kept off pCPU${own[0]}`);
      assert.ok(Math.abs(shares[i]! - 0.5) < 1e-9, `${v.name} gets ${shares[i]}`);
    }
  });
});

test('without the option the same guest shares like everyone else', () => {
  const pcpus = 4;
  const steps = run(pcpus, guests(pcpus, { db: 1, a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 }), 6, options([]));
  assert.equal(exclusivePcpus(steps.at(-1)!.placement, 'db'), undefined);
});

test('an idle guest keeps its pCPU for dedicatedIdleIntervals − 1 idle intervals, then gives it back and the others use it', () => {
  const pcpus = 3;
  const start = guests(pcpus, { db: 1, a: 1, b: 1, c: 1, d: 1 });
  // Busy for 6 intervals, then idle.
  const steps = run(pcpus, start, 20, options(['db']), (i, name) => (name === 'db' && i >= 6 ? 0.02 : undefined));
  const own = exclusivePcpus(steps[5]!.placement, 'db');
  assert.ok(own, 'dedicated while busy');
  const idleIntervals = defaultCpuSchedulerOptions.dedicatedIdleIntervals;
  // Idle from interval index 6: still dedicated through index 6 + idleIntervals − 2.
  for (let i = 6; i < 6 + idleIntervals - 1; i++) assert.deepEqual(exclusivePcpus(steps[i]!.placement, 'db'), own, `interval ${i}`);
  const back = steps[6 + idleIntervals - 1]!;
  assert.ok(back.notices.some((n) => n.domain === 'db' && /given back/.test(n.message)), JSON.stringify(back.notices));
  assert.equal(Object.values(back.state.dedicated ?? {})[0]?.pcpus, null);
  // Four busy guests on three pCPUs: once it is given back, someone else runs there.
  const later = steps.at(-1)!.placement;
  assert.ok(later.some((v) => v.name !== 'db' && v.affinity.includes(own[0]!)), 'the pCPU is used by the others again');
});

test('a one-interval burst does not dedicate anything', () => {
  const pcpus = 4;
  const steps = run(pcpus, guests(pcpus, { db: 0.05, a: 1, b: 1, c: 1, d: 1, e: 1 }), 8, options(['db']), (i, name) => (name === 'db' ? (i === 3 ? 1 : 0.05) : undefined));
  for (const s of steps) {
    assert.equal(Object.values(s.state.dedicated ?? {}).filter((g) => g.pcpus).length, 0);
    assert.ok(!s.notices.some((n) => /dedicated to it/.test(n.message)));
  }
});

test('never more dedicated pCPUs than leave one for everyone else; the refused request is said once', () => {
  const pcpus = 2;
  const steps = run(pcpus, guests(pcpus, { db1: 1, db2: 0.9, a: 1 }), 8, options(['db1', 'db2']));
  const last = steps.at(-1)!;
  assert.ok(exclusivePcpus(last.placement, 'db1'), 'the busier one holds a pCPU');
  assert.equal(exclusivePcpus(last.placement, 'db2'), undefined);
  const refusals = steps.flatMap((s) => s.notices).filter((n) => n.domain === 'db2' && /cannot dedicate/.test(n.message));
  assert.equal(refusals.length, 1, JSON.stringify(refusals));
  assert.match(refusals[0]!.message, /at most 1 of 2 pCPUs/);
  // db2 and a share the other pCPU.
  const other = 1 - exclusivePcpus(last.placement, 'db1')![0]!;
  for (const v of last.placement.filter((x) => x.name !== 'db1')) assert.deepEqual(v.affinity, [other]);
});

test('a guest with as many vCPUs as the host has pCPUs is never given them all', () => {
  const pcpus = 2;
  const steps = run(pcpus, guests(pcpus, { big: 1, a: 0.5 }, { big: 2 }), 6, options(['big']));
  for (const s of steps) assert.equal(Object.values(s.state.dedicated ?? {}).filter((g) => g.pcpus).length, 0);
  assert.ok(steps.flatMap((s) => s.notices).some((n) => n.domain === 'big' && /cannot dedicate 2 pCPUs/.test(n.message)));
});

test('a multi-vCPU dedicated guest gets one pCPU per vCPU', () => {
  const pcpus = 4;
  const steps = run(pcpus, guests(pcpus, { db: 1, a: 1, b: 1, c: 1 }, { db: 2 }), 6, options(['db']));
  const own = exclusivePcpus(steps.at(-1)!.placement, 'db');
  assert.ok(own && own.length === 2, `db holds ${String(own)}`);
});

test('property: after every interval a granted guest holds its pCPUs alone, and at most pcpus − 1 are dedicated', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ vcpus: fc.integer({ min: 1, max: 3 }), dedicated: fc.boolean(), demands: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }) }), { minLength: 1, maxLength: 6 }),
      (pcpus, specs) => {
        const names = specs.map((_, i) => `g${i}`);
        const start = specs.flatMap((s, i) =>
          Array.from({ length: s.vcpus }, (_, vcpu): Vm => ({ name: names[i]!, vcpu, demand: s.demands[0]!, affinity: [(i + vcpu) % pcpus], pcpu: (i + vcpu) % pcpus })),
        );
        const o = options(names.filter((_, i) => specs[i]!.dedicated), { dedicatedIdleIntervals: 2 });
        const steps = run(pcpus, start, 12, o, (i, name) => specs[names.indexOf(name)]!.demands[i]);
        for (const s of steps) {
          const granted = Object.values(s.state.dedicated ?? {}).filter((g) => g.pcpus);
          const pcpusGranted = granted.flatMap((g) => g.pcpus!);
          assert.ok(pcpusGranted.length <= pcpus - 1);
          assert.equal(new Set(pcpusGranted).size, pcpusGranted.length);
          for (const g of granted) assert.deepEqual([...exclusivePcpus(s.placement, g.name)!].sort(), [...g.pcpus!].sort());
          for (const v of s.placement) for (const p of v.affinity) assert.ok(p >= 0 && p < pcpus);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('reasons name the host pCPUs, not the shared part renumbered', () => {
  const pcpus = 4;
  const steps: PinRule[] = [];
  let placement = guests(pcpus, { db: 1, a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 });
  let state = initialCpuSchedulerState();
  for (let i = 0; i < 5; i++) {
    const d = decideCpu(measurementOf(pcpus, placement), state, options(['db']));
    state = d.state;
    placement = applyPins(placement, d.actions);
    for (const a of d.actions) {
      // The pCPUs a reason says it moves to are the action's own target.
      assert.ok(a.why, a.reason);
      assert.deepEqual(a.why.to, a.pcpus, a.reason);
      steps.push(a.why.rule);
    }
  }
  assert.ok(steps.includes('dedicated'), steps.join(' '));
});

test('with pCPU0 dedicated, the reasons of the shared scheduler name the host pCPUs 1-3, never the shared part renumbered from 0', () => {
  const pcpus = 4;
  // db holds pCPU0; the six others all sit on pCPU1 and are spread over pCPUs 1-3.
  const placement: Vm[] = [{ name: 'db', vcpu: 0, demand: 1, affinity: [0], pcpu: 0 }, ...['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, vcpu: 0, demand: 1, affinity: [1], pcpu: 1 }))];
  const state: CpuSchedulerState = { ...initialCpuSchedulerState(), dedicated: { 'uuid-db': { name: 'db', busy: 10, idle: 0, pcpus: [0] } } };
  const d = decideCpu(measurementOf(pcpus, placement), state, options(['db'], { persistIntervals: 1 }));
  assert.ok(d.actions.length > 0, 'the others are spread');
  for (const a of d.actions) {
    assert.ok(a.pcpus.every((p) => p >= 1), `${a.reason}: only shared pCPUs`);
    const why = a.why;
    assert.ok(why, a.reason);
    const named = [...why.from.pcpus, ...(why.from.on !== undefined ? [why.from.on] : []), ...why.to, ...(why.rule === 'pins' ? why.figures.loads.map((l) => l.pcpu) : [])];
    assert.ok(named.length > 0 && named.every((n) => n >= 1), `${a.reason} names only pCPUs 1-3`);
    assert.deepEqual(why.to, a.pcpus, a.reason);
  }
  assert.match(d.summary, /shared pCPUs 1-3/);
});

test('the controller passes notices on, forgets a gone guest, and keeps grants across a resynchronisation', () => {
  const pcpus = 3;
  let placement = guests(pcpus, { db: 1, a: 1, b: 1, c: 1 });
  let state = cpuController.initialState();
  const notices: Notice[] = [];
  for (let i = 0; i < 3; i++) {
    const d = cpuController.decide(measurementOf(pcpus, placement), state, options(['db']), { current: undefined as never, intervalSeconds: 1 });
    state = d.state;
    notices.push(...d.notices);
    placement = applyPins(placement, d.actions.filter((a) => a.kind === 'pin'));
  }
  assert.ok(notices.some((n) => /dedicated to it/.test(n.message)));
  assert.ok(cpuController.resynchronise(state).dedicated?.['uuid-db']?.pcpus);
  assert.equal(cpuController.forget(state, 'uuid-db').dedicated?.['uuid-db'], undefined);
});

test('bad dedicated options are a usage error', () => {
  assert.throws(() => validateCpuSchedulerOptions(options(['db'], { dedicatedBusyIntervals: 0 })), UsageError);
  assert.throws(() => validateCpuSchedulerOptions(options(['db'], { dedicatedIdleIntervals: 1.5 })), UsageError);
  assert.throws(() => validateCpuSchedulerOptions(options(['db'], { dedicatedBusyDemand: 0 })), UsageError);
  assert.throws(() => validateCpuSchedulerOptions(options([''])), UsageError);
  assert.throws(() => validateCpuSchedulerOptions({ ...defaultCpuSchedulerOptions, dedicated: 'db' as unknown as string[] }), UsageError);
});

test('a pCPU a host process keeps busy is not the one dedicated, even where the guest runs now', () => {
  const pcpus = 3;
  let placement: Vm[] = [
    { name: 'db', demand: 1, affinity: [2], pcpu: 2 },
    { name: 'a', demand: 1, affinity: [0], pcpu: 0 },
    { name: 'b', demand: 1, affinity: [1], pcpu: 1 },
  ];
  let state = initialCpuSchedulerState();
  for (let i = 0; i < 3; i++) {
    const m = { ...measurementOf(pcpus, placement), pcpuOther: [0, 0.05, 0.9] };
    const d = decideCpu(m, state, options(['db']));
    state = d.state;
    placement = applyPins(placement, d.actions);
  }
  const own = exclusivePcpus(placement, 'db');
  assert.ok(own, 'db holds a pCPU');
  assert.notEqual(own[0], 2, 'not the one the host process keeps busy');
  assert.equal(own[0], 0, 'the one with the least load');
});

test('a vCPU holding a dedicated pCPU is predicted to get its demand, up to what the host process there leaves', () => {
  const pcpus = 3;
  const db = vcpuKey({ name: 'db', uuid: 'uuid-db' }, 0);
  const predictedFor = (demand: number, more: Partial<CpuSchedulerOptions> = {}): (number | undefined)[] => {
    let placement: Vm[] = [
      { name: 'db', demand, affinity: [2], pcpu: 2 },
      { name: 'a', demand: 1, affinity: [0, 1, 2], pcpu: 0 },
      { name: 'b', demand: 1, affinity: [0, 1, 2], pcpu: 1 },
    ];
    let state = initialCpuSchedulerState();
    const seen: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const m = { ...measurementOf(pcpus, placement), pcpuOther: [0, 0.05, 0.2] };
      const d = decideCpu(m, state, options(['db'], more));
      state = d.state;
      placement = applyPins(placement, d.actions);
      if (Object.values(state.dedicated ?? {}).some((g) => g.name === 'db' && g.pcpus)) seen.push(predictedShareOf(state, db));
    }
    assert.deepEqual(exclusivePcpus(placement, 'db'), [2], 'db holds pCPU2, where it runs (the host process there is light)');
    return seen;
  };
  // Busy: 1 − 0.2 of pCPU2 is left for it; asking less than that, it gets what it asks.
  for (const p of predictedFor(1)) assert.ok(p !== undefined && Math.abs(p - 0.8) < 1e-12, `busy: ${p}`);
  for (const p of predictedFor(0.6)) assert.equal(p, 0.6);
  // Other load not counted: all it asks.
  for (const p of predictedFor(1, { countOtherLoad: false })) assert.equal(p, 1);
  assert.ok(predictedFor(1).length >= 2, 'predicted over the grant');
});
