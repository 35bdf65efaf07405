// Domains that change under the controllers: destroyed between observe and act, started mid-run,
// renamed, replaced, paused, with partial statistics or no balloon. Each gives one clear log line
// and the other domains go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimulatedRun } from '../../src/host/sim/index.js';
import { FaultyHost, seededRandom } from './faulty-host.js';
import { runScenario, shipped } from './harness.js';

function wrapWith(holder: { host?: FaultyHost }) {
  return (sim: SimulatedRun): FaultyHost => {
    holder.host = new FaultyHost(sim.hypervisor, {}, seededRandom(1));
    return holder.host;
  };
}

const count = (logs: string[], re: RegExp): number => logs.filter((l) => re.test(l)).length;

test('a domain destroyed between observe and act: a move, not a failure: one log line, nothing recorded as failed, the other domains are re-pinned', async () => {
  const scenario = shipped('cpu-2-all-on-pcpu0');
  // Where the scheduler first re-pins, in an undisturbed run.
  const clean = await runScenario(scenario, { intervals: 10 });
  const acting = clean.entries.find((e) => e.actions.some((a) => a.kind === 'pin'))!;
  const pinned = acting.actions.filter((a) => a.kind === 'pin').map((a) => a.domain.name);
  assert.ok(pinned.length >= 4);
  const victim = pinned[1]!;

  const holder: { host?: FaultyHost } = {};
  const run = await runScenario(scenario, {
    intervals: 10,
    wrap: wrapWith(holder),
    beforeInterval: (i) => {
      if (i === acting.interval) holder.host!.vanishAfterNextObserve.set(victim, 2);
    },
  });
  const entry = run.entries[acting.interval]!;
  assert.deepEqual(entry.failures, [], 'a domain gone between observe and act is not a failure');
  assert.deepEqual([...new Set(entry.unapplied!.map((u) => u.action.domain.name))], [victim]);
  assert.match(entry.unapplied![0]!.why, /^gone: Domain not found/);
  assert.equal(count(run.logs, new RegExp(`^${victim}: gone before pin ${victim} vCPU0 to pCPU \\d+ \\(migrated away, saved or stopped\\): nothing applied to it; forgotten$`)), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /failed/), 0, run.logs.join('\n'));
  // Everyone else was pinned as decided.
  const truth = run.truths[acting.interval]!;
  assert.equal(truth.actions.pinCalls, pinned.length - 1);
  // Its going is not said twice; its return is said once, as a move back.
  assert.equal(count(run.logs, new RegExp(`^${victim}: gone`)), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, new RegExp(`^${victim}: back \\(running, id \\d+: moved back, restored or restarted\\): starts afresh$`)), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, new RegExp(`^${victim}: appeared`)), 0, run.logs.join('\n'));
  assert.equal(run.entries.length, 10);
});

test('domains started and destroyed mid-run: one line each, nothing fails, the others go on', async () => {
  const run = await runScenario(shipped('mixed-1-lifecycle'));
  assert.deepEqual(
    run.logs.filter((l) => / appeared | gone /.test(l)),
    ['vm3: appeared (running)', 'vm1: gone (shut down, destroyed or migrated away): forgotten', 'vm4: appeared (running)', 'vm3: gone (shut down, destroyed or migrated away): forgotten'],
  );
  const failures = run.entries.flatMap((e) => e.failures);
  assert.ok(failures.length <= 2, failures.map((f) => f.error).join('; '));
  // The memory coordinator manages the newcomer: it asks vm4 for statistics and later balloons it.
  assert.ok(run.entries.some((e) => e.actions.some((a) => a.domain.name === 'vm4')));
});

test('a domain renamed mid-run: one line; its history follows it (no new statistics request), actions reach it under the new name', async () => {
  const holder: { host?: FaultyHost } = {};
  const run = await runScenario(shipped('memory-1-one-consumer'), {
    wrap: wrapWith(holder),
    beforeInterval: (i) => {
      if (i === 20) holder.host!.renames.set('vm1', 'vm1-renamed');
    },
  });
  assert.equal(count(run.logs, /^vm1-renamed: renamed from vm1$/), 1, run.logs.join('\n'));
  const after = run.entries.slice(20).flatMap((e) => e.actions);
  assert.equal(after.filter((a) => a.kind === 'set-stats-period').length, 0, 'statistics were already on');
  assert.ok(after.some((a) => a.kind === 'set-memory' && a.domain.name === 'vm1-renamed'), 'the consumer is still served');
  assert.deepEqual(run.entries.flatMap((e) => e.failures), []);
  assert.equal(run.truths.reduce((n, t) => n + t.oomEvents.length, 0), 0);
});

test('a domain replaced by another of the same name (new UUID): one line, it starts afresh', async () => {
  const holder: { host?: FaultyHost } = {};
  const scenario = shipped('memory-1-one-consumer');
  const vm2 = scenario.domains.find((d) => d.name === 'vm2')!;
  const run = await runScenario(scenario, {
    intervals: 30,
    wrap: wrapWith(holder),
    beforeInterval: (i) => {
      if (i === 15) holder.host!.shownUuids.set(vm2.uuid, '11111111-2222-3333-4444-555555555555');
    },
  });
  assert.equal(count(run.logs, /^vm2: replaced by a new domain of the same name \(UUID .* → 11111111-2222-3333-4444-555555555555\): starts afresh$/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^vm2: (gone|appeared)/), 0, 'a replacement is not also reported as gone and appeared');
  assert.deepEqual(run.entries.flatMap((e) => e.failures), []);
  assert.equal(run.entries.length, 30);
});

