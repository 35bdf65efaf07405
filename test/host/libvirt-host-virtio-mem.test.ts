// LibvirtHost's virtio-mem face: the observation's memory device, the balloon's bound for such guests,
// resizeMemoryDevice, and how seldom the live XML is read. Pure parts on fixtures; the rest on
// qemu:///system with a throwaway domain `vbtest-hostvmem-<random>` (no OS: QEMU under TCG with a
// virtio-mem device and a balloon, about a second), destroyed and undefined at the end; no other
// domain is touched. Without a guest driver nothing is plugged (current stays 0).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { domainMemoryKiB, LibvirtHost, MEMORY_DEVICE_REFRESH_OBSERVATIONS, memoryDeviceObservation, shareRequest } from '../../src/host/libvirt-host.js';
import type { VirtioMemDevice } from '../../src/libvirt/memory-devices.js';
import type { Domain } from '../../src/libvirt/protocol.js';
import { LibvirtError } from '../../src/libvirt/errors.js';
import { connectOrSkip, IN_CI } from '../libvirt/daemon.js';
import { throwawayVirtioMemXml } from '../libvirt/throwaway-virtio-mem.js';

const MiB = 1024;
const dev = (sizeMiB: number, blockMiB: number, requestedMiB: number, currentMiB?: number): VirtioMemDevice => ({
  sizeKiB: sizeMiB * MiB, blockKiB: blockMiB * MiB, requestedKiB: requestedMiB * MiB, ...(currentMiB !== undefined ? { currentKiB: currentMiB * MiB } : {}), xml: '',
});

describe('virtio-mem figures (pure)', () => {
  test('one device: boot, size, block, requested, current as read', () => {
    assert.deepEqual(memoryDeviceObservation({ bootKiB: 512 * MiB, devices: [dev(1024, 2, 256, 200)] }), {
      bootKiB: 512 * MiB, sizeKiB: 1024 * MiB, blockKiB: 2 * MiB, requestedKiB: 256 * MiB, currentKiB: 200 * MiB, devices: 1,
    });
  });

  test('two devices are summed, the largest block kept; a device without <current> counts 0 plugged', () => {
    assert.deepEqual(memoryDeviceObservation({ bootKiB: 1024, devices: [dev(512, 2, 512, 512), dev(512, 4, 64)] }), {
      bootKiB: 1024, sizeKiB: 1024 * MiB, blockKiB: 4 * MiB, requestedKiB: 576 * MiB, currentKiB: 512 * MiB, devices: 2,
    });
  });

  test('shareRequest fills the devices in order, in their blocks, and refuses what no device split can take', () => {
    assert.deepEqual(shareRequest([dev(1024, 2, 0)], 300 * MiB, 'g'), [300 * MiB]);
    assert.deepEqual(shareRequest([dev(512, 2, 0), dev(512, 2, 0)], 700 * MiB, 'g'), [512 * MiB, 188 * MiB]);
    assert.deepEqual(shareRequest([dev(512, 2, 0), dev(512, 2, 0)], 0, 'g'), [0, 0]);
    assert.throws(() => shareRequest([dev(1024, 2, 0)], 1025 * MiB, 'g'), /^Error: invalid argument: requested size 1049600 KiB for 'g' is above its virtio-mem size of 1048576 KiB$/);
    assert.throws(() => shareRequest([dev(1024, 2, 0)], 3 * MiB, 'g'), /not a multiple of its virtio-mem block \(2048 KiB\)/);
    assert.throws(() => shareRequest([dev(1024, 2, 0)], -2048, 'g'), /whole number of KiB ≥ 0/);
    assert.throws(() => shareRequest([dev(1024, 2, 0)], 1.5, 'g'), /whole number of KiB ≥ 0/);
  });

  test('domainMemoryKiB reads the top-level <memory> in its unit, never a device\'s', () => {
    const xml = (top: string) => `<domain><name>x</name>${top}<currentMemory unit='KiB'>1</currentMemory><devices><memory model='virtio-mem'><target><size unit='MiB'>256</size></target></memory></devices></domain>`;
    assert.equal(domainMemoryKiB(xml("<memory unit='KiB'>1572864</memory>")), 1572864);
    assert.equal(domainMemoryKiB(xml("<memory unit='MiB'>1536</memory>")), 1572864);
    assert.equal(domainMemoryKiB(xml('<memory>2048</memory>')), 2048);
    assert.equal(domainMemoryKiB(xml('')), undefined);
  });
});

