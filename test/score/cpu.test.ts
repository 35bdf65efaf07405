import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreTrace } from '../../src/score/score.js';
import { jainIndex, fairShares, groupByValue } from '../../src/score/fairness.js';
import { cpuTrace, header, interval, pin, trialTrace } from './fixtures.js';
import { formatScore } from '../../src/score/format.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';

const eight = (demand: (i: number) => number) => Array.from({ length: 8 }, (_, i) => ({ name: `vm${i + 1}`, demand: demand(i) }));

test('an already balanced trace: no pin changes, balanced from interval 0', () => {
  const vms = eight(() => 0.4);
  const score = scoreTrace(cpuTrace(4, vms, 10, () => [0, 0, 1, 1, 2, 2, 3, 3]));
  const cpu = score.cpu!;
  assert.equal(cpu.pinChanges.total, 0);
  assert.equal(cpu.pinChanges.afterBalance, 0);
  assert.equal(cpu.balancedAtInterval, 0);
  assert.equal(cpu.intervalsUntilBalanced, 0);
  assert.ok(cpu.spread!.max <= 5);
  assert.ok(Math.abs(cpu.fairness!.jainAll! - 1) < 1e-9);
  assert.ok(Math.abs(cpu.fairness!.meanFractionOfFairShare! - 1) < 1e-9);
});

test('all on pCPU0 and spread out over two intervals: balanced at interval 2, pins counted before it', () => {
  const vms = eight(() => 1);
  const placement = (n: number) => (n === 0 ? [0, 0, 0, 0, 0, 0, 0, 0] : n === 1 ? [0, 0, 1, 1, 2, 2, 0, 0] : [0, 0, 1, 1, 2, 2, 3, 3]);
  const score = scoreTrace(cpuTrace(4, vms, 12, placement));
  const cpu = score.cpu!;
  assert.equal(cpu.balancedAtInterval, 2);
  assert.equal(cpu.intervalsUntilBalanced, 2);
  assert.equal(cpu.secondsUntilBalanced, 2);
  assert.equal(cpu.pinChanges.total, 6);
  assert.equal(cpu.pinChanges.afterBalance, 0);
  assert.equal(cpu.spread!.perInterval[0]!.points, 100);
  // Settled: every VM gets half a pCPU, which is its fair share.
  assert.ok(cpu.fairness!.worstFractionOfFairShare!.fraction > 0.999);
  // Whole run includes interval 0, where 8 VMs shared one pCPU.
  assert.ok(cpu.fairnessWholeRun!.meanFractionOfFairShare! < cpu.fairness!.meanFractionOfFairShare!);
});

test('a short window late in a balanced run counts in no figure: balance, spread and fairness as without it', () => {
  const vms = eight(() => 0.4);
  const balanced = () => [0, 0, 1, 1, 2, 2, 3, 3];
  // Measured only (no simulator truth): the score's figures come from the trace's measurement.
  const plain = scoreTrace(cpuTrace(4, vms, 10, balanced, false)).cpu!;
  // Interval 8 was a 110 ms window that read the first two vCPUs at 100 % and the others idle.
  const lines = cpuTrace(4, vms, 10, balanced, false) as unknown as Record<string, any>[];
  const cpu = lines[9]!.cpu;
  Object.assign(cpu, { elapsedNs: 0.11e9, shortWindow: true, pcpuUsage: [2, 0, 0, 0] });
  cpu.vcpus.forEach((v: Record<string, number>, i: number) => (v.usage = i < 2 ? 1 : 0));
  const withShort = scoreTrace(lines as unknown as ReturnType<typeof cpuTrace>).cpu!;
  assert.equal(withShort.shortWindows, 1);
  assert.equal(withShort.intervals, plain.intervals - 1);
  assert.equal(withShort.balancedAtInterval, plain.balancedAtInterval);
  assert.equal(withShort.spread!.max, plain.spread!.max);
  assert.deepEqual(withShort.fairness!.vms, plain.fairness!.vms);
  // Unmarked, the same window would have put balance after it and skewed the shares.
  delete cpu.shortWindow;
  const unmarked = scoreTrace(lines as unknown as ReturnType<typeof cpuTrace>).cpu!;
  assert.equal(unmarked.balancedAtInterval, 9);
  assert.notDeepEqual(unmarked.fairnessWholeRun!.vms, plain.fairnessWholeRun!.vms);
});

