// End to end: the shipped `vcpu_scheduler 2` (a child process, as a grader runs it) on four real
// one-vCPU guests, all pinned to pCPU0 of a 2-pCPU host and all busy (scenarios/lab-cpu-4-on-pcpu0).
// Measured with our own libvirt client: the placement (affinity), and each guest's vCPU time.
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { cpuWindow, sampleCpu } from '../../src/lab/cpu-window.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { labRemove, type LabGuest } from '../../src/lab/lab.js';
import { planLabRun } from '../../src/lab/plan.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { labWorkloadController } from '../../src/lab/workload-channel.js';
import { WorkloadPlayer } from '../../src/lab/workload-player.js';
import { CI, OUR_GUESTS, runBin, say, sleep, URI, type Child, claimLabDaemon, upTestGuests } from './e2e-support.js';

const TAG = 'cpu-e2e';
const PREFIX = `vblt${process.pid}c_`;
const SCENARIO = fileURLToPath(new URL('../../../scenarios/lab-cpu-4-on-pcpu0.yaml', import.meta.url));
const INTERVAL_S = 2;
/** Converged within this many intervals of the scheduler's start. */
const CONVERGE_INTERVALS = 5;
/** Window over which shares are measured once the pins have settled, and the later one watched for pin changes. */
const MEASURE_S = 20;
const WATCH_AFTER_S = 10;
/** Within this long after convergence, the pins must have stayed put for MEASURE_S + WATCH_AFTER_S. */
const SETTLE_LIMIT_S = 120;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let guests: LabGuest[] = [];
let scheduler: Child | undefined;
let unlock: (() => Promise<void>) | undefined;

const dom = (g: LabGuest) => ({ name: g.name, uuid: g.uuid, id: -1 });

/** Each guest's vCPU0 affinity, by name. */
async function placement(): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const g of guests) out.set(g.name, (await client!.getVcpuPinInfo(dom(g), { vcpus: 1 }))[0]!);
  return out;
}


const describePlacement = (p: Map<string, number[]>) => [...p].map(([n, a]) => `${n.slice(PREFIX.length)}→${a.join(',')}`).join(' ');

