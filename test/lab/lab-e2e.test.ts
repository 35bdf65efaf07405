// End to end on real QEMU guests through libvirtd: build the image, bring up two guests, drive their
// workloads over the channel and their balloons through our libvirt client, take them down.
// Needs a running libvirtd (scripts/libvirt-test-host.sh up). Under CI=true a missing daemon or a
// guest that does not come up fails the test; elsewhere the test is skipped with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { LibvirtClient, paramNumber } from '../../src/libvirt/client.js';
import { DomainAffect, type Domain } from '../../src/libvirt/protocol.js';
import { guestOomKills } from '../../src/lab/console-log.js';
import { findLabGuests, removeGuest } from '../../src/lab/guests.js';
import { labDown, labStatus, labUp, type LabGuest, type LabUpResult } from '../../src/lab/lab.js';
import { labRoot } from '../../src/lab/paths.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { labWorkloadController } from '../../src/lab/workload-channel.js';
import { alive, connectOrSkip, labTestLock } from './e2e-support.js';

const URI = process.env.VIRTBALANCE_TEST_URI ?? 'qemu:///system';
// Per process, so two test runs on one daemon (people do run the suite side by side) never take
// down each other's guests; `before` removes only guests of test runs whose process is gone.
const PREFIX = `vblt${process.pid}x`;
const STALE = /^vblt(\d+)x/;
const MEMORY_MIB = 320;
const CI = process.env.CI === 'true';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

let client: LibvirtClient | undefined;
let skipReason: string | undefined;
let up: LabUpResult | undefined;
let unlock: (() => Promise<void>) | undefined;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

function guest(i: number): LabGuest {
  const g = up?.guests[i];
  assert.ok(g, 'guests are up');
  return g;
}

const dom = (g: LabGuest): Domain => ({ name: g.name, uuid: g.uuid, id: -1 });

async function vcpuTimeNs(g: LabGuest): Promise<number> {
  const [rec] = await client!.getAllDomainStats(8 /* vcpu */, 0, [dom(g)]);
  const t = rec ? paramNumber(rec.params, 'vcpu.0.time') : undefined;
  assert.ok(t !== undefined, `${g.name} reports vcpu.0.time`);
  return t;
}

