// End to end on a real libvirtd: one lab guest booted as `lab up --virtio-mem` boots it (512 MiB of
// boot memory, a 1 GiB virtio-mem device, nothing plugged, virtio_mem loaded from the initramfs,
// memhp_default_state=online_movable), then LibvirtHost.resizeMemoryDevice plugs the whole device:
// the guest's MemTotal (vb-workload's status over the workload channel, from /proc/meminfo) grows
// by it and the live XML's <current> follows; the observation and `lab status` say so; then it is
// unplugged again and both go back. The plug and unplug rates are printed (docs/lab.md has them).
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { readVirtioMemDevices } from '../../src/libvirt/memory-devices.js';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { labStatus, labUp, type LabGuest, type LabGuestStatus } from '../../src/lab/lab.js';
import { labRoot } from '../../src/lab/paths.js';
import { consoleProgress } from '../../src/lab/progress.js';
import { readConsole } from '../../src/lab/console-log.js';
import { WorkloadController } from '../../src/lab/workload-channel.js';
import { claimLabDaemon, releaseLabDaemon, say, sleep, URI } from './e2e-support.js';

const TAG = 'virtio-mem-e2e';
const NAME = `vblt${process.pid}v_vm1`;
const MiB = 1024;
const BOOT_MIB = 512;
const DEVICE_MIB = 1024;

let client: LibvirtClient | undefined;
let skip: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let guest: LabGuest | undefined;

/** What the device has plugged, MiB: the live XML's <current>. */
async function plugged(): Promise<number> {
  const { xml } = await client!.call('domainGetXmlDesc', { dom: { name: guest!.name, uuid: guest!.uuid, id: -1 }, flags: 0 });
  return readVirtioMemDevices(xml).reduce((n, d) => n + (d.currentKiB ?? 0), 0) / MiB;
}

/**
 * Polls libvirt's <current> and the guest's MemTotal, each in its own loop (every 100 ms), until
 * each reaches its goal; seconds from `t0` at which each did, and the last MemTotal.
 */