test('a paused domain is left alone (no action reaches it) and reported once when paused and once when running again', async () => {
  const holder: { host?: FaultyHost } = {};
  const run = await runScenario(shipped('memory-1-one-consumer'), {
    wrap: wrapWith(holder),
    beforeInterval: (i) => {
      if (i === 12) holder.host!.forcePaused.add('vm1');
      if (i === 20) holder.host!.forcePaused.delete('vm1');
    },
  });
  assert.deepEqual(holder.host!.violations, []);
  assert.equal(count(run.logs, /^vm1: paused \(was running\): left as it is until it runs again$/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^vm1: running again \(was paused\)$/), 1, run.logs.join('\n'));
  assert.deepEqual(run.entries.slice(12, 20).flatMap((e) => e.actions.filter((a) => a.domain.name === 'vm1')), []);
});

test('a paused domain is not re-pinned either', async () => {
  const holder: { host?: FaultyHost } = {};
  await runScenario(shipped('cpu-2-all-on-pcpu0'), {
    intervals: 10,
    wrap: wrapWith(holder),
    beforeInterval: (i) => {
      if (i === 0) holder.host!.forcePaused.add('vm1');
    },
  });
  assert.deepEqual(holder.host!.violations, []);
});

test('a balloon driver that goes missing: one notice, its memory is left as it is, the others go on', async () => {
  const holder: { host?: FaultyHost } = {};
  const run = await runScenario(shipped('memory-1-one-consumer'), {
    wrap: (sim) => {
      holder.host = new FaultyHost(sim.hypervisor, {}, seededRandom(1));
      // vm3 never shows a balloon: like a guest without the virtio-balloon device.
      const inner = holder.host.observe.bind(holder.host);
      holder.host.observe = async () => {
        const obs = await inner();
        return { ...obs, domains: obs.domains.map((d) => (d.name === 'vm3' ? { ...d, balloon: undefined } : d)) };
      };
      return holder.host;
    },
  });
  assert.equal(count(run.logs, /^vm3: no balloon device/), 1, run.logs.join('\n'));
  assert.deepEqual(run.entries.flatMap((e) => e.actions.filter((a) => a.domain.name === 'vm3')), []);
  assert.ok(run.entries.some((e) => e.actions.some((a) => a.kind === 'set-memory' && a.domain.name === 'vm1')));
});

test('statistics that come back partial (unused or last-update missing) or without vCPU delay: no crash, no unsafe action, every interval recorded', async () => {
  for (const seed of [1, 2, 3]) {
    const holder: { host?: FaultyHost } = {};
    const run = await runScenario(shipped('mixed-1-lifecycle'), {
      seed,
      wrap: (sim) => (holder.host = new FaultyHost(sim.hypervisor, { partialStats: 0.2, noDelay: 0.2 }, seededRandom(seed))),
    });
    assert.equal(run.entries.length, shipped('mixed-1-lifecycle').intervals);
    assert.ok(holder.host!.counts.partialStats > 10);
    for (const entry of run.entries) {
      for (const a of entry.actions) {
        if (a.kind !== 'set-memory' || a.targetKiB >= a.fromKiB) continue;
        const g = entry.memory!.guests.find((x) => x.domain === a.domain.name)!;
        assert.ok(g.fresh && g.usedKiB !== undefined && a.targetKiB >= (g.anonKiB ?? g.usedKiB) + g.floorKiB - 1, `seed ${seed} interval ${entry.interval}: unsafe shrink of ${a.domain.name}`);
      }
    }
    assert.equal(run.truths.reduce((n, t) => n + t.oomEvents.length, 0), 0, `seed ${seed}: OOM`);
  }
});

test('observe failing for a few intervals: one log line, the outage is in the trace, measurement restarts after it', async () => {
  const holder: { host?: FaultyHost } = {};
  let failing = false;
  const run = await runScenario(shipped('cpu-2-all-on-pcpu0'), {
    intervals: 12,
    wrap: (sim) => {
      holder.host = new FaultyHost(sim.hypervisor, {}, seededRandom(1));
      const inner = holder.host.observe.bind(holder.host);
      holder.host.observe = async () => {
        if (failing) throw new Error('internal error: client socket is closed');
        return inner();
      };
      return holder.host;
    },
    beforeInterval: (i) => {
      failing = i >= 4 && i < 7;
    },
  });
  assert.equal(count(run.logs, /^observe failed: internal error: client socket is closed$/), 1, run.logs.join('\n'));
  assert.equal(count(run.logs, /^observing again after 3 failed intervals; CPU measurement restarts$/), 1, run.logs.join('\n'));
  for (const i of [4, 5, 6]) assert.match(run.entries[i]!.notices[0]!.message, /^observe failed/);
  // The first interval after the outage only observes: no CPU measurement spans the gap.
  assert.equal(run.entries[7]!.cpu, undefined);
  assert.ok(run.entries[8]!.cpu);
  assert.equal(run.entries.length, 12);
});