describe('lab on real guests', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip: skipReason } = await connectOrSkip('lab-test'));
    if (!client) return;
    // One lab test file at a time on this daemon (CPU shares are measured).
    unlock = await labTestLock(labRoot(), 'lab-test');
    for (const g of await findLabGuests(client)) {
      const pid = Number(STALE.exec(g.domain.name)?.[1]);
      if (pid && !alive(pid)) {
        process.stderr.write(`[lab-test] removing ${g.domain.name}, left by an interrupted test run (pid ${pid})\n`);
        await removeGuest(client, g.domain, g.marker.dir);
      }
    }
    const t0 = Date.now();
    up = await labUp(client, {
      count: 2, vcpus: 1, memoryMiB: MEMORY_MIB, maxMemoryMiB: 640, prefix: PREFIX, uri: URI, root: labRoot(),
      progress: consoleProgress('lab-test'), bootTimeoutSeconds: 90, balloonSettleSeconds: 30,
    });
    process.stderr.write(`[lab-test] image ${up.image.cached ? 'cached' : 'built'}, domain type ${up.accel.domainType}, guests answered ${up.bootSeconds.toFixed(1)} s after start, labUp took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });

  after(async () => {
    if (!client) return;
    try {
      await labDown(client, consoleProgress('lab-test'), PREFIX);
    } finally {
      await unlock?.();
      await client.close();
    }
  });

  test('both guests come up with fresh balloon stats at their start size', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const read = async () => client!.getAllDomainStats(4 /* balloon */, 0, up!.guests.map(dom));
    const first = await read();
    await sleep(2_500);
    const second = await read();
    for (const [i, g] of up!.guests.entries()) {
      const a = first.find((r) => r.domain.name === g.name)!.params;
      const b = second.find((r) => r.domain.name === g.name)!.params;
      assert.ok(paramNumber(b, 'balloon.unused')! > 0, `${g.name} reports balloon.unused`);
      assert.ok(paramNumber(b, 'balloon.usable')! > 0, `${g.name} reports balloon.usable`);
      assert.ok(Math.abs(paramNumber(b, 'balloon.current')! - MEMORY_MIB * 1024) <= MEMORY_MIB * 10, `${g.name} balloon at ${MEMORY_MIB} MiB`);
      assert.ok(paramNumber(b, 'balloon.last-update')! > paramNumber(a, 'balloon.last-update')!, `${g.name} stats advance (guest ${i})`);
    }
  });

  test('a CPU workload set over the channel makes that guest’s vCPU time grow', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const wl = labWorkloadController();
    const [g1, g2] = [guest(0), guest(1)];
    const measure = async () => {
      const before = [await vcpuTimeNs(g1), await vcpuTimeNs(g2)];
      const t0 = process.hrtime.bigint();
      await sleep(3_000);
      const elapsed = Number(process.hrtime.bigint() - t0);
      return [(await vcpuTimeNs(g1)) - before[0]!, (await vcpuTimeNs(g2)) - before[1]!].map((d) => d / elapsed);
    };
    assert.deepEqual(await wl.setCpu(g1.name, 1), [1]);
    assert.deepEqual(await wl.setCpu(g2.name, 0), [0]);
    await sleep(500);
    const [busy1, idle2] = await measure();
    process.stderr.write(`[lab-test] pCPU share over 3 s: ${g1.name} at duty 1 ${busy1!.toFixed(2)}, ${g2.name} at duty 0 ${idle2!.toFixed(2)}\n`);
    // Relative, not absolute: on a shared 2-core machine a busy guest may get far less than a pCPU.
    assert.ok(busy1! > 0.05, `${g1.name} at duty 1 used ${busy1!.toFixed(2)} of a pCPU`);
    assert.ok(busy1! > 3 * idle2!, `busy ${busy1!.toFixed(2)} vs idle ${idle2!.toFixed(2)}`);
    // And the other way round: the command, not chance, decides which guest burns.
    await wl.setCpu(g1.name, 0);
    await wl.setCpu(g2.name, 1);
    await sleep(500);
    const [idle1, busy2] = await measure();
    process.stderr.write(`[lab-test] swapped: ${g1.name} at duty 0 ${idle1!.toFixed(2)}, ${g2.name} at duty 1 ${busy2!.toFixed(2)}\n`);
    assert.ok(busy2! > 0.05 && busy2! > 3 * idle1!, `after swapping: ${g1.name} ${idle1!.toFixed(2)}, ${g2.name} ${busy2!.toFixed(2)}`);
    await wl.setCpu(g2.name, 0);
  });

  test('set memory shrinks the balloon and actual follows, then grows back', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = guest(1);
    const wl = labWorkloadController();
    const before = await wl.status(g.name);
    const targetKiB = 224 * 1024;
    await client!.call('domainSetMemoryFlags', { dom: dom(g), memory: targetKiB, flags: DomainAffect.Live });
    const actual = await until(`${g.name} balloon actual to reach 224 MiB`, 30_000, async () => {
      const s = await client!.memoryStats(dom(g));
      return s.actual !== undefined && s.actual <= targetKiB + 1024 ? s.actual : undefined;
    });
    assert.ok(actual >= targetKiB - 1024, `actual ${actual} KiB stays near the target`);
    const inside = await wl.status(g.name);
    assert.ok(before.memTotalKiB - inside.memTotalKiB >= 80 * 1024, `guest MemTotal fell from ${before.memTotalKiB} to ${inside.memTotalKiB} KiB`);
    await client!.call('domainSetMemoryFlags', { dom: dom(g), memory: MEMORY_MIB * 1024, flags: DomainAffect.Live });
    await until(`${g.name} balloon back to ${MEMORY_MIB} MiB`, 30_000, async () => {
      const s = await client!.memoryStats(dom(g));
      return s.actual !== undefined && s.actual >= MEMORY_MIB * 1024 - 1024 ? true : undefined;
    });
  });

  test('a memory workload fills the guest, releases, and an overcommit shows as an OOM kill', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = guest(0);
    const wl = labWorkloadController();
    const unusedKiB = async () => (await client!.memoryStats(dom(g))).unused ?? NaN;
    const freeBefore = await unusedKiB();
    await wl.setMemory(g.name, { rateMiBps: 0, targetMiB: 96 });
    await until('96 MiB held', 30_000, async () => ((await wl.status(g.name)).memMiB === 96 ? true : undefined));
    await until('balloon unused to show the 96 MiB', 10_000, async () => (freeBefore - (await unusedKiB()) >= 64 * 1024 ? true : undefined));
    await wl.setMemory(g.name, 'release');
    await until('memory released', 30_000, async () => ((await wl.status(g.name)).memPhase === 'idle' ? true : undefined));
    assert.deepEqual(await guestOomKills(g.consoleLog), [], 'no OOM so far');

    const pid = (await wl.status(g.name)).pid;
    await wl.setMemory(g.name, { rateMiBps: 0, targetMiB: MEMORY_MIB + 100 });
    const kills = await until('the guest kernel to report an OOM kill on the console', 60_000, async () => {
      const k = await guestOomKills(g.consoleLog);
      return k.length > 0 ? k : undefined;
    });
    assert.equal(kills[0]!.process, 'vb-workload');
    assert.equal(kills[0]!.pid, pid);
    const restarted = await until('vb-workload to be restarted by init', 30_000, async () => {
      try {
        const s = await wl.status(g.name);
        return s.pid !== pid ? s : undefined;
      } catch {
        return undefined;
      }
    });
    assert.equal(restarted.memMiB, 0);
  });

  test('lab status (library and CLI) lists both guests and the OOM kill', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const rows = (await labStatus(client!)).filter((r) => r.name.startsWith(PREFIX));
    assert.deepEqual(rows.map((r) => r.name), [`${PREFIX}1`, `${PREFIX}2`]);
    assert.ok(rows.every((r) => r.state === 'running' && r.balloon !== undefined && r.workload !== undefined));
    assert.equal(rows[0]!.oomKills.length, 1);
    assert.equal(rows[1]!.oomKills.length, 0);
    const bin = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
    const { stdout } = await run(process.execPath, [bin, 'lab', 'status', '--json', '--connect', URI]);
    const cli = (JSON.parse(stdout) as Array<{ name: string }>).map((r) => r.name).filter((n) => n.startsWith(PREFIX));
    assert.deepEqual(cli, [`${PREFIX}1`, `${PREFIX}2`]);
  });

  test('lab down removes exactly the lab guests and their files, never an unmarked domain', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // Same prefix, no lab marker: must survive.
    const sentinel = await client!.call('domainDefineXmlFlags', { xml: `<domain type='qemu'><name>${PREFIX}-sentinel</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`, flags: 0 }).then((r) => r.dom);
    try {
      const removed = await labDown(client!, consoleProgress('lab-test'), PREFIX);
      assert.deepEqual(removed.sort(), [`${PREFIX}1`, `${PREFIX}2`]);
      const left = (await client!.listAllDomains()).map((d) => d.name).filter((n) => n.startsWith(PREFIX));
      assert.deepEqual(left, [`${PREFIX}-sentinel`]);
      for (const g of up!.guests) assert.ok(!existsSync(g.dir), `${g.dir} removed`);
    } finally {
      await client!.call('domainUndefineFlags', { dom: sentinel, flags: 0 });
    }
  });
});
