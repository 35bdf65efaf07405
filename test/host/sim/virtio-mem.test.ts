// virtio-mem in the simulator (#19 item 2): whole blocks at the host's rate, an unplug that takes only
// what the guest can free (and is retried after the driver's back-off), MemTotal following what is
// plugged, page cache yielding to an unplug, the balloon's bound, the scenario keys and their errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedHost } from '../../../src/host/sim/simulated-host.js';
import { parseScenario, ScenarioError } from '../../../src/host/sim/scenario.js';
import { LINUX_MEMORY_BLOCK_KIB, UNPLUG_GUEST_FREE_KIB, UNPLUG_RETRY_MIN_SECONDS } from '../../../src/host/sim/physics.js';

const MiB = 1024;

function scenario(device: string, workload = '{ usedMiB: 200 }', host = '') {
  return parseScenario(`name: vmem
interval: 1
intervals: 300
host: { pcpus: 1, memoryMiB: 16384${host} }
domains:
  - name: vm1
    memoryMiB: 512
    statsPeriod: 1
    memoryDevice: ${device}
    workload: ${workload}
  - name: plain
    memoryMiB: 1024
    maxMemoryMiB: 2048
`, 'vmem.yaml');
}

function sim(device: string, workload?: string, host?: string) {
  const r = createSimulatedHost(scenario(device, workload, host));
  const vm = { name: 'vm1', uuid: '' };
  const at = async (s: number) => {
    r.clock.sleep(s * 1000 - r.clock.nowMs());
    return (await r.hypervisor.observe()).domains.find((d) => d.name === 'vm1')!;
  };
  return { r, vm, at };
}

test('a guest booted at 512 MiB plugs 2 GiB in whole blocks at 1000 MiB/s by default; balloon, bound and MemTotal follow', async () => {
  const { r, vm, at } = sim('{ sizeMiB: 3072, blockMiB: 128 }');
  const boot = await at(0);
  assert.deepEqual(boot.memoryDevice, { bootKiB: 512 * MiB, sizeKiB: 3072 * MiB, blockKiB: 128 * MiB, requestedKiB: 0, currentKiB: 0, devices: 1 });
  assert.equal(boot.balloon!.currentKiB, 512 * MiB);
  assert.equal(boot.balloon!.maximumKiB, 512 * MiB, 'the balloon cannot give what is not plugged');
  await r.hypervisor.resizeMemoryDevice(vm, 2048 * MiB);
  const half = await at(1);
  // 1000 MiB of credit in 1 s: 7 whole blocks of 128 MiB (896 MiB).
  assert.equal(half.memoryDevice!.currentKiB, 896 * MiB);
  assert.equal(half.memoryDevice!.requestedKiB, 2048 * MiB);
  assert.equal(half.balloon!.currentKiB, (512 + 896) * MiB);
  assert.equal(half.balloon!.maximumKiB, (512 + 896) * MiB);
  assert.equal(half.balloon!.availableKiB, (512 + 896) * MiB, 'MemTotal follows what is plugged');
  const done = await at(3);
  assert.equal(done.memoryDevice!.currentKiB, 2048 * MiB);
  assert.equal(done.balloon!.availableKiB, 2560 * MiB);
  assert.equal(r.truth().domains.find((d) => d.name === 'vm1')!.memoryDevice!.pluggedMiB, 2048);
  // The host gave it: free memory is less by what was plugged.
  assert.equal((await r.hypervisor.observe()).host.memoryFreeKiB, (16384 - 2560 - 1024) * MiB);
});

test('rates come from host.memoryDevice', async () => {
  const { r, vm, at } = sim('{ sizeMiB: 1024, requestedMiB: 1024 }', undefined, ', memoryDevice: { plugMiBps: 100, unplugMiBps: 50 }');
  assert.equal((await at(0)).memoryDevice!.currentKiB, 1024 * MiB, 'the boot request is plugged when the guest boots');
  await r.hypervisor.resizeMemoryDevice(vm, 0);
  // Unplugged in whole Linux memory blocks of 128 MiB: none after 2 s at 50 MiB/s, one after 3 s, two after 6 s.
  assert.equal((await at(2)).memoryDevice!.currentKiB, 1024 * MiB);
  assert.equal((await at(3)).memoryDevice!.currentKiB, (1024 - 128) * MiB);
  assert.equal((await at(6)).memoryDevice!.currentKiB, (1024 - 256) * MiB);
  await r.hypervisor.resizeMemoryDevice(vm, 1024 * MiB);
  assert.equal((await at(9)).memoryDevice!.currentKiB, 1024 * MiB);
});