async function follow(workload: WorkloadController, t0: number, goal: { currentMiB: number; memTotal: (mib: number) => boolean }, timeoutMs: number): Promise<{ currentS: number; memTotalS: number; memTotalMiB: number }> {
  const poll = async <T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<{ t: number; v: T }> => {
    for (;;) {
      const v = await read();
      if (done(v)) return { t: (Date.now() - t0) / 1000, v };
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not within ${timeoutMs / 1000} s (last ${JSON.stringify(v)})`);
      await sleep(100);
    }
  };
  const [current, total] = await Promise.all([
    poll('<current>', plugged, (v) => v === goal.currentMiB),
    poll('MemTotal', async () => (await workload.status(guest!.name)).memTotalKiB / MiB, goal.memTotal),
  ]);
  return { currentS: current.t, memTotalS: total.t, memTotalMiB: total.v };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ROUNDS = 3;

describe('a virtio-mem lab guest on a real libvirtd: plug and unplug through LibvirtHost', { timeout: 8 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    const progress = consoleProgress(TAG);
    const result = await labUp(client, {
      guests: [{ name: NAME, vcpus: 1, memoryMiB: BOOT_MIB, maxMemoryMiB: BOOT_MIB, virtioMem: { sizeMiB: DEVICE_MIB }, diskMiB: 0 }],
      uri: URI, root: labRoot(), progress, bootTimeoutSeconds: 240, balloonSettleSeconds: 60,
      failureNote: 'the test removes it',
    });
    guest = result.guests[0];
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, labGuests: guest ? [guest.name] : [] });
  });

  test('boots small with virtio_mem loaded; plugging 1 GiB grows MemTotal by it and <current> follows; unplugging takes it back', async (t) => {
    if (!client) return t.skip(skip);
    const dom = { name: guest!.name, uuid: guest!.uuid };
    const consoleText = await readConsole(guest!.consoleLog);
    assert.match(consoleText, /vb-init: loaded virtio_mem/, 'virtio_mem loaded from the initramfs');
    const workload = new WorkloadController(() => guest!.workloadSocket, 5_000);
    const host = LibvirtHost.fromClient(client);
    const observed = async () => {
      const d = (await host.observe()).domains.find((x) => x.name === NAME);
      assert.ok(d, 'observed');
      return d;
    };

    const first = await observed();
    assert.deepEqual(first.memoryDevice, { bootKiB: BOOT_MIB * MiB, sizeKiB: DEVICE_MIB * MiB, blockKiB: 2 * MiB, requestedKiB: 0, currentKiB: 0, devices: 1 });
    const bootTotal = (await workload.status(NAME)).memTotalKiB / MiB;
    say(TAG, `booted: MemTotal ${bootTotal.toFixed(0)} MiB of ${BOOT_MIB} MiB boot memory, nothing plugged`);
    assert.ok(bootTotal <= BOOT_MIB && bootTotal > BOOT_MIB - 150, `MemTotal ${bootTotal} MiB is the boot memory less the kernel's own`);

    const rates = { plug: [] as number[], unplug: [] as number[] };
    for (let round = 1; round <= ROUNDS; round++) {
      // Plug the whole device.
      const t0 = Date.now();
      await host.resizeMemoryDevice(dom, DEVICE_MIB * MiB);
      const up = await follow(workload, t0, { currentMiB: DEVICE_MIB, memTotal: (m) => m >= bootTotal + DEVICE_MIB - 2 }, 120_000);
      const grown = up.memTotalMiB - bootTotal;
      say(TAG, `round ${round}: plug ${DEVICE_MIB} MiB: MemTotal +${grown.toFixed(0)} MiB after ${up.memTotalS.toFixed(1)} s, <current> ${DEVICE_MIB} MiB after ${up.currentS.toFixed(1)} s`);
      assert.ok(grown >= DEVICE_MIB - 2 && grown <= DEVICE_MIB + 2, `MemTotal grew by ${grown} MiB`);
      rates.plug.push(DEVICE_MIB / Math.max(up.currentS, up.memTotalS, 0.1));

      if (round === 1) {
        const full = await observed();
        assert.equal(full.memoryDevice?.requestedKiB, DEVICE_MIB * MiB);
        assert.equal(full.memoryDevice?.currentKiB, DEVICE_MIB * MiB, 'the observation sees what is plugged');
        if (full.balloon) assert.equal(full.balloon.maximumKiB, (BOOT_MIB + DEVICE_MIB) * MiB, 'the balloon can act on boot + plugged');
        const row: LabGuestStatus | undefined = (await labStatus(client)).find((r) => r.name === NAME);
        assert.deepEqual(row?.memoryDevice, { bootMiB: BOOT_MIB, sizeMiB: DEVICE_MIB, requestedMiB: DEVICE_MIB, pluggedMiB: DEVICE_MIB }, 'lab status shows boot, size, requested and plugged');
      }

      // Unplug it all: an idle guest gives every block back (online_movable).
      const t1 = Date.now();
      await host.resizeMemoryDevice(dom, 0);
      const down = await follow(workload, t1, { currentMiB: 0, memTotal: (m) => m <= bootTotal + 2 }, 180_000);
      say(TAG, `round ${round}: unplug ${DEVICE_MIB} MiB: MemTotal back to ${down.memTotalMiB.toFixed(0)} MiB after ${down.memTotalS.toFixed(1)} s, <current> 0 after ${down.currentS.toFixed(1)} s`);
      rates.unplug.push(DEVICE_MIB / Math.max(down.currentS, down.memTotalS, 0.1));
    }
    say(TAG, `rates (both figures reached, median of ${ROUNDS}): plug ${median(rates.plug).toFixed(0)} MiB/s (${rates.plug.map((r) => r.toFixed(0)).join(', ')}), unplug ${median(rates.unplug).toFixed(0)} MiB/s (${rates.unplug.map((r) => r.toFixed(0)).join(', ')}); load average ${os.loadavg()[0]!.toFixed(1)}`);
    const empty = await observed();
    assert.equal(empty.memoryDevice?.currentKiB, 0);
    assert.equal(empty.memoryDevice?.requestedKiB, 0);
    assert.equal((await labStatus(client)).find((r) => r.name === NAME)?.memoryDevice?.pluggedMiB, 0);
    assert.match((await readConsole(guest!.consoleLog)), /^(?![\s\S]*Out of memory)/, 'no OOM in the guest');
  });
});
