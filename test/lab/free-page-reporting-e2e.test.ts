// End to end, issue #18's real-guest target for free page reporting: two lab guests at their 2048 MiB
// maximum, no coordinator, one with `<memballoon freePageReporting='on'>` and one without. Each
// touches 1 GiB and frees it. Target: with reporting on, the host's resident set of its QEMU process
// falls by ≥ 80 % of what was freed within 15 s, by itself; without it, the memory stays with QEMU
// (the other half of docs/memory-coordinator.md's table). Also what the lab's domain XML says is
// what the guest does: the flag is really on, and really off.
// Needs libvirtd with real guests (scripts/libvirt-test-host.sh up); under CI=true its absence fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LibvirtClient } from '../../src/libvirt/client.js';
import { paramNumber } from '../../src/libvirt/client.js';
import { DomainStatsGroup } from '../../src/libvirt/protocol.js';
import type { LabGuest } from '../../src/lab/lab.js';
import { labWorkloadController } from '../../src/lab/workload-channel.js';
import { claimLabDaemon, releaseLabDaemon, say, sleep, URI, upTestGuests } from './e2e-support.js';

const TAG = 'fpr-e2e';
const ON = `vblt${process.pid}r_on`;
const OFF = `vblt${process.pid}r_off`;
const TOUCH_MIB = 1024;
const WITHIN_S = 15;
const SHARE = 0.8;
const MiB = 1024;

interface Freed {
  /** RSS just before the release, MiB. */
  beforeMiB: number;
  /** RSS each second after the release, MiB. */
  afterMiB: number[];
  /** What the program held when told to release, MiB. */
  heldMiB: number;
}

let client: LibvirtClient | undefined;
let skip: string | undefined;
let unlock: (() => Promise<void>) | undefined;
let guests: LabGuest[] = [];
const freed = new Map<string, Freed>();

async function rssMiB(name: string): Promise<number> {
  const g = guests.find((x) => x.name === name)!;
  const [record] = await client!.getAllDomainStats(DomainStatsGroup.Balloon, 0, [{ name: g.name, uuid: g.uuid, id: -1 }]);
  const rss = record ? paramNumber(record.params, 'balloon.rss') : undefined;
  if (rss === undefined) throw new Error(`${name}: libvirt reported no balloon.rss`);
  return rss / MiB;
}

describe('free page reporting on real guests: 1 GiB touched and freed, with and without', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    ({ client, skip, unlock } = await claimLabDaemon(TAG));
    if (!client) return;
    const up = await upTestGuests(client, TAG, [
        { name: ON, vcpus: 1, memoryMiB: 2048, maxMemoryMiB: 2048, diskMiB: 0, freePageReporting: true },
        { name: OFF, vcpus: 1, memoryMiB: 2048, maxMemoryMiB: 2048, diskMiB: 0, freePageReporting: false },
      ]);
    guests = up.guests;
    say(TAG, `guests up in ${up.bootSeconds.toFixed(1)} s (domain type ${up.accel.domainType})`);
    const wl = labWorkloadController();
    // One guest at a time: touching 1 GiB under software emulation takes one pCPU for a while.
    for (const name of [ON, OFF]) {
      await wl.setMemory(name, { rateMiBps: 0, targetMiB: TOUCH_MIB });
      let heldMiB = 0;
      for (let s = 0; s < 120 && heldMiB < TOUCH_MIB; s++) {
        await sleep(1000);
        heldMiB = (await wl.status(name)).memMiB;
      }
      assert.ok(heldMiB >= TOUCH_MIB, `${name}'s program holds only ${heldMiB} of ${TOUCH_MIB} MiB after 120 s`);
      await sleep(3000); // the touched pages are all resident
      const beforeMiB = await rssMiB(name);
      await wl.setMemory(name, 'release');
      const t0 = Date.now();
      const afterMiB: number[] = [];
      for (let s = 1; s <= WITHIN_S; s++) {
        await sleep(Math.max(0, t0 + s * 1000 - Date.now()));
        afterMiB.push(await rssMiB(name));
      }
      freed.set(name, { beforeMiB, afterMiB, heldMiB });
      say(TAG, `${name} (reporting ${name === ON ? 'on' : 'off'}): held ${heldMiB} MiB; QEMU RSS ${beforeMiB.toFixed(0)} MiB before the release, then each second ${afterMiB.map((x) => x.toFixed(0)).join(' ')}`);
    }
  });

  after(async () => {
    await releaseLabDaemon(TAG, { client, unlock, labGuests: guests.map((g) => g.name) });
  });

  test(`POLICY: with reporting on, QEMU's resident set falls by ≥ ${SHARE * 100} % of the freed ${TOUCH_MIB} MiB within ${WITHIN_S} s`, (t) => {
    if (skip) return t.skip(skip);
    const f = freed.get(ON)!;
    const fell = f.beforeMiB - Math.min(...f.afterMiB);
    const at = f.afterMiB.findIndex((x) => f.beforeMiB - x >= SHARE * TOUCH_MIB);
    say(TAG, `reporting on: fell ${Math.round(fell)} MiB (${Math.round((fell / TOUCH_MIB) * 100)} % of ${TOUCH_MIB}) in ${WITHIN_S} s; ${at < 0 ? `never ${SHARE * 100} %` : `${SHARE * 100} % after ${at + 1} s`}`);
    assert.ok(fell >= SHARE * TOUCH_MIB, `reporting on: QEMU's RSS fell only ${fell.toFixed(0)} MiB of ${TOUCH_MIB} in ${WITHIN_S} s (${f.beforeMiB.toFixed(0)} → ${f.afterMiB.map((x) => x.toFixed(0)).join(' ')})`);
  });

  test('without reporting the freed memory stays with QEMU (the lab\'s "off" is off)', (t) => {
    if (skip) return t.skip(skip);
    const f = freed.get(OFF)!;
    const fell = f.beforeMiB - Math.min(...f.afterMiB);
    say(TAG, `reporting off: fell ${Math.round(fell)} MiB (${Math.round((fell / TOUCH_MIB) * 100)} % of ${TOUCH_MIB}) in ${WITHIN_S} s`);
    assert.ok(fell < (1 - SHARE) * TOUCH_MIB, `reporting off: QEMU's RSS fell ${fell.toFixed(0)} MiB in ${WITHIN_S} s, as if the guest reported its free pages`);
  });
});