test('an unplug takes only what the guest can free: anonymous memory keeps it above the request, no OOM; retried after the back-off, and at once on a new request', async () => {
  // 512 boot + 2048 plugged; 1500 MiB anonymous until 30 s, then 100 MiB.
  const { r, vm, at } = sim('{ sizeMiB: 2048, requestedMiB: 2048 }', '{ usedMiB: { steps: [[0, 1500], [30, 100]] } }');
  await at(1);
  await r.hypervisor.resizeMemoryDevice(vm, 0);
  const stuck = await at(10);
  const freeable = 2560 * MiB - 1500 * MiB - UNPLUG_GUEST_FREE_KIB;
  // In whole Linux memory blocks (128 MiB), each needing that much free: 8 of them.
  const expected = 2048 * MiB - Math.floor(freeable / LINUX_MEMORY_BLOCK_KIB) * LINUX_MEMORY_BLOCK_KIB;
  assert.equal(expected, 1024 * MiB);
  assert.equal(stuck.memoryDevice!.currentKiB, expected, 'stopped where the guest ran out of memory it could free');
  assert.ok(stuck.memoryDevice!.currentKiB > stuck.memoryDevice!.requestedKiB, 'current stays above requested: the guest reports the partial unplug');
  const t1 = r.truth();
  assert.equal(t1.oomEvents.length, 0);
  assert.ok(t1.domains.find((d) => d.name === 'vm1')!.memoryDevice!.blockedUnplugs >= 1);
  // The workload frees at 30 s, but the driver waits out its back-off (50 s from the failure at ~1.1 s).
  assert.equal((await at(45)).memoryDevice!.currentKiB, expected, 'no retry before the back-off ends');
  const later = await at(1.2 + UNPLUG_RETRY_MIN_SECONDS + 6);
  assert.equal(later.memoryDevice!.currentKiB, 0, 'retried after the back-off, and it went through');
  assert.equal(r.truth().oomEvents.length, 0);

  // A fresh guest, stuck the same way: a new request wakes the driver at once.
  const again = sim('{ sizeMiB: 2048, requestedMiB: 2048 }', '{ usedMiB: { steps: [[0, 1500], [5, 100]] } }');
  await again.at(1);
  await again.r.hypervisor.resizeMemoryDevice(again.vm, 0);
  await again.at(8);
  await again.r.hypervisor.resizeMemoryDevice(again.vm, 2 * MiB);
  assert.equal((await again.at(14)).memoryDevice!.currentKiB, 2 * MiB, 'the last 126 MiB in 2 MiB blocks, below a whole memory block');
});

test('page cache yields to an unplug as to a balloon', async () => {
  const { r, vm, at } = sim('{ sizeMiB: 2048, requestedMiB: 2048 }', '{ usedMiB: 200, reads: [{ scan: 1800, rate: 900 }] }');
  const full = await at(10); // the disk reads 200 MiB/s
  assert.ok(full.balloon!.diskCachesKiB! > 1700 * MiB, `cache filled: ${full.balloon!.diskCachesKiB! / MiB}`);
  await r.hypervisor.resizeMemoryDevice(vm, 0);
  const after = await at(20);
  assert.equal(after.memoryDevice!.currentKiB, 0, 'all of it unplugged: cache is not anonymous memory');
  assert.ok(after.balloon!.diskCachesKiB! <= (512 - 200) * MiB, `cache fits what is left: ${after.balloon!.diskCachesKiB! / MiB}`);
  const truth = r.truth();
  assert.equal(truth.oomEvents.length, 0);
  assert.ok(truth.domains.find((d) => d.name === 'vm1')!.cache.droppedMiB > 1000);
});

test('the balloon: bounded by boot + plugged, never at or below what is plugged, and what it holds stays held through a plug', async () => {
  const { r, vm, at } = sim('{ sizeMiB: 2048, requestedMiB: 1024 }');
  await at(1);
  await assert.rejects(r.hypervisor.setMemory(vm, 1536 * MiB + 1), /cannot set memory higher than max memory/);
  await assert.rejects(r.hypervisor.setMemory(vm, 1024 * MiB), /not above its 1048576 KiB of plugged virtio-mem memory: the balloon acts on its boot memory; unplug instead/);
  await r.hypervisor.setMemory(vm, 1436 * MiB);
  assert.equal((await at(3)).balloon!.currentKiB, 1436 * MiB);
  await r.hypervisor.resizeMemoryDevice(vm, 2048 * MiB);
  const grown = await at(6);
  assert.equal(grown.balloon!.currentKiB, (1436 + 1024) * MiB, 'the balloon still holds its 100 MiB');
  assert.equal(grown.balloon!.maximumKiB, (512 + 2048) * MiB);
});

