// End to end on a real libvirtd, issue #19's real-guest target: a guest booted at 512 MiB with a
// 3 GiB virtio-mem device (nothing plugged) runs a program that allocates 100 MiB/s up to 2.5 GiB.
//   1. Yardstick: the whole device plugged by hand before the program starts (no coordinator); the
//      time the program takes to hold 2.5 GiB. Then it frees, and the device is unplugged by hand.
//      Measured again after step 3 (the coordinator stopped): the yardstick is the mean of the two,
//      so that the machine's load drifting over the test's minutes weighs on both sides alike.
//   2. The real coordinator (`memory_coordinator 1`, the shipped CLI as a child process, scoped with
//      --only to this test's guest, every option at its default) sizes the guest while the same
//      program runs again: it must get there without an OOM, within 1.3 × the yardstick's time.
//   3. The program frees: the guest's usable memory (boot + plugged − balloon) must be below 700 MiB
//      within 60 s, and the RSS of the guest's QEMU process (/proc/PID/status VmRSS) must drop by at
//      least 80 % of what was unplugged.
// The guest runs without free page reporting, so that what the host gets back is the unplug's doing.
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { paramNumber } from '../../src/libvirt/client.js';
import { DomainStatsGroup } from '../../src/libvirt/protocol.js';
import { readVirtioMemDevices } from '../../src/libvirt/memory-devices.js';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { labUp, type LabGuest } from '../../src/lab/lab.js';
import { labRoot } from '../../src/lab/paths.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { guestOomKills } from '../../src/lab/console-log.js';
import { guestQemuPids } from '../../src/lab/host-processes.js';
import { WorkloadController, type WorkloadStatus } from '../../src/lab/workload-channel.js';
import { claimLabDaemon, releaseLabDaemon, runBin, say, sleep, URI, type Child } from './e2e-support.js';

const TAG = 'virtio-mem-coordinator-e2e';
const NAME = `vblt${process.pid}w_vm1`;
const MiB = 1024;
const BOOT_MIB = 512;
const DEVICE_MIB = 3072;
const TARGET_MIB = 2560;
const RATE_MIBPS = 100;
/** The targets (#19). */
const TIME_RATIO = 1.3;
const USABLE_BELOW_MIB = 700;
const USABLE_WITHIN_S = 60;
const RSS_SHARE = 0.8;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let guest: LabGuest | undefined;
let coordinator: Child | undefined;

const mibOf = (kib: number) => kib / MiB;
const TRACE = join(os.tmpdir(), `${NAME}-coordinator.jsonl`);

