// A real daemon (libvirtd's test driver) served through the filter: the named domain is forwarded, the
// daemon's other domain ('test') is neither visible nor changeable, through our client and through virsh.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LibvirtClient, paramNumber } from '../../src/libvirt/client.js';
import { LibvirtError, LibvirtErrorCode } from '../../src/libvirt/errors.js';
import { DomainAffect, DomainStatsGroup } from '../../src/libvirt/protocol.js';
import { startUpstreamServer } from '../../src/serve/upstream-server.js';
import type { Action } from '../../src/ground/actions.js';
import { connectOrSkip } from '../libvirt/daemon.js';
import { need, run } from './tools.js';

const TEST_URI = 'test+unix:///default';
const OURS = 'vb-upstream-it';
const noDomain = (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoDomain;

test('filtered upstream: only the named domain is seen and changed; the foreign one is invisible and untouched', { timeout: 60_000 }, async (t) => {
  // One direct connection holds the test driver's state for the whole test (and defines our domain).
  const direct = await connectOrSkip(t, TEST_URI);
  if (!direct) return;
  const dir = mkdtempSync(join(tmpdir(), 'vb-upstream-'));
  const xml = `<domain type='test'><name>${OURS}</name><memory unit='KiB'>524288</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`;
  const ours = await direct.call('domainDefineXmlFlags', { xml, flags: 0 }).then((r) => r.dom);
  let served: Awaited<ReturnType<typeof startUpstreamServer>> | undefined;
  let c: LibvirtClient | undefined;
  try {
    await direct.call('domainCreateWithFlags', { dom: ours, flags: 0 });
    const foreign = (await direct.listAllDomains()).find((d) => d.name === 'test')!;
    assert.ok(foreign, 'the test driver runs a domain named test');
    const foreignPinsBefore = await direct.getVcpuPinInfo(foreign);
    const foreignInfoBefore = await direct.domainInfo(foreign);

    const actions: Action[] = [];
    served = await startUpstreamServer({ upstream: TEST_URI, only: [OURS], socket: join(dir, 'sock'), onAction: (a) => actions.push(a) });
    const uri = `qemu+unix:///system?socket=${join(dir, 'sock')}`;
    c = await LibvirtClient.connect(uri, { timeoutMs: 5_000 });

    assert.deepEqual((await c.listAllDomains()).map((d) => d.name), [OURS]);
    const stats = await c.getAllDomainStats(DomainStatsGroup.State | DomainStatsGroup.Vcpu);
    assert.deepEqual(stats.map((s) => s.domain.name), [OURS]);
    assert.equal(paramNumber(stats[0]!.params, 'state.state'), 1, 'running, as the daemon says');
    assert.equal((await c.nodeInfo()).cpus, (await direct.nodeInfo()).cpus, 'node figures pass through');

    // Ours: read and changed, and the change is on the daemon.
    await c.pinVcpu(ours, 1, [2], { flags: DomainAffect.Current });
    assert.deepEqual((await direct.getVcpuPinInfo(ours))[1], [2]);
    await c.call('domainSetMemoryFlags', { dom: ours, memory: 262144, flags: DomainAffect.Current });
    assert.equal((await direct.domainInfo(ours)).memoryKiB, 262144);
    assert.deepEqual(actions.map((a) => a.kind === 'pin' ? [a.kind, a.vcpu, a.pcpus, a.previous.length > 0] : a.kind === 'set-memory' ? [a.kind, a.fromKiB, a.targetKiB] : [a.kind]),
      [['pin', 1, [2], true], ['set-memory', 524288, 262144]], 'accepted changes are recorded for the trace');

    // The foreign one: not found by name, UUID or id, nor by its true handle, nor under our name with its UUID.
    await assert.rejects(c.call('domainLookupByName', { name: 'test' }), noDomain);
    await assert.rejects(c.call('domainLookupByUuid', { uuid: foreign.uuid }), noDomain);
    await assert.rejects(c.call('domainLookupById', { id: foreign.id }), noDomain);
    await assert.rejects(c.domainInfo(foreign), noDomain);
    await assert.rejects(c.pinVcpu(foreign, 0, [3], { flags: DomainAffect.Current }), noDomain);
    await assert.rejects(c.pinVcpu({ name: OURS, uuid: foreign.uuid }, 0, [3], { flags: DomainAffect.Current }), noDomain);
    await assert.rejects(c.call('domainSetMemoryFlags', { dom: foreign, memory: 131072, flags: DomainAffect.Current }), noDomain);
    await assert.rejects(c.getAllDomainStats(DomainStatsGroup.Vcpu, 0, [foreign]), noDomain);
    // Nor can anything be destroyed or defined through it.
    await assert.rejects(c.call('domainDestroyFlags', { dom: ours, flags: 0 }), (e: unknown) => e instanceof LibvirtError && e.code === LibvirtErrorCode.NoSupport);
    assert.deepEqual(await direct.getVcpuPinInfo(foreign), foreignPinsBefore, 'the foreign domain\'s pins are untouched');
    assert.equal(actions.length, 2, 'refused calls are not recorded');
    assert.equal((await direct.domainInfo(foreign)).memoryKiB, foreignInfoBefore.memoryKiB, 'and its memory');

    if (need(t, 'virsh')) {
      const list = (await run('virsh', ['-c', uri, 'list', '--all', '--name'])).stdout.trim().split('\n').filter(Boolean);
      assert.deepEqual(list, [OURS]);
      await assert.rejects(run('virsh', ['-c', uri, 'setmem', 'test', '131072']), (e: { stderr: string }) => /Domain not found|failed to get domain/.test(e.stderr));
      assert.equal((await direct.domainInfo(foreign)).memoryKiB, foreignInfoBefore.memoryKiB);
    }
  } finally {
    await c?.close();
    await served?.close();
    await direct.call('domainDestroyFlags', { dom: ours, flags: 0 }).catch(() => undefined);
    await direct.call('domainUndefineFlags', { dom: ours, flags: 0 }).catch(() => undefined);
    await direct.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
