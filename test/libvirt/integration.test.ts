// Against the real libvirtd. The test driver's state lives per connection, so each scenario uses ONE connection.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LibvirtClient, paramNumber, type LifecycleEvent } from '../../src/libvirt/client.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import { DomainAffect, DomainStatsGroup } from '../../src/libvirt/protocol.js';
import { SYSTEM_SOCKET } from '../../src/libvirt/uri.js';
import { connectOrSkip } from './daemon.js';

const T = { timeout: 10_000 };
const TEST_URI = 'test+unix:///default';

describe('real libvirtd, test driver (test+unix:///default), one connection', () => {
  test('list, vCPUs, pin and read back, memory stats, set memory and read back, free memory, all-domain stats', T, async (t) => {
    const c = await connectOrSkip(t, TEST_URI);
    if (!c) return;
    try {
      const doms = await c.listAllDomains();
      const dom = doms.find((d) => d.name === 'test');
      assert.ok(dom, `domain 'test' listed (got ${doms.map((d) => d.name).join(', ')})`);
      assert.match(dom.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

      const node = await c.nodeInfo();
      assert.ok(node.cpus >= 2);
      const vcpus = await c.getVcpus(dom);
      assert.equal(vcpus.length, 2);
      assert.deepEqual(vcpus.map((v) => v.number), [0, 1]);
      assert.ok(vcpus.every((v) => v.cpuTimeNs > 0 && v.affinity.length > 1));

      // The test driver refuses VIR_DOMAIN_AFFECT_LIVE (0x1) for pinning; CURRENT means live on a running domain.
      await c.pinVcpu(dom, 0, [1], { flags: DomainAffect.Current });
      const after = await c.getVcpus(dom);
      assert.deepEqual(after[0]!.affinity, [1], 'vCPU 0 pinned to pCPU 1');
      assert.deepEqual(after[1]!.affinity, vcpus[1]!.affinity, 'vCPU 1 untouched');
      const pins = await c.getVcpuPinInfo(dom);
      assert.deepEqual(pins[0], [1]);

      const before = await c.memoryStats(dom);
      assert.ok(before.actual !== undefined && before.actual > 0, 'balloon actual reported');
      const target = before.actual === 1048576 ? 1536000 : 1048576;
      await c.call('domainSetMemoryFlags', { dom, memory: target, flags: DomainAffect.Live });
      assert.equal((await c.memoryStats(dom)).actual, target);
      assert.equal((await c.domainInfo(dom)).memoryKiB, target);
      await c.call('domainSetMemoryStatsPeriod', { dom, period: 1, flags: DomainAffect.Live }).catch((e: unknown) => {
        // The test driver does not implement the stats period; a real QEMU domain does.
        if (!(e instanceof LibvirtError && e.code === LibvirtErrorCode.NoSupport)) throw e;
      });
      assert.ok((await c.call('domainGetMaxMemory', { dom }).then((r) => r.memory)) >= target);

      assert.ok((await c.call('nodeGetFreeMemory').then((r) => r.freeMem)) > 0);
      assert.ok(Object.keys(await c.nodeCpuStats()).length > 0);

      const stats = await c.getAllDomainStats(DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon);
      const rec = stats.find((s) => s.domain.uuid === dom.uuid);
      assert.ok(rec, 'stats for the test domain');
      assert.equal(paramNumber(rec.params, 'state.state'), 1, 'running');
    } finally {
      await c.close();
    }
  });

  test('many calls in flight on one connection agree with sequential answers', T, async (t) => {
    const c = await connectOrSkip(t, TEST_URI);
    if (!c) return;
    try {
      const [dom] = await c.listAllDomains();
      assert.ok(dom);
      const pcpus = (await c.nodeInfo()).cpus;
      await c.pinVcpu(dom, 1, [0], { flags: DomainAffect.Current });
      const one = await c.getVcpus(dom, { vcpus: 2, pcpus });
      assert.deepEqual(one[1]!.affinity, [0]);
      const many = await Promise.all(Array.from({ length: 200 }, () => c.getVcpus(dom, { vcpus: 2, pcpus })));
      for (const m of many) assert.deepEqual(m.map((v) => v.affinity), one.map((v) => v.affinity));
    } finally {
      await c.close();
    }
  });

  test('lab calls and lifecycle events: define, create, destroy, undefine; lookups; XML', T, async (t) => {
    const c = await connectOrSkip(t, TEST_URI);
    if (!c) return;
    try {
      const events: LifecycleEvent[] = [];
      c.on('lifecycle', (e) => events.push(e));
      const id = await c.registerLifecycleEvents();
      const xml = `<domain type='test'><name>vb-it</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`;
      const d = await c.call('domainDefineXmlFlags', { xml, flags: 0 }).then((r) => r.dom);
      assert.equal(d.name, 'vb-it');
      assert.equal((await c.call('domainLookupByName', { name: 'vb-it' }).then((r) => r.dom)).uuid, d.uuid);
      assert.equal((await c.call('domainLookupByUuid', { uuid: d.uuid }).then((r) => r.dom)).name, 'vb-it');
      assert.match(await c.call('domainGetXmlDesc', { dom: d, flags: 0 }).then((r) => r.xml), /<name>vb-it<\/name>/);
      await c.call('domainCreateWithFlags', { dom: d, flags: 0 });
      assert.equal((await c.domainState(d)).state, 'running');
      await c.call('domainDestroyFlags', { dom: d, flags: 0 });
      assert.equal((await c.domainInfo(d)).state, 'shutoff');
      await c.call('domainUndefineFlags', { dom: d, flags: 0 });
      await assert.rejects(c.call('domainLookupByName', { name: 'vb-it' }).then((r) => r.dom), (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoDomain);
      const deadline = Date.now() + 3_000;
      while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(events.filter((e) => e.domain.name === 'vb-it').map((e) => e.event), ['defined', 'started', 'stopped', 'undefined']);
      assert.ok(events.every((e) => e.callbackId === id));
      await c.call('connectDomainEventCallbackDeregisterAny', { callbackID: id });
    } finally {
      await c.close();
    }
  });
});

describe('real libvirtd, qemu:///system', () => {
  test('open, node info, list domains', T, async (t) => {
    const c = await connectOrSkip(t, 'qemu:///system');
    if (!c) return;
    try {
      const node = await c.nodeInfo();
      assert.ok(node.cpus >= 1 && node.memoryKiB > 0);
      assert.ok((await c.call('connectGetHostname').then((r) => r.hostname)).length > 0);
      const doms = await c.listAllDomains();
      assert.ok(Array.isArray(doms));
      const mem = await c.nodeMemoryStats();
      assert.ok((mem.total ?? 0) > 0 && (await c.hostAvailableMemoryKiB()) > 0);
    } finally {
      await c.close();
    }
  });
});

describe('real libvirtd through other transports', () => {
  test('TCP (through a local TCP-to-UNIX relay)', T, async (t) => {
    const probe = await connectOrSkip(t, TEST_URI);
    if (!probe) return;
    await probe.close();
    const relay = net.createServer((inbound) => {
      const out = net.createConnection(SYSTEM_SOCKET);
      inbound.pipe(out).pipe(inbound);
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as net.AddressInfo).port;
    try {
      const c = await LibvirtClient.connect(`test+tcp://127.0.0.1:${port}/default`);
      assert.ok((await c.listAllDomains()).some((d) => d.name === 'test'));
      await c.close();
    } finally {
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  test('ssh: argv as libvirt builds it, speaking over the helper\'s stdio', T, async (t) => {
    const probe = await connectOrSkip(t, TEST_URI);
    if (!probe) return;
    await probe.close();
    // A stand-in for ssh: records its argv and connects stdio to the socket named in the remote command.
    const dir = mkdtempSync(join(tmpdir(), 'vb-ssh-'));
    const fake = join(dirname(fileURLToPath(import.meta.url)), 'fake-ssh.js');
    const bin = join(dir, 'ssh');
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${fake}" "$@"\n`);
    chmodSync(bin, 0o755);
    const argvFile = join(dir, 'argv.json');
    process.env.VB_FAKE_SSH_ARGV = argvFile;
    try {
      const c = await LibvirtClient.connect(`test+ssh://admin@example.invalid:2222/default?command=${bin}&socket=${SYSTEM_SOCKET}&no_tty=1`);
      assert.ok((await c.listAllDomains()).some((d) => d.name === 'test'));
      await c.close();
      const argv = JSON.parse(readFileSync(argvFile, 'utf8')) as string[];
      assert.deepEqual(argv, ['-p', '2222', '-l', 'admin', '-o', 'BatchMode=yes', '-T', '-e', 'none', '--', 'example.invalid', `nc -U ${SYSTEM_SOCKET}`]);
    } finally {
      delete process.env.VB_FAKE_SSH_ARGV;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