test('pin changes after balance, no-op pins and failed pins', () => {
  const vms = eight(() => 0.4);
  const lines = cpuTrace(4, vms, 6, (n) => (n < 3 ? [0, 0, 1, 1, 2, 2, 3, 3] : [1, 0, 0, 1, 2, 2, 3, 3]));
  // cpuTrace recorded the two moves in interval 2; add a no-op pin and a failed pin there too.
  const at2 = lines[3]!;
  assert.equal(at2.type, 'interval');
  if (at2.type !== 'interval') return;
  const noop = { ...pin('vm5', 2, 2) };
  const failed = pin('vm6', 2, 3);
  at2.actions.push(noop, failed);
  at2.failures.push({ action: { ...failed }, error: 'domain gone' });
  const cpu = scoreTrace(lines).cpu!;
  assert.equal(cpu.balancedAtInterval, 0);
  assert.equal(cpu.pinChanges.total, 2);
  assert.equal(cpu.pinChanges.afterBalance, 2);
  assert.equal(cpu.pinChanges.failed, 1);
  // A pin whose domain went away before it was made (a move) is neither a change nor a failure.
  const gone = pin('vm7', 2, 3);
  at2.actions.push(gone);
  at2.unapplied = [{ action: { ...gone }, why: 'gone: vm7 went away' }];
  const after = scoreTrace(lines).cpu!;
  assert.equal(after.pinChanges.total, 2);
  assert.equal(after.pinChanges.failed, 1);
});

test('equal pCPU usage hides a VM that gets a third of its fair share', () => {
  // Two pCPUs, four VMs wanting a whole pCPU each: fair share is 0.5. On pCPU0 the host gives
  // vm1 a sixth and vm2 five sixths; both pCPUs read 100 %.
  const lines = [
    header(2, true, false),
    ...Array.from({ length: 5 }, (_, n) =>
      interval(n, {
        cpu: {
          elapsedNs: 1e9, pcpuUsage: [1, 1], pcpuDemand: [2, 2], balanced: true, spreadPoints: 0,
          vcpus: [
            { domain: 'vm1', vcpu: 0, pcpu: 0, affinity: [0], usage: 1 / 6, demand: 1 },
            { domain: 'vm2', vcpu: 0, pcpu: 0, affinity: [0], usage: 5 / 6, demand: 1 },
            { domain: 'vm3', vcpu: 0, pcpu: 1, affinity: [1], usage: 0.5, demand: 1 },
            { domain: 'vm4', vcpu: 0, pcpu: 1, affinity: [1], usage: 0.5, demand: 1 },
          ],
        },
      }),
    ),
  ];
  const cpu = scoreTrace(lines).cpu!;
  assert.equal(cpu.balancedAtInterval, 0);
  assert.equal(cpu.spread!.max, 0);
  const f = cpu.fairness!;
  assert.equal(f.source, 'measured');
  assert.ok(f.jainAll! < 0.9, `jainAll ${f.jainAll}`);
  assert.equal(f.groups.length, 1);
  assert.ok(f.jainWithinGroupsMin! < 0.98);
  assert.equal(f.worstFractionOfFairShare!.domain, 'vm1');
  assert.ok(Math.abs(f.worstFractionOfFairShare!.fraction - 1 / 3) < 1e-9);
});

test('truth is preferred over measurement for fairness', () => {
  const vms = eight(() => 1);
  const lines = cpuTrace(4, vms, 4, () => [0, 0, 1, 1, 2, 2, 3, 3]);
  // Measurement says all is fair; truth says vm1 got only a tenth.
  for (const line of lines) if (line.type === 'interval') line.truth!.vcpus[0]!.received = 0.1;
  const f = scoreTrace(lines).cpu!.fairness!;
  assert.equal(f.source, 'truth');
  assert.equal(f.worstFractionOfFairShare!.domain, 'vm1');
  assert.ok(Math.abs(f.worstFractionOfFairShare!.fraction - 0.2) < 1e-9);
});

