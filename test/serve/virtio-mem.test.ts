// virtio-mem served from the simulated host over libvirt's protocol (#19): the live XML's device, the
// update-device call, and the memory figures in libvirt's own frame, as measured on a real libvirt 9.0 /
// QEMU 7.2 guest (docs/libvirt-client.md), seen by our client, by LibvirtHost and by Debian's virsh.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { parseScenario } from '../../src/host/sim/index.js';
import { LibvirtClient, paramNumber } from '../../src/libvirt/client.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import type { Domain } from '../../src/libvirt/protocol.js';
import { startSimServer, type SimServer } from '../../src/serve/sim-server.js';
import { need, run } from './tools.js';

const MiB = 1024;
const T = { timeout: 30_000 };

const SCENARIO = `
name: vmem-served
interval: 1
intervals: 100
host: { pcpus: 2, memoryMiB: 8192 }
domains:
  - name: vm1
    memoryMiB: 512
    statsPeriod: 1
    memoryDevice: { sizeMiB: 1024, blockMiB: 2 }
    workload: { usedMiB: 100 }
  - { name: vm2, memoryMiB: 1024, maxMemoryMiB: 2048 }
`;

describe('virtio-mem over the served simulator', () => {
  let dir: string;
  let served: SimServer;
  let client: LibvirtClient;
  let uri: string;
  let vm1: Domain;
  let vm2: Domain;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-vmem-'));
    served = await startSimServer({ scenario: parseScenario(SCENARIO, 'vmem-served'), socket: join(dir, 'sock'), paused: true });
    uri = `qemu+unix:///system?socket=${join(dir, 'sock')}`;
    client = await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
    const doms = await client.listAllDomains();
    vm1 = doms.find((d) => d.name === 'vm1')!;
    vm2 = doms.find((d) => d.name === 'vm2')!;
  });
  after(async () => {
    await client.close();
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What libvirt's calls say of vm1's memory, KiB. */
  async function figures() {
    const [stats] = await client.getAllDomainStats(undefined, 0, [vm1]);
    const xml = (await client.call('domainGetXmlDesc', { dom: vm1, flags: 0 })).xml;
    const [device] = await client.virtioMemDevices(vm1);
    return {
      current: paramNumber(stats!.params, 'balloon.current'),
      maximum: paramNumber(stats!.params, 'balloon.maximum'),
      actual: (await client.memoryStats(vm1)).actual,
      memory: Number(/<memory unit='KiB'>(\d+)</.exec(xml)?.[1]),
      currentMemory: Number(/<currentMemory unit='KiB'>(\d+)</.exec(xml)?.[1]),
      maxMemory: (await client.call('domainGetMaxMemory', { dom: vm1 })).memory,
      requested: device?.requestedKiB,
      plugged: device?.currentKiB,
    };
  }

  test('our client reads the device from the live XML and resizes it; the figures move as on real libvirt', T, async () => {
    const [device, ...more] = await client.virtioMemDevices(vm1);
    assert.equal(more.length, 0);
    assert.deepEqual({ ...device, xml: undefined }, { alias: 'virtiomem0', sizeKiB: 1024 * MiB, node: 0, blockKiB: 2 * MiB, requestedKiB: 0, currentKiB: 0, xml: undefined });
    assert.deepEqual(await client.virtioMemDevices(vm2), []);
    assert.deepEqual(await figures(), { current: 512 * MiB, maximum: 1536 * MiB, actual: 512 * MiB, memory: 1536 * MiB, currentMemory: 512 * MiB, maxMemory: 1536 * MiB, requested: 0, plugged: 0 });

    await client.setVirtioMemRequested(vm1, device!, 1024 * MiB);
    assert.deepEqual(served.takeActions().map((a) => a.kind === 'resize-memory-device' && [a.domain.name, a.fromKiB, a.requestedKiB]), [['vm1', 0, 1024 * MiB]]);
    served.run.hypervisor.advance(2_000);
    // The measured table's second row: plugged memory counts in balloon.current and <currentMemory>, not in actual.
    assert.deepEqual(await figures(), { current: 1536 * MiB, maximum: 1536 * MiB, actual: 512 * MiB, memory: 1536 * MiB, currentMemory: 1536 * MiB, maxMemory: 1536 * MiB, requested: 1024 * MiB, plugged: 1024 * MiB });

    // setmem is over the boot memory: above it refused (as libvirt did for 1 GiB and 1.5 GiB), 400 MiB holds 112 MiB.
    await assert.rejects(client.call('domainSetMemoryFlags', { dom: vm1, memory: 1024 * MiB, flags: 0 }), /cannot set memory higher than max memory/);
    await client.call('domainSetMemoryFlags', { dom: vm1, memory: 400 * MiB, flags: 0 });
    served.run.hypervisor.advance(2_000);
    const ballooned = await figures();
    assert.equal(ballooned.current, (400 + 1024) * MiB);
    assert.equal(ballooned.actual, 400 * MiB);

    // Unplug to 256 MiB: what the balloon holds stays held (the table's last row).
    await client.setVirtioMemRequested(vm1, (await client.virtioMemDevices(vm1))[0]!, 256 * MiB);
    served.run.hypervisor.advance(3_000);
    const unplugged = await figures();
    assert.equal(unplugged.plugged, 256 * MiB);
    assert.equal(unplugged.current, (400 + 256) * MiB);
    assert.equal(unplugged.actual, 400 * MiB);
    served.takeActions();
  });

  test('LibvirtHost through the server: the observation, the balloon bound in its own frame, and resizeMemoryDevice', T, async () => {
    const host = LibvirtHost.fromClient(client);
    const obs = await host.observe();
    const o1 = obs.domains.find((d) => d.name === 'vm1')!;
    const plugged = o1.memoryDevice!.currentKiB;
    assert.deepEqual(o1.memoryDevice, { bootKiB: 512 * MiB, sizeKiB: 1024 * MiB, blockKiB: 2 * MiB, requestedKiB: plugged, currentKiB: plugged, devices: 1 });
    assert.equal(o1.balloon!.maximumKiB, 512 * MiB + plugged, 'the balloon\'s bound: boot + plugged, not libvirt\'s boot + size');
    assert.equal(obs.domains.find((d) => d.name === 'vm2')!.memoryDevice, undefined);

    // A target in the observation's frame reaches the simulator as that target (the host takes off what is plugged).
    await host.setMemory(vm1, 500 * MiB + plugged);
    served.run.hypervisor.advance(2_000);
    const truth = (await served.run.hypervisor.observe()).domains.find((d) => d.name === 'vm1')!;
    assert.equal(truth.balloon!.currentKiB, 500 * MiB + plugged);

    await host.resizeMemoryDevice(vm1, 768 * MiB);
    served.run.hypervisor.advance(2_000);
    const after = (await host.observe()).domains.find((d) => d.name === 'vm1')!;
    assert.equal(after.memoryDevice!.currentKiB, 768 * MiB);
    assert.equal(after.balloon!.currentKiB, 500 * MiB + 768 * MiB, 'the balloon held its 12 MiB through the plug');
    await assert.rejects(host.resizeMemoryDevice(vm2, 0), /vm2' has no virtio-mem device/);
    served.takeActions();
  });

  test('the update-device call refuses what libvirt refuses, each in one line', T, async () => {
    const [device] = await client.virtioMemDevices(vm1);
    const refused = async (xml: string, flags: number, code: number, pattern: RegExp) =>
      assert.rejects(client.call('domainUpdateDeviceFlags', { dom: vm1, xml, flags }), (e: unknown) => {
        assert.ok(e instanceof LibvirtError, String(e));
        assert.equal(e.code, code);
        assert.match(e.message, pattern);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    const withRequested = (kib: number) => device!.xml.replace(/<requested unit='KiB'>\d+/, `<requested unit='KiB'>${kib}`);
    await refused(withRequested(1024), 1, LibvirtErrorCode.InvalidArg, /multiple of block size/);
    await refused(device!.xml.replace(/<size unit='KiB'>\d+/, "<size unit='KiB'>2097152"), 1, LibvirtErrorCode.NoSupport, /cannot modify memory size from '1048576' to '2097152'/);
    await refused(withRequested(2048), 2, LibvirtErrorCode.OperationInvalid, /transient domain/);
    await refused(device!.xml.replace("alias name='virtiomem0'", "alias name='virtiomem7'"), 1, LibvirtErrorCode.OperationFailed, /memory 'virtiomem7' not found/);
    await refused("<disk type='file' device='disk'><target dev='vda'/></disk>", 1, LibvirtErrorCode.NoSupport, /virtio-mem memory devices only/);
    await assert.rejects(client.call('domainUpdateDeviceFlags', { dom: vm2, xml: device!.xml, flags: 1 }), /not found/);
    assert.deepEqual(served.takeActions(), [], 'nothing refused reaches the record');
  });

  test('virsh update-memory-device and dumpxml against the served simulator', T, async (t) => {
    if (!need(t, 'virsh')) return;
    const virsh = async (...args: string[]) => (await run('virsh', ['-c', uri, ...args], { timeout: 20_000 })).stdout;
    await virsh('update-memory-device', 'vm1', '--requested-size', '256MiB', '--live');
    const [action] = served.takeActions();
    assert.ok(action?.kind === 'resize-memory-device' && action.requestedKiB === 256 * MiB, JSON.stringify(action));
    served.run.hypervisor.advance(3_000);
    const xml = await virsh('dumpxml', 'vm1');
    assert.match(xml, /<memory model='virtio-mem'>/);
    assert.match(xml, /<requested unit='KiB'>262144<\/requested>/);
    assert.match(xml, /<current unit='KiB'>262144<\/current>/);
    const info = await virsh('dominfo', 'vm1');
    assert.match(info, /Max memory:\s+1572864 KiB/);
  });
});
