// End to end: page cache on a real guest (the instrument the cache policy is measured with). One lab
// guest (512 MiB balloon, 2 GiB maximum, an 8 GiB sparse disk) reads its disk through vb-workload:
// a scan fills the page cache (the balloon's disk_caches rises, MemFree falls, the host sees the
// block reads); the cache stays while vb-workload keeps /dev/vda open; a hot set re-read every few
// seconds costs block reads only on its first pass and after the cache was dropped; a balloon
// shrink takes cache back without an OOM kill. No coordinator runs here.
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
// Thresholds leave room for a loaded 2-core machine (software-emulated guests read 30-50 MiB/s).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { paramNumber } from '../../src/libvirt/client.js';
import { DomainAffect, DomainStatsGroup } from '../../src/libvirt/protocol.js';
import { guestOomKills } from '../../src/lab/console-log.js';
import { blockReadBytes } from '../../src/host/libvirt-host.js';
import { labStatus, type LabGuest } from '../../src/lab/lab.js';
import { labWorkloadController, type WorkloadStatus } from '../../src/lab/workload-channel.js';
import { say, sleep, until, URI, claimLabDaemon, releaseLabDaemon, upTestGuests } from './e2e-support.js';

const TAG = 'cache-e2e';
const NAME = `vblt${process.pid}c_1`;
const MiB = 1024 * 1024;
const SCAN_MIB = 200;
const HOT_MIB = 64;
const HOT_EVERY_S = 3;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let guest: LabGuest | undefined;
let unlock: (() => Promise<void>) | undefined;
const wl = labWorkloadController();

interface Sample {
  actualMiB: number;
  unusedMiB: number;
  cachesMiB: number;
  lastUpdate: number;
  /** What the host saw the guest read from its disk, MiB. */
  blockReadMiB: number;
}

async function sample(): Promise<Sample> {
  const [rec] = await client!.getAllDomainStats(DomainStatsGroup.Balloon | DomainStatsGroup.Block, 0, [{ name: guest!.name, uuid: guest!.uuid, id: -1 }]);
  assert.ok(rec, `${NAME} has statistics`);
  const kib = (k: string) => {
    const v = paramNumber(rec.params, k);
    assert.ok(v !== undefined, `${NAME} reports ${k}`);
    return v;
  };
  const rd = blockReadBytes(rec.params);
  assert.ok(rd !== undefined, `${NAME} reports block read bytes`);
  return {
    actualMiB: kib('balloon.current') / 1024, unusedMiB: kib('balloon.unused') / 1024, cachesMiB: kib('balloon.disk_caches') / 1024,
    lastUpdate: kib('balloon.last-update'), blockReadMiB: rd / MiB,
  };
}

/** A balloon reading taken after `since` (stats come once a second). */
async function freshSample(since: number): Promise<Sample> {
  return until('a fresh balloon reading', 20_000, async () => {
    const s = await sample();
    return s.lastUpdate > since ? s : undefined;
  });
}

const fmt = (s: Sample) => `actual ${s.actualMiB.toFixed(0)} MiB, unused ${s.unusedMiB.toFixed(0)}, disk_caches ${s.cachesMiB.toFixed(0)}, block reads ${s.blockReadMiB.toFixed(0)} MiB`;

async function status(): Promise<WorkloadStatus> {
  const s = await wl.status(NAME);
  assert.ok(s.disk && s.disk.diskMiB > 0, `${NAME}'s workload program has its disk: ${JSON.stringify(s)}`);
  return s;
}

async function waitForPasses(passes: number, timeoutMs = 60_000): Promise<WorkloadStatus> {
  return until(`${passes} hot passes`, timeoutMs, async () => {
    const s = await status();
    return s.disk!.hotPasses >= passes ? s : undefined;
  }, 250);
}

let firstPid = -1;

