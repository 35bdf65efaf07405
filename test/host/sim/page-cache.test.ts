// The simulated guests' page cache: reads fill it, need empties it (least recently used first),
// re-reading dropped data costs disk reads and time, and the balloon's part of it is told apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedHost, type SimulatedRun } from '../../../src/host/sim/simulated-host.js';
import { fileURLToPath } from 'node:url';
import { loadScenario, parseScenario } from '../../../src/host/sim/scenario.js';
import type { BalloonObservation, DomainObservation } from '../../../src/ground/hypervisor.js';
import type { CacheTruth, TruthInterval } from '../../../src/host/sim/truth.js';

const MiB = 1024;

function sim(domain: string, host = ''): SimulatedRun {
  const text = `name: cache
interval: 1
intervals: 10
host:
  pcpus: 2
  memoryMiB: 8192
  balloonRateMiBps: 1000
${host}domains:
  - ${domain}
`;
  return createSimulatedHost(parseScenario(text, 'cache.yaml'));
}

async function guest(run: SimulatedRun): Promise<DomainObservation & { balloon: BalloonObservation }> {
  const d = (await run.hypervisor.observe()).domains[0]!;
  assert.ok(d.balloon?.unusedKiB !== undefined, 'stats on');
  return d as DomainObservation & { balloon: BalloonObservation };
}

function cacheOf(t: TruthInterval): CacheTruth {
  return t.domains[0]!.cache;
}

/** Sums the cache truth of several intervals. */
function total(list: TruthInterval[]): { refaultMiB: number; coordinatorRefaultMiB: number; readStallSeconds: number; coldMiBSeconds: number; droppedMiB: number } {
  const sum = { refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0, coldMiBSeconds: 0, droppedMiB: 0 };
  for (const t of list) {
    const c = cacheOf(t);
    sum.refaultMiB += c.refaultMiB;
    sum.coordinatorRefaultMiB += c.coordinatorRefaultMiB;
    sum.readStallSeconds += c.readStallSeconds;
    sum.coldMiBSeconds += c.coldMiBSeconds;
    sum.droppedMiB += c.droppedMiB;
  }
  return sum;
}

test('a scan fills free memory with cache at its rate; the guest reports it as the balloon driver does', async () => {
  const run = sim('{ name: a, memoryMiB: 2048, statsPeriod: 1, workload: { usedMiB: 100, reads: [{ scan: 1000, rate: 100, at: 1 }] } }');
  await run.clock.sleep(6000); // 5 s of scanning at 100 MiB/s
  let g = await guest(run);
  assert.equal(g.balloon.diskCachesKiB, 500 * MiB, 'half of it read so far');
  assert.equal(g.balloon.unusedKiB, (2048 - 100 - 500) * MiB, 'MemFree: the cache is not free');
  assert.equal(g.balloon.usableKiB, (2048 - 100) * MiB, 'MemAvailable: free + clean cache');
  assert.equal(g.blockReadBytes, 500 * MiB * 1024, 'the host sees the disk reads');
  assert.equal(g.balloon.majorFaults, 500 * 256, 'one major fault per 4 KiB page read');
  assert.equal(g.balloon.minorFaults, 100 * 256, 'anonymous pages first touched');
  run.truth();
  await run.clock.sleep(10_000);
  g = await guest(run);
  assert.equal(g.balloon.diskCachesKiB, 1000 * MiB);
  assert.equal(g.blockReadBytes, 1000 * MiB * 1024, 'read once: no more disk reads');
  const t = run.truth();
  const c = cacheOf(t);
  assert.equal(c.coldMiB, 1000, 'scanned data is cold');
  assert.equal(c.hotMiB, 0);
  assert.equal(c.refaultMiB, 0);
  // 5 s climbing from 500 to 1000 MiB, then 5 s at 1000 (summed per 100 ms step: within 1 %).
  assert.ok(Math.abs(c.coldMiBSeconds - (5 * 750 + 5 * 1000)) < 0.01 * 8750, `cold MiB·s ${c.coldMiBSeconds}`);
});

test('reads from disk go no faster than the disk', async () => {
  const run = sim('{ name: a, memoryMiB: 2048, statsPeriod: 1, workload: { usedMiB: 100, reads: [{ scan: 1000, rate: 500 }] } }', '  diskReadMiBps: 250\n');
  await run.clock.sleep(2000);
  assert.equal((await guest(run)).blockReadBytes, 500 * MiB * 1024);
});

