// The libvirt Hypervisor against the real daemon's test driver, on one connection
// (the test driver's state lives as long as the connection holds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { DomainStatsGroup } from '../../src/libvirt/protocol.js';
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

test('LibvirtHost reads every pCPU\'s busy time (node CPU stats per CPU) with each observation: test driver and this host', { timeout: 30_000 }, async (t) => {
  for (const uri of ['test+unix:///default', 'qemu:///system']) {
    const client = await connectOrSkip(t, uri);
    if (!client) return;
    const host = LibvirtHost.fromClient(client);
    try {
      const first = await host.observe();
      const busy = first.host.pcpuBusyNs;
      assert.ok(busy && busy.length === first.host.pcpus, `${uri}: one busy counter per pCPU, got ${JSON.stringify(busy)}`);
      assert.ok(busy.every((ns) => Number.isFinite(ns) && ns >= 0), `${uri}: ${busy}`);
      // The same numbers the per-CPU call gives, and they never run backwards.
      const direct = await client.nodeCpuStats(0);
      assert.ok(direct.kernel! + direct.user! >= busy[0]!, `${uri}: pCPU0 ${direct.kernel! + direct.user!} vs ${busy[0]}`);
      const second = await host.observe();
      second.host.pcpuBusyNs!.forEach((ns, p) => assert.ok(ns >= busy[p]!, `${uri}: pCPU${p} went backwards`));
      const m = measureCpu(first, second);
      assert.equal(m.pcpuOther?.length, first.host.pcpus, `${uri}: other load measured`);
    } finally {
      await host.close();
    }
  }
});

test('LibvirtHost on the test driver: the balloon\'s fault counters come through (memory-stats fallback)', { timeout: 20_000 }, async (t) => {
  const client = await connectOrSkip(t, 'test+unix:///default');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  try {
    const dom = (await host.observe()).domains.find((d) => d.name === 'test');
    assert.ok(dom?.balloon, 'the test domain has a balloon');
    const raw = await client.memoryStats(dom);
    assert.equal(typeof raw.major_fault, 'number', 'the daemon reports major_fault');
    assert.equal(dom.balloon.majorFaults, raw.major_fault);
    assert.equal(dom.balloon.minorFaults, raw.minor_fault);
    assert.equal(dom.balloon.diskCachesKiB, raw.disk_caches);
    // The test driver has no block stats group: the field stays absent rather than 0.
    assert.equal(dom.blockReadBytes, undefined);
  } finally {
    await host.close();
  }
});

test('LibvirtHost on qemu:///system: a guest\'s disk reads arrive as blockReadBytes from the all-domain stats', { timeout: 60_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  // Our own throw-away domain: no OS, one small raw disk the firmware reads its boot sector from.
  const dir = mkdtempSync(join(tmpdir(), 'vb-blockstats-'));
  const disk = join(dir, 'disk.img');
  const sector = Buffer.alloc(1024 * 1024);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  sector[0] = 0xeb; // jmp $ — a boot sector that spins, so the firmware stops after reading it
  sector[1] = 0xfe;
  writeFileSync(disk, sector);
  const name = `vblt${process.pid}-blockstats`; // vblt<pid>: a test's own domain (test/lab/e2e-support.ts)
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
  <memballoon model='virtio'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  try {
    await client.call('domainCreate', { dom });
    let reads: number | undefined;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      const seen = (await host.observe()).domains.find((d) => d.name === name);
      assert.ok(seen, 'our domain is observed');
      reads = seen.blockReadBytes;
      assert.notEqual(reads, undefined, 'QEMU reports the block group in the all-domain stats');
      if (reads! >= 512) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(reads !== undefined && reads >= 512, `the firmware read the boot sector: ${reads} bytes`);
    assert.ok(Number.isInteger(reads));
    // The same figure libvirt gives for the disk on its own.
    const [record] = await client.getAllDomainStats(DomainStatsGroup.Block, 0, [dom]);
    const again = (await host.observe()).domains.find((d) => d.name === name)!.blockReadBytes!;
    const direct = Number(record!.params.get('block.0.rd.bytes'));
    assert.ok(direct >= reads && again >= direct, `monotonic: ${reads} ≤ ${direct} ≤ ${again}`);
  } finally {
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LibvirtHost.connect on an unreachable socket fails with one line naming the URI and the cause', { timeout: 10_000 }, async () => {
  await assert.rejects(LibvirtHost.connect('qemu+unix:///system?socket=/nonexistent/libvirt-sock'), (err: Error) => {
    assert.match(err.message, /nonexistent/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});

test('LibvirtHost on qemu:///system: a CPU weight set on our own guest becomes cpu_shares = weight × 1024 and is observed back, and read afresh after a restart', { timeout: 60_000 }, async (t) => {
  const client = await connectOrSkip(t, 'qemu:///system');
  if (!client) return;
  const host = LibvirtHost.fromClient(client);
  // Our own throw-away domain: no OS, it only sits in its firmware. Named like the lab tests' guests
  // (vblt<pid>…), so a lab test running beside it does not take it for someone else's domain.
  const name = `vblt${process.pid}cpuweight`;
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os><devices><memballoon model='none'/></devices></domain>`;
  const { dom } = await client.call('domainDefineXml', { xml });
  try {
    await client.call('domainCreate', { dom });
    const before = (await host.observe()).domains.find((d) => d.name === name);
    assert.ok(before, 'our domain is observed');
    assert.equal(before.cpuWeight, undefined, 'a default guest has weight 1 and says nothing');
    await host.setCpuWeight(before, 3);
    assert.equal(Number((await client.schedulerParameters(dom)).cpu_shares), 3072);
    const after = (await host.observe()).domains.find((d) => d.name === name)!;
    assert.equal(after.cpuWeight, 3);
    // Restarted (destroy, start: a new id and cgroup): the weight is read again, not taken from before.
    await client.call('domainDestroy', { dom });
    await client.call('domainCreate', { dom });
    const restarted = (await host.observe()).domains.find((d) => d.name === name)!;
    assert.equal(Number((await client.schedulerParameters(dom)).cpu_shares), 1024);
    assert.equal(restarted.cpuWeight, undefined, 'the restarted guest is a default guest again');
  } finally {
    await client.call('domainDestroy', { dom }).catch(() => undefined);
    await client.call('domainUndefine', { dom }).catch(() => undefined);
    await host.close();
  }
});