test('resizeMemoryDevice refuses what libvirt would, in one line; a guest without a device has none', async () => {
  const { r, vm, at } = sim('{ sizeMiB: 1024, blockMiB: 4 }');
  const plain = (await r.hypervisor.observe()).domains.find((d) => d.name === 'plain')!;
  assert.equal(plain.memoryDevice, undefined);
  assert.equal(plain.balloon!.maximumKiB, 2048 * MiB);
  await assert.rejects(r.hypervisor.resizeMemoryDevice({ name: 'plain', uuid: '' }, 0), /^Error: operation failed: domain 'plain' has no virtio-mem device$/);
  await assert.rejects(r.hypervisor.resizeMemoryDevice(vm, 6 * MiB), /not a multiple of its virtio-mem block \(4096 KiB\)/);
  await assert.rejects(r.hypervisor.resizeMemoryDevice(vm, 1028 * MiB), /above its virtio-mem size of 1048576 KiB/);
  await assert.rejects(r.hypervisor.resizeMemoryDevice(vm, -4096), /whole number of KiB/);
  await r.hypervisor.resizeMemoryDevice(vm, 8 * MiB);
  await at(1);
  const t = r.truth();
  assert.equal(t.actions.rejectedCalls, 4);
  assert.equal(t.actions.resizeMemoryDeviceCalls, 1);
  assert.equal(t.domains.find((d) => d.name === 'plain')!.memoryDevice, undefined);
});

test('scenario keys: defaults, and one-line errors naming the field', () => {
  const s = scenario('{ sizeMiB: 1024 }');
  assert.deepEqual(s.domains[0]!.memoryDevice, { sizeMiB: 1024, blockMiB: 2, requestedMiB: 0, requests: [] });
  assert.equal(s.domains[1]!.memoryDevice, undefined);
  assert.equal(s.host.memoryDevice, undefined, 'rates absent unless given (the defaults apply)');
  assert.deepEqual(scenario('{ sizeMiB: 1024 }', undefined, ', memoryDevice: { unplugMiBps: 100 }').host.memoryDevice, { plugMiBps: 1000, unplugMiBps: 100 });
  const bad = (device: string, pattern: RegExp, host?: string) =>
    assert.throws(() => scenario(device, undefined, host), (e: unknown) => {
      assert.ok(e instanceof ScenarioError, String(e));
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, pattern);
      return true;
    });
  bad('{ sizeMiB: 1024, blockMiB: 3 }', /^vmem\.yaml:\d+: domains\[0\]\.memoryDevice\.blockMiB: 3 is not a power of two/);
  bad('{ sizeMiB: 1000, blockMiB: 64 }', /domains\[0\]\.memoryDevice\.sizeMiB: 1000 is not a multiple of the block \(64 MiB\)/);
  bad('{ sizeMiB: 1024, requestedMiB: 2048 }', /domains\[0\]\.memoryDevice\.requestedMiB: /);
  bad('{ sizeMiB: 1024, requestedMiB: 3 }', /requestedMiB: 3 is not a multiple of the block \(2 MiB\)/);
  bad('{ blockMiB: 2 }', /domains\[0\]\.memoryDevice/);
  bad('{ sizeMiB: 1024, size: 1 }', /domains\[0\]\.memoryDevice.*unknown field 'size'/);
  bad('{ sizeMiB: 1024 }', /host\.memoryDevice\.plugMiBps: /, ', memoryDevice: { plugMiBps: 0 }');
  bad('{ sizeMiB: 1024, requests: [[10, 512], [10, 0]] }', /requests\[1\]\[0\]: times must increase \(10 after 10\)/);
  bad('{ sizeMiB: 1024, requests: [[10, 5]] }', /requests\[0\]\[1\]: 5 is not a multiple of the block \(2 MiB\)/);
  bad('{ sizeMiB: 1024, requests: [[10]] }', /requests\[0\]: expected a pair \[seconds, MiB\]/);
});

test('requests someone else makes (memoryDevice.requests) arrive at their times', async () => {
  const { at } = sim('{ sizeMiB: 1024, requests: [[5, 512], [20, 0]] }');
  assert.equal((await at(4.9)).memoryDevice!.requestedKiB, 0);
  const asked = await at(5);
  assert.equal(asked.memoryDevice!.requestedKiB, 512 * MiB, 'exactly at 5 s');
  assert.equal((await at(6)).memoryDevice!.currentKiB, 512 * MiB);
  assert.equal((await at(25)).memoryDevice!.currentKiB, 0);
});

test('calibration: the lab guest (512 MiB + 1024 plugged, 179 MiB free) unplugged one 128 MiB memory block of the 1024 asked, stopping with 51 MiB free; so does the simulated one', async () => {
  // Real (libvirt 9.0, QEMU 7.2, kernel 6.1, docs/libvirt-client.md): requested 0, current 1024 -> 896 MiB and no further.
  const { r, vm, at } = sim('{ sizeMiB: 1024, requestedMiB: 1024 }', `{ usedMiB: ${1536 - 179} }`);
  await at(1);
  await r.hypervisor.resizeMemoryDevice(vm, 0);
  const after = await at(20);
  assert.equal(after.memoryDevice!.currentKiB, 896 * MiB);
  assert.equal(after.balloon!.unusedKiB, 51 * MiB);
  assert.equal(r.truth().oomEvents.length, 0);
});
