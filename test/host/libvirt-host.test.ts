// The libvirt Hypervisor against the real daemon's test driver, on one connection
// (the test driver's state lives as long as the connection holds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { measureCpu } from '../../src/cpu/usage.js';
import { connectOrSkip } from '../libvirt/daemon.js';

test('LibvirtHost on test+unix:///default: observe, pin, set memory, observe again', { timeout: 20_000 }, async (t) => {
  const client = await connectOrSkip(t, 'test+unix:///default');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  try {
    const before = await host.observe();
    assert.ok(before.host.pcpus >= 4, `pCPUs ${before.host.pcpus}`);
    assert.ok(before.host.memoryTotalKiB > 0);
    const dom = before.domains.find((d) => d.name === 'test');
    assert.ok(dom, 'the test driver runs a domain named test');
    assert.equal(dom.state, 'running');
    assert.equal(dom.vcpus.length, 2);
    assert.ok(dom.vcpus.every((v) => v.timeNs >= 0 && v.affinity.length > 0));
    assert.ok(dom.balloon && dom.balloon.maximumKiB > 0 && dom.balloon.currentKiB > 0);

    await host.pinVcpu(dom, 0, [3]);
    const target = Math.round(dom.balloon.currentKiB / 2);
    await host.setMemory(dom, target);

    const after = await host.observe();
    assert.ok(after.timeNs > before.timeNs);
    const domAfter = after.domains.find((d) => d.name === 'test')!;
    assert.deepEqual(domAfter.vcpus[0]!.affinity, [3]);
    assert.equal(domAfter.balloon!.currentKiB, target);

    // The observations feed the scheduler's measurement unchanged.
    const m = measureCpu(before, after);
    assert.equal(m.pcpus, before.host.pcpus);
    assert.ok(m.vcpus.some((v) => v.domain.name === 'test' && v.vcpu === 0));
  } finally {
    await host.close();
  }
});

test('LibvirtHost.connect on an unreachable socket fails with one line naming the URI and the cause', { timeout: 10_000 }, async () => {
  await assert.rejects(LibvirtHost.connect('qemu+unix:///system?socket=/nonexistent/libvirt-sock'), (err: Error) => {
    assert.match(err.message, /nonexistent/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});