test('4 heavy + 4 light placed well: unequal demands, equal groups fair', () => {
  const vms = eight((i) => (i < 4 ? 1 : 0.2));
  const cpu = scoreTrace(cpuTrace(4, vms, 5, () => [0, 1, 2, 3, 0, 1, 2, 3])).cpu!;
  const f = cpu.fairness!;
  assert.equal(f.groups.length, 2);
  assert.ok(f.jainWithinGroupsMin! > 0.999);
  assert.ok(f.jainAll! < 0.99, 'light VMs get all they want, heavy ones 80 %');
  assert.ok(f.worstFractionOfFairShare!.fraction > 0.999);
});

test('4 heavy + 4 light with the heavy ones doubled up: fair-share fraction falls', () => {
  const vms = eight((i) => (i < 4 ? 1 : 0.2));
  const f = scoreTrace(cpuTrace(4, vms, 5, () => [0, 0, 1, 1, 2, 2, 3, 3])).cpu!.fairness!;
  assert.ok(f.worstFractionOfFairShare!.fraction < 0.7);
});

test('a trace that never settles is never balanced', () => {
  const vms = eight(() => 0.4);
  const cpu = scoreTrace(cpuTrace(4, vms, 5, () => [0, 0, 0, 0, 1, 1, 2, 3])).cpu!;
  assert.equal(cpu.balancedAtInterval, undefined);
  assert.equal(cpu.pinChanges.afterBalance, undefined);
  assert.equal(cpu.fairness!.intervals, 5);
});

test('Jain index, grouping and fair shares', () => {
  assert.equal(jainIndex([1, 1, 1, 1]), 1);
  assert.ok(Math.abs(jainIndex([1, 0, 0, 0])! - 0.25) < 1e-12);
  assert.equal(jainIndex([]), undefined);
  const groups = groupByValue([1, 1.04, 1.06, 0.2, 0.205], (x) => x, 0.05);
  assert.deepEqual(groups, [[0.2, 0.205], [1, 1.04], [1.06]]);
  assert.deepEqual(fairShares([0.2, 1, 1], 2), [0.2, 0.9, 0.9]);
  assert.deepEqual(fairShares([0.2, 0.3], 4), [0.2, 0.3]);
});

test('trials: started, kept, reverted and abandoned counted from the trace, proposals held by rule, pin changes by reverts', () => {
  const cpu = scoreTrace(trialTrace()).cpu!;
  assert.equal(cpu.pinChanges.total, 10);
  assert.deepEqual(cpu.trials, {
    started: 4,
    kept: 1,
    reverted: 1,
    // The trial of epoch 3 ends when epoch 4's starts: the trace says so on that interval's event, and it counts once.
    abandoned: 1,
    held: 2,
    heldBy: { 'one-trial-per-epoch': 1, 'placement-left-before': 1 },
    revertPinChanges: 2,
    epochs: 4,
  });
  // An explicit `abandoned` event later is another abandonment.
  const lines = trialTrace();
  const i17 = lines.find((l) => l.type === 'interval' && l.interval === 17) as TraceInterval;
  i17.cpu!.trial = { event: 'abandoned', epoch: 5, baseline: { worstFraction: 0.7, usageSpreadPoints: 0, samples: 1 } };
  const again = scoreTrace(lines).cpu!.trials!;
  assert.equal(again.abandoned, 2, 'the trial of epoch 4 was open: its abandonment counts');
  assert.equal(again.started, 4);
});

test('trials: a trace without any (another scheduler, or from before trials) has no trial figures and no trials line', () => {
  const cpu = scoreTrace(cpuTrace(2, [{ name: 'a', demand: 1 }, { name: 'b', demand: 1 }], 4, () => [0, 1])).cpu!;
  assert.equal(cpu.trials, undefined);
  assert.doesNotMatch(formatScore(scoreTrace(cpuTrace(2, [{ name: 'a', demand: 1 }], 3, () => [0]))), /trials/);
});

test('trials in the text score: counts with the revert pins, and the proposals held by rule', () => {
  const text = formatScore(scoreTrace(trialTrace()));
  assert.match(text, /\n {2}trials {25}4 started, 1 kept, 1 reverted, 1 abandoned \(pin changes by reverts: 2\)\n/);
  assert.match(text, /\n {2}proposals held {17}2 \(one trial per demand epoch: 1; the placement in force was left once before in this epoch: 1\)\n/);
});