describe('page cache on a real guest reading its disk', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    const up = await upTestGuests(client, TAG, [{ name: NAME, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 2048, diskMiB: 8192 }]);
    guest = up.guests[0];
    firstPid = (await status()).pid;
    say(TAG, `${NAME} up in ${up.bootSeconds.toFixed(1)} s (domain type ${up.accel.domainType})`);
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, labGuests: guest ? [guest.name] : [] });
  });

  test(`a ${SCAN_MIB} MiB scan fills the page cache: disk_caches rises, MemFree falls, the host sees the reads`, async (t) => {
    if (skip) return t.skip(skip);
    const before = await sample();
    const t0 = Date.now();
    await wl.setScan(NAME, { mib: SCAN_MIB });
    const done = await until('the scan to finish', 180_000, async () => {
      const s = await status();
      return s.disk!.scanPhase === 'done' ? s : undefined;
    });
    const seconds = (Date.now() - t0) / 1000;
    // A reading refreshed after the scan ended: one only newer than `before` may date from its last
    // second (seen: disk_caches +164 and MemFree −157 MiB for a 200 MiB scan read at 56 MiB/s).
    const afterScan = await freshSample((await sample()).lastUpdate + 1);
    say(TAG, `scan of ${done.disk!.scanMiB} MiB in ${seconds.toFixed(1)} s (${(done.disk!.scanMiB / seconds).toFixed(0)} MiB/s); before: ${fmt(before)}; after: ${fmt(afterScan)}; guest Buffers ${(done.disk!.buffersKiB / 1024).toFixed(0)} MiB`);
    assert.equal(done.disk!.scanMiB, SCAN_MIB);
    assert.ok(afterScan.cachesMiB - before.cachesMiB >= 0.8 * SCAN_MIB, `disk_caches rose by only ${(afterScan.cachesMiB - before.cachesMiB).toFixed(0)} MiB`);
    assert.ok(before.unusedMiB - afterScan.unusedMiB >= 0.8 * SCAN_MIB, `MemFree fell by only ${(before.unusedMiB - afterScan.unusedMiB).toFixed(0)} MiB`);
    assert.ok(afterScan.blockReadMiB - before.blockReadMiB >= SCAN_MIB, `the host saw only ${(afterScan.blockReadMiB - before.blockReadMiB).toFixed(0)} MiB of block reads`);
    assert.ok(done.disk!.buffersKiB / 1024 >= 0.8 * SCAN_MIB, 'the guest counts the raw disk\'s cache in Buffers');
  });

  test('the cache stays while vb-workload keeps the device open (10 s idle)', async (t) => {
    if (skip) return t.skip(skip);
    const start = await sample();
    await sleep(10_000);
    const later = await freshSample(start.lastUpdate);
    say(TAG, `after 10 s idle: ${fmt(later)}`);
    assert.ok(later.cachesMiB >= 0.95 * start.cachesMiB, `disk_caches fell from ${start.cachesMiB.toFixed(0)} to ${later.cachesMiB.toFixed(0)} MiB`);
    assert.ok(later.blockReadMiB - start.blockReadMiB < 1, 'no reads while idle');
  });

  test(`a hot set (${HOT_MIB} MiB every ${HOT_EVERY_S} s) reads the disk on its first pass only, and again only after the cache is dropped`, async (t) => {
    if (skip) return t.skip(skip);
    const before = await sample();
    await wl.setHot(NAME, { mib: HOT_MIB, everySeconds: HOT_EVERY_S });
    const first = await waitForPasses(1);
    const afterFirst = await sample();
    const firstReads = afterFirst.blockReadMiB - before.blockReadMiB;
    const warm = await waitForPasses(first.disk!.hotPasses + 3);
    const afterWarm = await sample();
    const warmReads = afterWarm.blockReadMiB - afterFirst.blockReadMiB;
    const warmLogical = warm.disk!.readMiB - first.disk!.readMiB;
    say(TAG, `hot: first pass read ${firstReads.toFixed(1)} MiB from the disk; the next ${warm.disk!.hotPasses - first.disk!.hotPasses} passes read ${warmLogical.toFixed(0)} MiB, ${warmReads.toFixed(1)} MiB of it from the disk (pass ${warm.disk!.hotPassSeconds.toFixed(2)} s)`);
    assert.ok(firstReads >= 0.9 * HOT_MIB, `the first pass read only ${firstReads.toFixed(1)} MiB from the disk`);
    assert.ok(warmLogical >= 3 * HOT_MIB, `the program re-read only ${warmLogical.toFixed(0)} MiB`);
    assert.ok(warmReads < 2, `re-reads of a cached hot set reached the disk: ${warmReads.toFixed(1)} MiB`);

    const dropped = await wl.dropCaches(NAME);
    const afterDrop = await waitForPasses(dropped.disk!.hotPasses + 2);
    const refaults = (await sample()).blockReadMiB - afterWarm.blockReadMiB;
    say(TAG, `after drop_caches: ${afterDrop.disk!.hotPasses - dropped.disk!.hotPasses} passes read ${refaults.toFixed(1)} MiB from the disk`);
    assert.ok(refaults >= 0.9 * HOT_MIB, `after the cache was dropped the re-reads read only ${refaults.toFixed(1)} MiB from the disk`);
    assert.ok(refaults <= 1.5 * HOT_MIB + 4, `the hot set was read from the disk more than once after the drop: ${refaults.toFixed(1)} MiB`);
    await wl.setHot(NAME, 'off');
  });

  test('a balloon shrink takes cache back without an OOM kill', async (t) => {
    if (skip) return t.skip(skip);
    await wl.setScan(NAME, { mib: SCAN_MIB });
    await until('the second scan to finish', 180_000, async () => ((await status()).disk!.scanPhase === 'done' ? true : undefined));
    const full = await freshSample((await sample()).lastUpdate);
    const used = full.actualMiB - full.unusedMiB - full.cachesMiB;
    const targetMiB = Math.round(Math.max(used + 96, full.actualMiB - full.cachesMiB * 0.75));
    say(TAG, `before the shrink: ${fmt(full)} (used without cache ${used.toFixed(0)} MiB); balloon to ${targetMiB} MiB`);
    await client!.call('domainSetMemoryFlags', { dom: { name: guest!.name, uuid: guest!.uuid, id: -1 }, memory: targetMiB * 1024, flags: DomainAffect.Live });
    const shrunk = await until('the balloon to reach its target', 60_000, async () => {
      const s = await sample();
      return s.actualMiB <= targetMiB + 4 ? s : undefined;
    });
    const settled = await freshSample(shrunk.lastUpdate);
    say(TAG, `after the shrink: ${fmt(settled)}`);
    assert.ok(full.cachesMiB - settled.cachesMiB >= 0.5 * (full.actualMiB - targetMiB), `disk_caches fell only from ${full.cachesMiB.toFixed(0)} to ${settled.cachesMiB.toFixed(0)} MiB for a ${(full.actualMiB - targetMiB).toFixed(0)} MiB shrink`);
    assert.deepEqual((await guestOomKills(guest!.consoleLog)).map((k) => k.line), [], 'no OOM kill');
    assert.equal((await status()).pid, firstPid, 'vb-workload was never restarted');
  });

  test('lab status shows the guest\'s page cache, read rate and block reads', async (t) => {
    if (skip) return t.skip(skip);
    await wl.setScan(NAME, { mib: 400, rateMiBps: 10 });
    await sleep(3_000);
    const row = (await labStatus(client!)).find((r) => r.name === NAME);
    await wl.setScan(NAME, 'stop');
    assert.ok(row, `${NAME} in lab status`);
    say(TAG, `lab status: cache ${row.balloon?.diskCachesMiB?.toFixed(0)} MiB, read ${row.workload?.disk?.readMiBps.toFixed(1)} MiB/s (disk ${row.workload?.disk?.diskReadMiBps.toFixed(1)}), block reads ${row.blockReadMiB?.toFixed(0)} MiB`);
    assert.ok((row.balloon?.diskCachesMiB ?? 0) > 50, 'disk_caches shown');
    assert.ok((row.blockReadMiB ?? 0) >= 2 * SCAN_MIB + HOT_MIB, 'block reads shown');
    const rate = row.workload?.disk?.readMiBps ?? -1;
    assert.ok(rate >= 5 && rate <= 15, `a 10 MiB/s scan shows a read rate near 10 MiB/s, got ${rate}`);
  });
});