describe('vcpu_scheduler on real guests: four busy guests all on pCPU0 of two', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    const hostPcpus = (await client.nodeInfo()).cpus;
    if (hostPcpus !== 2) {
      const why = `this case is sized for a 2-pCPU host, this one has ${hostPcpus}`;
      if (CI) throw new Error(`${why} (CI=true)`);
      skip = why;
      return;
    }
    const scenario = loadScenario(SCENARIO);
    const plan = planLabRun(scenario, { prefix: PREFIX, hostPcpus });
    const up = await upTestGuests(client, TAG, plan.guests.map((g) => ({ name: g.name, vcpus: g.vcpus, memoryMiB: g.memoryMiB, maxMemoryMiB: g.maxMemoryMiB, statsPeriod: g.spec.statsPeriod, diskMiB: 0 })));
    guests = up.guests;
    say(TAG, `${guests.length} guests up in ${up.bootSeconds.toFixed(1)} s (domain type ${up.accel.domainType})`);
    for (const g of plan.guests) {
      const guest = guests.find((x) => x.name === g.name)!;
      for (const [vcpu, set] of g.pins.entries()) if (set) await client.pinVcpu(dom(guest), vcpu, set, { pcpus: hostPcpus });
    }
    // The scenario's load: every guest busy (duty 1.0), constant, so one tick sets it.
    const player = new WorkloadPlayer(labWorkloadController(), scenario, plan.guests.map((g) => ({ spec: g.spec, guest: g.name })));
    const tick = await player.tick(0);
    assert.deepEqual(tick.failed, [], 'every guest took its load');
    await sleep(1_000);
  });

  after(async () => {
    try {
      if (scheduler) {
        const code = await scheduler.stop();
        say(TAG, `vcpu_scheduler stopped (${code}); its last lines:\n${scheduler.output.slice(-6).join('\n')}`);
      }
    } finally {
      try {
        if (client && guests.length > 0) await labRemove(client, guests.map((g) => g.name), consoleProgress(TAG));
      } finally {
        await unlock?.();
        await client?.close();
      }
    }
  });

  test('spread 2 and 2 within a few intervals, at most the host alone tried once, then equal CPU time and no pin changes', async (t) => {
    if (skip) return t.skip(skip);
    const start = await placement();
    assert.ok([...start.values()].every((a) => a.length === 1 && a[0] === 0), `all on pCPU0 at the start: ${describePlacement(start)}`);

    const t0 = Date.now();
    scheduler = runBin(['vcpu_scheduler', String(INTERVAL_S), '--connect', URI, '--only', OUR_GUESTS], TAG);
    let converged: Map<string, number[]> | undefined;
    while (Date.now() - t0 < CONVERGE_INTERVALS * INTERVAL_S * 1000 + 2_000) {
      const p = await placement();
      const counts = [0, 1].map((pcpu) => [...p.values()].filter((a) => a.length === 1 && a[0] === pcpu).length);
      if (counts[0] === 2 && counts[1] === 2) {
        converged = p;
        break;
      }
      assert.equal(scheduler.process.exitCode, null, `vcpu_scheduler exited early:\n${scheduler.output.join('\n')}`);
      await sleep(250);
    }
    const convergeS = (Date.now() - t0) / 1000;
    assert.ok(converged, `not spread 2 and 2 within ${CONVERGE_INTERVALS} intervals: ${describePlacement(await placement())}\n${scheduler.output.join('\n')}`);
    say(TAG, `spread 2 and 2 after ${convergeS.toFixed(1)} s (${describePlacement(converged)})`);

    // After convergence the drop-in may try the host's scheduler alone once (where the worst guest is measured short of
    // fair: work other than these guests, on a CI host, makes pinned pairs share worse than the host would) and keep it
    // or go back, by what it measured. Any other move, or a placement left twice (A → B → A → B), is a failure; so is a
    // placement that does not stay put for MEASURE_S + WATCH_AFTER_S within SETTLE_LIMIT_S.
    const placementKey = (p: Map<string, number[]>) => [...p].map(([n, a]) => `${n}:${a.join(',')}`).join(' ');
    const twoAndTwo = (p: Map<string, number[]>) => [0, 1].every((pcpu) => [...p.values()].filter((a) => a.length === 1 && a[0] === pcpu).length === 2);
    const released = (p: Map<string, number[]>) => [...p.values()].every((a) => a.join() === '0,1');
    const convergedAt = Date.now();
    let current = converged;
    const visited = [describePlacement(converged)];
    const left = new Map<string, number>();
    // One interval for the moves to take effect before the shares are sampled.
    await sleep(INTERVAL_S * 1000);
    let first = await sampleCpu(client!, guests.map(dom), 2);
    let since = Date.now();
    let window: ReturnType<typeof cpuWindow> | undefined;
    for (;;) {
      await sleep(1_000);
      assert.equal(scheduler.process.exitCode, null, `vcpu_scheduler exited early:\n${scheduler.output.join('\n')}`);
      let p = await placement();
      if (placementKey(p) !== placementKey(current)) {
        // The scheduler pins one vCPU at a time: read again once its moves of this interval are all made.
        await sleep(500);
        p = await placement();
        const from = placementKey(current);
        left.set(from, (left.get(from) ?? 0) + 1);
        visited.push(`${describePlacement(p)} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        assert.ok(twoAndTwo(p) || released(p), `a move that is neither two and two nor the host alone: ${visited.join(' → ')}\n${scheduler.output.join('\n')}`);
        assert.ok(left.get(from)! <= 1, `a placement left twice (oscillating): ${visited.join(' → ')}\n${scheduler.output.join('\n')}`);
        current = p;
        await sleep(INTERVAL_S * 1000);
        first = await sampleCpu(client!, guests.map(dom), 2);
        since = Date.now();
        window = undefined;
        continue;
      }
      const stable = (Date.now() - since) / 1000;
      if (!window && stable >= MEASURE_S) window = cpuWindow(first, await sampleCpu(client!, guests.map(dom), 2));
      if (window && stable >= MEASURE_S + WATCH_AFTER_S) break;
      assert.ok((Date.now() - convergedAt) / 1000 <= SETTLE_LIMIT_S, `pins not settled ${SETTLE_LIMIT_S} s after convergence: ${visited.join(' → ')}\n${scheduler.output.join('\n')}`);
    }
    say(TAG, `placements after convergence: ${visited.join(' → ')}${visited.length > 1 ? ' (the host alone tried once, by what was measured)' : ' (no pin change)'}`);
    const share = window.guestShare;
    const host = `host pCPUs busy ${window.pcpuBusy.map((b) => (b * 100).toFixed(0)).join(' / ')} %, of which ${(window.otherWork * 100).toFixed(0)} % of a pCPU went to work other than these guests (load average ${os.loadavg()[0]!.toFixed(1)})`;
    // pCPU usage as the scheduler and the grader's monitor count it: the vCPUs pinned there (the host alone balances its own).
    if (twoAndTwo(current)) {
      const usage = [0, 1].map((pcpu) => [...current].filter(([, a]) => a[0] === pcpu).reduce((sum, [name]) => sum + share.get(name)!, 0) * 100);
      say(TAG, `over ${window.seconds.toFixed(1)} s: pCPU usage by the guests ${usage.map((u) => u.toFixed(1)).join(' / ')} %, guest shares ${[...share].map(([n, s]) => `${n.slice(PREFIX.length)} ${(s * 100).toFixed(1)} %`).join(', ')}; ${host}`);
      assert.ok(Math.abs(usage[0]! - usage[1]!) <= 10, `pCPU usage differs by ${Math.abs(usage[0]! - usage[1]!).toFixed(1)} points: ${usage.map((u) => u.toFixed(1)).join(' vs ')} (${host})`);
    } else {
      say(TAG, `over ${window.seconds.toFixed(1)} s, the host's scheduler alone: guest shares ${[...share].map(([n, s]) => `${n.slice(PREFIX.length)} ${(s * 100).toFixed(1)} %`).join(', ')}; ${host}`);
    }
    // 15 %: two busy vCPUs sharing one pCPU split it unevenly by a few points over 20 s here (the
    // guests' unpinned QEMU threads and host daemons land on one side). Work that is not these
    // guests' lands on the vCPUs it happens to preempt, so the tolerance grows by that much (a CI
    // run with 12 % of a pCPU of foreign work split one pair 54 / 42). All on pCPU0 would be 50 % apart.
    const tolerance = 0.15 + Math.min(0.2, window.otherWork);
    for (const [name, s] of share) {
      const others = [...share].filter(([n]) => n !== name).map(([, v]) => v);
      const mean = others.reduce((a, b) => a + b, 0) / others.length;
      assert.ok(Math.abs(s - mean) <= tolerance * mean, `${name} got ${(s * 100).toFixed(1)} % of a pCPU, the others ${(mean * 100).toFixed(1)} % on average (more than ${(tolerance * 100).toFixed(0)} % apart; ${host})`);
    }
    assert.equal(scheduler.process.exitCode, null, 'vcpu_scheduler still running');
    // Its monitor output is the grader's format.
    assert.ok(scheduler.output.some((l) => /^0 - usage: [\d.]+ \| mapping \[/.test(l)), 'monitor lines in the grader format');
  });
});
