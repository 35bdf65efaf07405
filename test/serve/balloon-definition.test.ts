// Free page reporting is part of a domain's definition (<memballoon ... freePageReporting='on'>): LibvirtHost
// reads it once per domain and passes it on in the balloon observation; the simulated server serves it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { balloonReportsFreePages, LibvirtHost } from '../../src/host/libvirt-host.js';
import { parseScenario } from '../../src/host/sim/index.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { startSimServer } from '../../src/serve/sim-server.js';

test('balloonReportsFreePages reads the attribute on the balloon device only', () => {
  assert.equal(balloonReportsFreePages("<devices><memballoon model='virtio' freePageReporting='on'><stats period='1'/></memballoon></devices>"), true);
  assert.equal(balloonReportsFreePages('<devices><memballoon model="virtio" autodeflate="off" freePageReporting="on"/></devices>'), true);
  assert.equal(balloonReportsFreePages("<devices><memballoon model='virtio' freePageReporting='off'/></devices>"), false);
  assert.equal(balloonReportsFreePages("<devices><memballoon model='virtio'/></devices>"), false);
  assert.equal(balloonReportsFreePages("<devices><memballoon model='none'/><disk freePageReporting='on'/></devices>"), false);
  assert.equal(balloonReportsFreePages(''), false);
});

test('over libvirt\'s protocol: the served definition says which balloon reports free pages, and the observation carries it', { timeout: 30_000 }, async () => {
  const scenario = parseScenario(`
name: fpr-definition
interval: 1
intervals: 10
host: { pcpus: 2, memoryMiB: 8192 }
domains:
  - { name: vm1, memoryMiB: 1024, maxMemoryMiB: 2048, freePageReporting: true }
  - { name: vm2, memoryMiB: 1024, maxMemoryMiB: 2048 }
  - { name: vm3, memoryMiB: 512, balloon: false }
`, 'fpr-definition');
  const dir = mkdtempSync(join(tmpdir(), 'vb-fpr-'));
  const served = await startSimServer({ scenario, socket: join(dir, 'sock'), paused: true });
  const client = await LibvirtClient.connect(`qemu+unix:///system?socket=${join(dir, 'sock')}`, { timeoutMs: 3_000 });
  try {
    const [vm1] = (await client.listAllDomains()).filter((d) => d.name === 'vm1');
    const xml = (await client.call('domainGetXmlDesc', { dom: vm1!, flags: 0 })).xml;
    assert.match(xml, /<memballoon model='virtio' freePageReporting='on'\/>/);
    assert.match(xml, /<memory unit='KiB'>2097152<\/memory>/);
    const obs = await LibvirtHost.fromClient(client).observe();
    const balloon = (name: string) => obs.domains.find((d) => d.name === name)!.balloon;
    assert.equal(balloon('vm1')?.freePageReporting, true);
    assert.equal(balloon('vm2')?.freePageReporting, undefined);
    assert.equal(balloon('vm3'), undefined);
  } finally {
    await client.close();
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