describe('LibvirtHost on qemu:///system with a virtio-mem guest', () => {
  test('observation, bound, resize, and the live XML read only at first sight and while a request is under way', { timeout: 60_000 }, async (t) => {
    const c = await connectOrSkip(t, 'qemu:///system');
    if (!c) return;
    const name = `vbtest-hostvmem-${randomBytes(4).toString('hex')}`;
    let dom: Domain | undefined;
    // Count the XML reads of our domain only (other domains on the host may be read too).
    let xmlReads = 0;
    const call = c.call.bind(c);
    (c as { call: unknown }).call = (proc: string, args: { dom?: { name?: string } }) => {
      if (proc === 'domainGetXmlDesc' && args?.dom?.name === name) xmlReads++;
      return (call as (p: string, a: unknown) => Promise<unknown>)(proc, args);
    };
    const host = LibvirtHost.fromClient(c);
    try {
      try {
        dom = (await c.call('domainDefineXmlFlags', { xml: throwawayVirtioMemXml(name, { balloon: true }), flags: 0 })).dom;
        await c.call('domainCreateWithFlags', { dom, flags: 0 });
      } catch (e) {
        if (!(e instanceof LibvirtError) || IN_CI) throw e;
        t.skip(`SKIPPED: this host cannot start a QEMU domain with virtio-mem (${e.message})`);
        return;
      }
      const mine = async () => {
        const d = (await host.observe()).domains.find((x) => x.name === name);
        assert.ok(d, 'the throwaway domain is observed');
        return d;
      };
      const first = await mine();
      assert.deepEqual(first.memoryDevice, { bootKiB: 128 * MiB, sizeKiB: 256 * MiB, blockKiB: 2 * MiB, requestedKiB: 0, currentKiB: 0, devices: 1 });
      if (first.balloon) {
        // libvirt says 384 MiB (boot + the whole device); the balloon can act on boot + plugged only.
        assert.equal(first.balloon.maximumKiB, 128 * MiB);
        assert.equal(first.balloon.currentKiB, 128 * MiB);
      }
      // At first sight: the stored definition (pins, hugepages, whether it has virtio-mem), then, as it has, the live one.
      assert.equal(xmlReads, 2, 'read at first sight: stored, then live');
      await mine();
      await mine();
      // Two more observations: at most one staggered refresh (one in MEMORY_DEVICE_REFRESH_OBSERVATIONS by the UUID), never one each.
      assert.ok(xmlReads - 2 <= 1, `a settled device (requested = current) is not read again every observation (${xmlReads - 2} more reads in 2)`);

      await host.resizeMemoryDevice({ name, uuid: dom.uuid }, 64 * MiB);
      const readsAfterResize = xmlReads;
      const asked = await mine();
      assert.equal(asked.memoryDevice?.requestedKiB, 64 * MiB, 'the request shows at the next observation');
      assert.equal(asked.memoryDevice?.currentKiB, 0, 'no guest driver: nothing plugs');
      await mine();
      assert.equal(xmlReads, readsAfterResize + 2, 'while requested ≠ current, read every observation');

      await assert.rejects(host.resizeMemoryDevice({ name, uuid: dom.uuid }, 3 * MiB), /^Error: invalid argument: .*not a multiple of its virtio-mem block \(2048 KiB\)$/);
      await assert.rejects(host.resizeMemoryDevice({ name, uuid: dom.uuid }, 512 * MiB), /above its virtio-mem size of 262144 KiB/);
      await host.resizeMemoryDevice({ name, uuid: dom.uuid }, 0);
      const settled = await mine();
      assert.equal(settled.memoryDevice?.requestedKiB, 0);
      const readsSettled = xmlReads;
      for (let i = 0; i < 3; i++) await mine();
      assert.ok(xmlReads - readsSettled <= 1, `settled again: at most one staggered refresh in 3 observations (${xmlReads - readsSettled})`);
      assert.ok(MEMORY_DEVICE_REFRESH_OBSERVATIONS >= 30);

      // The balloon target is in the observation's frame; nothing plugged, so libvirt gets it as is:
      // up to the observed maximum (boot + plugged) it is taken, above it libvirt refuses, though its own
      // balloon.maximum (boot + the device's size) would allow it.
      if (first.balloon) {
        await host.setMemory({ name, uuid: dom.uuid }, 100 * MiB);
        await host.setMemory({ name, uuid: dom.uuid }, first.balloon.maximumKiB);
        await assert.rejects(host.setMemory({ name, uuid: dom.uuid }, first.balloon.maximumKiB + MiB), /cannot set memory higher than max memory/);
      }
    } finally {
      if (dom) {
        await c.call('domainDestroyFlags', { dom, flags: 0 }).catch(() => undefined);
        await c.call('domainUndefineFlags', { dom, flags: 0 });
      }
      await host.close();
    }
  });
});
