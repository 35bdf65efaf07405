// The filtered upstream (serve --upstream) forwards a virtio-mem device's update to the real daemon for
// a named domain, records it as resize-memory-device, and refuses any other device's update before it
// reaches the daemon. On qemu:///system with a throwaway domain `vbtest-upvmem-<random>` (no OS: QEMU
// under TCG with a virtio-mem device, about a second), destroyed and undefined at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Action } from '../../src/ground/actions.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import type { Domain } from '../../src/libvirt/protocol.js';
import { startUpstreamServer } from '../../src/serve/upstream-server.js';
import { connectOrSkip, IN_CI } from '../libvirt/daemon.js';
import { throwawayVirtioMemXml } from '../libvirt/throwaway-virtio-mem.js';

const MiB = 1024;

test('filtered upstream on qemu:///system: a virtio-mem update reaches the daemon and is recorded; any other device update is refused', { timeout: 60_000 }, async (t) => {
  const direct = await connectOrSkip(t, 'qemu:///system');
  if (!direct) return;
  const name = `vbtest-upvmem-${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'vb-upvmem-'));
  let dom: Domain | undefined;
  let served: Awaited<ReturnType<typeof startUpstreamServer>> | undefined;
  let c: LibvirtClient | undefined;
  try {
    try {
      dom = (await direct.call('domainDefineXmlFlags', { xml: throwawayVirtioMemXml(name), flags: 0 })).dom;
      await direct.call('domainCreateWithFlags', { dom, flags: 0 });
    } catch (e) {
      if (!(e instanceof LibvirtError) || IN_CI) throw e;
      t.skip(`SKIPPED: this host cannot start a QEMU domain with virtio-mem (${e.message})`);
      return;
    }
    const actions: Action[] = [];
    served = await startUpstreamServer({ upstream: 'qemu:///system', only: [name], socket: join(dir, 'sock'), onAction: (a) => actions.push(a) });
    c = await LibvirtClient.connect(`qemu+unix:///system?socket=${join(dir, 'sock')}`, { timeoutMs: 5_000 });
    const [device] = await c.virtioMemDevices(dom);
    assert.ok(device?.alias);
    await c.setVirtioMemRequested(dom, device, 64 * MiB);
    assert.equal((await direct.virtioMemDevices(dom))[0]!.requestedKiB, 64 * MiB, 'on the daemon');
    assert.deepEqual(actions.map((a) => a.kind === 'resize-memory-device' && [a.domain.name, a.fromKiB, a.requestedKiB]), [[name, 0, 64 * MiB]]);

    await assert.rejects(c.call('domainUpdateDeviceFlags', { dom, xml: "<disk type='file' device='cdrom'><target dev='hdc'/></disk>", flags: 1 }), (e: unknown) =>
      e instanceof LibvirtError && e.code === LibvirtErrorCode.NoSupport && /only virtio-mem memory devices/.test(e.message));
    assert.equal(actions.length, 1, 'nothing refused is recorded');
  } finally {
    await c?.close();
    await served?.close();
    if (dom) {
      await direct.call('domainDestroyFlags', { dom, flags: 0 }).catch(() => undefined);
      await direct.call('domainUndefineFlags', { dom, flags: 0 });
    }
    await direct.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