test('a scan larger than the guest keeps only the newest data and never runs the guest out of memory', async () => {
  const run = sim('{ name: a, memoryMiB: 600, statsPeriod: 1, workload: { usedMiB: 100, cachesMiB: 50, reads: [{ scan: 1500, rate: 300 }] } }', '  diskReadMiBps: 400\n');
  await run.clock.sleep(7000);
  const g = await guest(run);
  const t = run.truth();
  assert.equal(t.oomEvents.length, 0);
  assert.ok(g.balloon.diskCachesKiB! <= 500 * MiB && g.balloon.diskCachesKiB! >= 499 * MiB, `cache fills what is left: ${g.balloon.diskCachesKiB! / MiB}`);
  assert.ok(g.balloon.unusedKiB! >= 0 && g.balloon.unusedKiB! < 1 * MiB, 'nothing left free');
  assert.ok(cacheOf(t).droppedMiB >= 1000, 'the older part of the scan and the boot-time cache went');
  assert.equal(cacheOf(t).refaultMiB, 0, 'a scan never re-reads');
});

test('anonymous growth takes cache first; only anonymous use beyond the balloon is an OOM', async () => {
  const run = sim('{ name: a, memoryMiB: 1024, statsPeriod: 1, workload: { usedMiB: { steps: [[0, 100], [3, 900], [6, 1100]] }, reads: [{ scan: 800, rate: 400 }] } }', '  diskReadMiBps: 400\n');
  await run.clock.sleep(2500);
  assert.equal((await guest(run)).balloon.diskCachesKiB, 800 * MiB);
  await run.clock.sleep(1000); // anon 900 of 1024
  let g = await guest(run);
  assert.equal(g.balloon.diskCachesKiB, 124 * MiB, 'cache shrank to what anonymous use leaves');
  assert.equal(run.truth().oomEvents.length, 0, 'no OOM while cache could be dropped');
  await run.clock.sleep(3000); // anon wants 1100 of 1024
  g = await guest(run);
  assert.equal(g.balloon.diskCachesKiB, 0);
  assert.equal(run.truth().oomEvents.length, 1, 'out of memory once no cache is left');
});

test('a hot set stays cached while a scan in the same guest streams past it', async () => {
  const run = sim('{ name: a, memoryMiB: 1024, statsPeriod: 1, workload: { usedMiB: 100, reads: [{ hot: 300, every: 5, rate: 600 }, { scan: 3000, rate: 200, at: 11 }] } }');
  await run.clock.sleep(11_000); // three passes: the hot set is on the active list
  const before = run.truth();
  assert.equal(cacheOf(before).hotMiB, 300);
  assert.equal(cacheOf(before).refaultMiB, 0);
  await run.clock.sleep(15_000); // 3000 MiB streamed through ~600 MiB of room
  const during = run.truth();
  assert.equal(cacheOf(during).refaultMiB, 0, 'the scan pushed out only data read once');
  assert.equal(cacheOf(during).hotMiB, 300);
  assert.ok(cacheOf(during).coldMiB > 500, 'the rest holds the newest scan data');
});