/** The coordinator's resizes and balloon targets for the guest, from its trace: one line each. */
function decisions(): string[] {
  let text = '';
  try {
    text = readFileSync(TRACE, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { interval?: number; timeMs?: number; actions?: { kind: string; reason?: string; domain?: { name: string } }[] };
    for (const a of entry.actions ?? []) {
      if (a.domain?.name === NAME && (a.kind === 'resize-memory-device' || a.kind === 'set-memory')) out.push(`t=${((entry.timeMs ?? 0) / 1000).toFixed(0)} ${a.kind}: ${a.reason ?? ''}`);
    }
  }
  return out;
}

/** VmRSS of a process, MiB. */
function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/**
 * The guest's memory, MiB, read afresh from libvirt each time (not through a LibvirtHost, whose view
 * of a device another process resizes is only as fresh as its last refresh): plugged and requested
 * from the live XML's <current> and <requested>, the balloon from all-domain stats: balloon.current
 * counts plugged memory (boot + plugged − what the balloon holds; balloon.maximum there is boot + the
 * device's whole size, measured here), so the balloon holds boot + plugged − balloon.current and
 * usable = boot + plugged − balloon.
 */
interface Memory { pluggedMiB: number; requestedMiB: number; balloonMiB: number; usableMiB: number; statsCurrentMiB: number }
const fmt = (m: Memory) => `plugged ${m.pluggedMiB.toFixed(0)} (requested ${m.requestedMiB.toFixed(0)}), balloon ${m.balloonMiB.toFixed(0)}, usable ${m.usableMiB.toFixed(0)} MiB (balloon.current ${m.statsCurrentMiB.toFixed(0)})`;

describe('the memory coordinator sizes a virtio-mem guest on a real libvirtd: plugs for a 100 MiB/s growth, unplugs after the free', { timeout: 25 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    const result = await labUp(client, {
      guests: [{ name: NAME, vcpus: 1, memoryMiB: BOOT_MIB, maxMemoryMiB: BOOT_MIB, virtioMem: { sizeMiB: DEVICE_MIB }, diskMiB: 0, freePageReporting: false }],
      uri: URI, root: labRoot(), progress: consoleProgress(TAG), bootTimeoutSeconds: 300, balloonSettleSeconds: 60,
      failureNote: 'the test removes it',
    });
    guest = result.guests[0];
  });

  after(async () => {
    rmSync(TRACE, { force: true });
    await releaseLabDaemon(TAG, { client, unlock, children: coordinator ? [coordinator] : [], labGuests: guest ? [guest.name] : [] });
  });

  test(`reaches ${TARGET_MIB} MiB at ${RATE_MIBPS} MiB/s without an OOM within ${TIME_RATIO} × the pre-plugged time; after the free, usable < ${USABLE_BELOW_MIB} MiB within ${USABLE_WITHIN_S} s and QEMU's RSS drops by ≥ ${RSS_SHARE * 100} % of what was unplugged`, async (t) => {
    if (!client) return t.skip(skip);
    const g = guest!;
    const dom = { name: g.name, uuid: g.uuid };
    const host = LibvirtHost.fromClient(client);
    const workload = new WorkloadController(() => g.workloadSocket, 10_000);
    const ref = { name: g.name, uuid: g.uuid, id: -1 };
    const observe = async (): Promise<Memory> => {
      const { xml } = await client!.call('domainGetXmlDesc', { dom: ref, flags: 0 });
      const devices = readVirtioMemDevices(xml);
      assert.equal(devices.length, 1, 'one virtio-mem device');
      const p = (await client!.getAllDomainStats(DomainStatsGroup.Balloon, 0, [ref]))[0]?.params;
      assert.ok(p, `balloon stats of ${NAME}`);
      const current = paramNumber(p, 'balloon.current')!;
      const pluggedKiB = devices[0]!.currentKiB ?? 0;
      const heldKiB = Math.max(0, BOOT_MIB * MiB + pluggedKiB - current);
      return { pluggedMiB: mibOf(pluggedKiB), requestedMiB: mibOf(devices[0]!.requestedKiB), balloonMiB: mibOf(heldKiB), usableMiB: BOOT_MIB + mibOf(pluggedKiB - heldKiB), statsCurrentMiB: mibOf(current) };
    };
    const status = async (): Promise<WorkloadStatus | undefined> => {
      try {
        return await workload.status(NAME);
      } catch (err) {
        say(TAG, `no status: ${(err as Error).message}`);
        return undefined;
      }
    };
    const [pid] = [...guestQemuPids([NAME])];
    assert.ok(pid, `the QEMU pid of ${NAME} (/run/libvirt/qemu/${NAME}.pid)`);
    const programPid = (await workload.status(NAME)).pid;
    const noOom = async (when: string) => {
      assert.deepEqual((await guestOomKills(g.consoleLog)).map((k) => k.line), [], `no OOM kill in the guest ${when}`);
      const s = await status();
      if (s) assert.equal(s.pid, programPid, `vb-workload never restarted (${when})`);
    };
    /** Starts the program and waits until it holds TARGET_MIB; seconds it took, sampled every 250 ms. */
    const grow = async (label: string, each?: (s: WorkloadStatus | undefined, t: number) => Promise<void>): Promise<number> => {
      const t0 = Date.now();
      await workload.setMemory(NAME, { rateMiBps: RATE_MIBPS, targetMiB: TARGET_MIB });
      let lastSay = 0;
      for (;;) {
        const s = await status();
        const t = (Date.now() - t0) / 1000;
        await each?.(s, t);
        if (s && s.memMiB >= TARGET_MIB) return t;
        if (t - lastSay >= 5) {
          lastSay = t;
          say(TAG, `${label}: t=${t.toFixed(1)} s: holds ${s?.memMiB ?? '?'} MiB, MemTotal ${s ? (s.memTotalKiB / MiB).toFixed(0) : '?'} MiB`);
        }
        assert.ok(t < 300, `${label}: the program did not reach ${TARGET_MIB} MiB within 300 s (holds ${s?.memMiB ?? '?'} MiB)${why()}`);
        await sleep(250);
      }
    };
    const until = async (what: string, timeoutS: number, done: (m: Memory) => boolean): Promise<Memory> => {
      const t0 = Date.now();
      for (;;) {
        const m = await observe();
        if (done(m)) return m;
        assert.ok((Date.now() - t0) / 1000 < timeoutS, `${what}: not within ${timeoutS} s (${fmt(m)})`);
        await sleep(500);
      }
    };
    const why = () => (coordinator ? `\ncoordinator's decisions (${TRACE}):\n${decisions().join('\n')}` : '');

    // 1. The yardstick: the whole device plugged before the program starts.
    const idle = await observe();
    say(TAG, `booted: boot ${BOOT_MIB} MiB, ${fmt(idle)}; QEMU pid ${pid}, RSS ${rssMiB(pid).toFixed(0)} MiB; load average ${os.loadavg()[0]!.toFixed(1)}`);
    assert.equal(idle.pluggedMiB, 0, 'boots with nothing plugged');
    const yardstick = async (which: string): Promise<number> => {
      await host.resizeMemoryDevice(dom, DEVICE_MIB * MiB);
      await until(`the whole device plugged by hand (${which})`, 180, (m) => m.pluggedMiB === DEVICE_MIB);
      const s = await grow(`pre-plugged, ${which}`);
      say(TAG, `pre-plugged, ${which}: the program held ${TARGET_MIB} MiB after ${s.toFixed(1)} s (load average ${os.loadavg()[0]!.toFixed(1)})`);
      await noOom(`with the device pre-plugged (${which})`);
      await workload.setMemory(NAME, 'release');
      await host.resizeMemoryDevice(dom, 0);
      await until(`the device unplugged by hand after the yardstick (${which})`, 300, (m) => m.pluggedMiB === 0);
      return s;
    };
    const fullBeforeS = await yardstick('before');
    const freshRss = rssMiB(pid);
    say(TAG, `unplugged by hand again; QEMU RSS ${freshRss.toFixed(0)} MiB`);

    // 2. The coordinator: one guest, 1 s interval, every option at its default.
    coordinator = runBin(['memory_coordinator', '1', '--connect', URI, '--only', NAME, '--trace', TRACE], TAG);
    // Its first readings: the statistics period set, the guest seen idle.
    await sleep(8_000);
    assert.equal(coordinator.process.exitCode, null, `memory_coordinator exited early${why()}`);
    const started = await observe();
    say(TAG, `coordinator running: ${fmt(started)}`);
    const trail: string[] = [];
    let lastObserved = 0;
    const coordS = await grow('coordinator', async (s, t) => {
      if (t - lastObserved < 1) return;
      lastObserved = t;
      const m = await observe();
      trail.push(`t=${t.toFixed(0)} holds ${s?.memMiB ?? '?'}: ${fmt(m)}`);
    });
    say(TAG, `coordinator: the program held ${TARGET_MIB} MiB after ${coordS.toFixed(1)} s (${(coordS / fullBeforeS).toFixed(2)} × the first pre-plugged run's ${fullBeforeS.toFixed(1)} s); load average ${os.loadavg()[0]!.toFixed(1)}`);
    for (const line of trail.filter((_, i) => i % 5 === 0 || i === trail.length - 1)) say(TAG, `  ${line}`);
    await noOom('under the coordinator');

    // 3. Hold a moment, then free.
    await sleep(3_000);
    const peak = await observe();
    const peakRss = rssMiB(pid);
    say(TAG, `holding: ${fmt(peak)}; QEMU RSS ${peakRss.toFixed(0)} MiB`);
    const t1 = Date.now();
    await workload.setMemory(NAME, 'release');
    let belowS: number | undefined;
    let last = peak;
    const freedTrail: string[] = [];
    // Until usable is below the mark and the device has settled (plugged = requested, two readings alike), 150 s at most.
    let settledReadings = 0;
    for (;;) {
      const t = (Date.now() - t1) / 1000;
      const m = await observe();
      if (belowS === undefined && m.usableMiB < USABLE_BELOW_MIB) belowS = t;
      settledReadings = m.pluggedMiB === m.requestedMiB && m.pluggedMiB === last.pluggedMiB ? settledReadings + 1 : 0;
      if (Math.floor(t) % 5 === 0 || m.pluggedMiB !== last.pluggedMiB) freedTrail.push(`t=${t.toFixed(0)} ${fmt(m)}`);
      last = m;
      if ((belowS !== undefined && settledReadings >= 2 && m.pluggedMiB < peak.pluggedMiB) || t > 150) break;
      await sleep(1_000);
    }
    // QEMU returns unplugged blocks at once (discard); give the kernel a moment to account it.
    await sleep(2_000);
    const endRss = rssMiB(pid);
    const end = await observe();
    const unpluggedMiB = peak.pluggedMiB - end.pluggedMiB;
    const dropMiB = peakRss - endRss;
    say(TAG, `freed: usable below ${USABLE_BELOW_MIB} MiB ${belowS === undefined ? 'never (150 s)' : `after ${belowS.toFixed(1)} s`}; now ${fmt(end)}`);
    say(TAG, `QEMU RSS ${peakRss.toFixed(0)} → ${endRss.toFixed(0)} MiB: dropped ${dropMiB.toFixed(0)} MiB = ${(dropMiB / Math.max(1, unpluggedMiB) * 100).toFixed(0)} % of the ${unpluggedMiB.toFixed(0)} MiB unplugged (target ≥ ${RSS_SHARE * 100} %)`);
    for (const d of decisions()) say(TAG, `  ${d}`);
    await noOom('after the free');
    const decided = why();

    // The yardstick again, without the coordinator.
    say(TAG, `memory_coordinator stopped (${await coordinator.stop()})`);
    coordinator = undefined;
    const fullAfterS = await yardstick('after');
    const fullS = (fullBeforeS + fullAfterS) / 2;
    const ratio = coordS / fullS;
    say(TAG, `figures: time ratio ${ratio.toFixed(2)} (${coordS.toFixed(1)} s / pre-plugged ${fullBeforeS.toFixed(1)} and ${fullAfterS.toFixed(1)} s, mean ${fullS.toFixed(1)} s), usable < ${USABLE_BELOW_MIB} MiB after ${belowS?.toFixed(1) ?? 'never'} s, RSS drop ${dropMiB.toFixed(0)} MiB of ${unpluggedMiB.toFixed(0)} MiB unplugged (${(dropMiB / Math.max(1, unpluggedMiB) * 100).toFixed(0)} %)`);
    assert.ok(ratio <= TIME_RATIO, `${coordS.toFixed(1)} s under the coordinator vs ${fullS.toFixed(1)} s pre-plugged: ${ratio.toFixed(2)} × > ${TIME_RATIO} ×\n${trail.join('\n')}${decided}`);
    assert.ok(belowS !== undefined && belowS <= USABLE_WITHIN_S, `usable memory below ${USABLE_BELOW_MIB} MiB ${belowS === undefined ? 'never' : `only after ${belowS.toFixed(1)} s`}\n${freedTrail.join('\n')}${decided}`);
    assert.ok(unpluggedMiB > 0, `something was unplugged\n${freedTrail.join('\n')}${decided}`);
    assert.ok(dropMiB >= RSS_SHARE * unpluggedMiB, `QEMU's RSS dropped ${dropMiB.toFixed(0)} MiB, under ${RSS_SHARE * 100} % of the ${unpluggedMiB.toFixed(0)} MiB unplugged${decided}`);
  });
});
