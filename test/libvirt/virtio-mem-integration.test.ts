// The update-device call and the virtio-mem reader against the real libvirtd. On qemu:///system a throwaway
// domain `vbtest-vmem-<random>` (no disk, no OS: QEMU under TCG with a virtio-mem device, about a second)
// is defined, started, resized, destroyed and undefined; no other domain is touched. Without a guest
// driver nothing is plugged (`current` stays 0), but the daemon takes the request and the live XML shows it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Domain } from '../../src/libvirt/protocol.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import { connectOrSkip, IN_CI } from './daemon.js';
import { throwawayVirtioMemXml } from './throwaway-virtio-mem.js';

const T = { timeout: 30_000 };

describe('real libvirtd: virtio-mem devices and the update-device call', () => {
  test('test driver (test+unix:///default): the call is refused as unsupported, in one clear line', T, async (t) => {
    const c = await connectOrSkip(t, 'test+unix:///default');
    if (!c) return;
    try {
      const dom = (await c.listAllDomains()).find((d) => d.name === 'test');
      assert.ok(dom, "the test driver's domain 'test'");
      assert.deepEqual(await c.virtioMemDevices(dom), [], 'the test domain has no virtio-mem device');
      const xml = `<memory model='virtio-mem'><target><size unit='KiB'>262144</size><node>0</node><block unit='KiB'>2048</block><requested unit='KiB'>131072</requested></target><alias name='virtiomem0'/></memory>`;
      await assert.rejects(c.call('domainUpdateDeviceFlags', { dom, xml, flags: 1 }), (e: unknown) => {
        assert.ok(e instanceof LibvirtError, String(e));
        assert.equal(e.code, LibvirtErrorCode.NoSupport);
        assert.equal(e.procedure, 'domainUpdateDeviceFlags');
        assert.match(e.message, /^[^\n]*virDomainUpdateDeviceFlags[^\n]*$/, 'one line naming the call');
        return true;
      });
    } finally {
      await c.close();
    }
  });

  test('qemu:///system: a throwaway domain\'s device is read, asked for 64 MiB, and read back; the daemon refuses what the builder would not build', T, async (t) => {
    const c = await connectOrSkip(t, 'qemu:///system');
    if (!c) return;
    const name = `vbtest-vmem-${randomBytes(4).toString('hex')}`;
    let dom: Domain | undefined;
    try {
      try {
        dom = (await c.call('domainDefineXmlFlags', { xml: throwawayVirtioMemXml(name), flags: 0 })).dom;
        await c.call('domainCreateWithFlags', { dom, flags: 0 });
      } catch (e) {
        if (!(e instanceof LibvirtError) || IN_CI) throw e;
        const msg = `SKIPPED: this host cannot start a QEMU domain with virtio-mem (${e.message})`;
        console.error(msg);
        t.skip(msg);
        return;
      }
      const [device, ...others] = await c.virtioMemDevices(dom);
      assert.equal(others.length, 0);
      assert.ok(device?.alias, 'a running domain\'s device has an alias');
      assert.deepEqual({ ...device, xml: undefined, alias: undefined }, {
        sizeKiB: 262144, node: 0, blockKiB: 2048, requestedKiB: 0, currentKiB: 0, xml: undefined, alias: undefined,
      });
      assert.match(device.xml, /<address type='pci'/, 'the live element carries its address, by which the daemon finds it');

      await c.setVirtioMemRequested(dom, device, 65536);
      const [after] = await c.virtioMemDevices(dom);
      assert.equal(after!.requestedKiB, 65536);
      assert.equal(after!.alias, device.alias);
      assert.equal(after!.sizeKiB, 262144);

      // The daemon checks the same rule the builder does, so a size the builder refuses never reaches it.
      const notMultiple = after!.xml.replace(/<requested unit='KiB'>\d+/, "<requested unit='KiB'>1024");
      await assert.rejects(c.call('domainUpdateDeviceFlags', { dom, xml: notMultiple, flags: 1 }), /multiple of block size/);
    } finally {
      if (dom) {
        await c.call('domainDestroyFlags', { dom, flags: 0 }).catch(() => undefined);
        await c.call('domainUndefineFlags', { dom, flags: 0 });
        await assert.rejects(c.call('domainLookupByName', { name }), (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoDomain);
      }
      await c.close();
    }
  });
});