test('a balloon that squeezes a hot set makes the guest read it back: refaults, block reads, stall, all the coordinator\'s', async () => {
  const run = sim(
    '{ name: a, memoryMiB: 1024, statsPeriod: 1, workload: { usedMiB: 100, reads: [{ hot: 600, every: 10, rate: 600 }] } }',
    '  diskReadMiBps: 200\n',
  );
  await run.clock.sleep(15_000); // passes at 0 s and 10 s: all from cache the second time
  const settled = run.truth();
  assert.equal(cacheOf(settled).refaultMiB, 0);
  const readBefore = (await guest(run)).blockReadBytes!;
  assert.equal(readBefore, 600 * MiB * 1024, 'read from disk once');

  const a = (await run.hypervisor.observe()).domains[0]!;
  await run.hypervisor.setMemory(a, 400 * MiB); // room for 300 of the 600 MiB hot set
  await run.clock.sleep(10_000); // the pass at 20 s
  const after = run.truth();
  const c = cacheOf(after);
  assert.equal(after.oomEvents.length, 0);
  assert.ok(c.refaultMiB >= 590, `the whole set read back (it cycles through half its size): ${c.refaultMiB}`);
  assert.equal(c.coordinatorRefaultMiB, c.refaultMiB, 'at its old size the set fitted: every refault is the coordinator\'s');
  assert.ok(c.readStallSeconds > 1, `reads waited for the disk: ${c.readStallSeconds} s`);
  const g = await guest(run);
  assert.ok(g.blockReadBytes! - readBefore >= 590 * MiB * 1024, 'the host sees the refaults as block reads');
  assert.ok(g.balloon.majorFaults! > 600 * 256, 'and the guest as major faults');

  await run.clock.sleep(20_000); // two more passes: squeezed, the set keeps cycling through the cache
  const thrash = cacheOf(run.truth());
  assert.ok(thrash.coordinatorRefaultMiB >= 2 * 590, `still the coordinator's, pass after pass: ${thrash.coordinatorRefaultMiB}`);

  await run.hypervisor.setMemory(a, 1024 * MiB);
  await run.clock.sleep(20_000);
  run.truth();
  await run.clock.sleep(10_000);
  assert.equal(cacheOf(run.truth()).refaultMiB, 0, 'given back, the set fits again and stops refaulting');
});

test('a guest that never had room for its hot set refaults, but not because of the coordinator', async () => {
  const run = sim('{ name: a, memoryMiB: 512, maxMemoryMiB: 2048, statsPeriod: 1, workload: { usedMiB: 100, reads: [{ hot: 600, every: 10, rate: 600 }] } }');
  await run.clock.sleep(30_000);
  const t = total([run.truth()]);
  assert.ok(t.refaultMiB > 1000, `it thrashes: ${t.refaultMiB}`);
  assert.equal(t.coordinatorRefaultMiB, 0, 'the balloon never took anything from it');
});

test('refaults the guest causes itself are not the coordinator\'s', async () => {
  const run = sim('{ name: a, memoryMiB: 1024, statsPeriod: 1, workload: { usedMiB: { steps: [[0, 100], [12, 700]] }, reads: [{ hot: 600, every: 10, rate: 600 }] } }');
  await run.clock.sleep(30_000);
  const t = total([run.truth()]);
  assert.ok(t.refaultMiB > 200, `its own growth dropped hot data it then re-read: ${t.refaultMiB}`);
  assert.equal(t.coordinatorRefaultMiB, 0);
});

test('a hot set stops being hot after until; boot-time cache is cold', async () => {
  const run = sim('{ name: a, memoryMiB: 2048, statsPeriod: 1, workload: { usedMiB: 100, cachesMiB: 30, reads: [{ hot: 200, every: 5, rate: 400, until: 12 }] } }');
  await run.clock.sleep(11_000);
  let c = cacheOf(run.truth());
  assert.equal(c.hotMiB, 200);
  assert.equal(c.coldMiB, 30);
  await run.clock.sleep(5000);
  c = cacheOf(run.truth());
  assert.equal(c.hotMiB, 0);
  assert.equal(c.coldMiB, 230);
});

test('cache-2-hot tells coordinators apart: squeezing the hot guest to anonymous + floor refaults its set on every pass', async () => {
  const file = fileURLToPath(new URL('../../../../scenarios/cache-2-hot.yaml', import.meta.url));
  const perMinute = async (targetMiB: number | undefined): Promise<number> => {
    const run = createSimulatedHost(loadScenario(file));
    let coordinator = 0;
    for (let i = 0; i < 90; i++) {
      const obs = await run.hypervisor.observe();
      if (i === 15 && targetMiB !== undefined) await run.hypervisor.setMemory(obs.domains.find((d) => d.name === 'vm1')!, targetMiB * MiB);
      await run.clock.sleep(2000);
      const c = run.truth().domains.find((d) => d.name === 'vm1')!.cache;
      if (i >= 20) coordinator += c.coordinatorRefaultMiB;
    }
    return coordinator / ((70 * 2) / 60);
  };
  assert.equal(await perMinute(undefined), 0);
  assert.equal(await perMinute(150 + 600 + 200), 0, 'anonymous + hot + floor keeps the set');
  const squeezed = await perMinute(150 + 200);
  assert.ok(squeezed >= 0.9 * 6 * 600, `anonymous + floor: the whole set every 10 s, ${squeezed.toFixed(0)} MiB/min`);
});
