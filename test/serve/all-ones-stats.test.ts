// A guest whose balloon driver reports every statistic as all ones (some virtio-win versions), served over
// libvirt's protocol as libvirt could send it: 2^64 − 1, or (2^64 − 1) >> 10 once divided into KiB. Our
// client must read "not reported", and the memory coordinator must leave such a guest at its size.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { LibvirtHost } from '../../src/host/libvirt-host.js';
import { parseScenario } from '../../src/host/sim/index.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ALL_ONES, ALL_ONES_KIB } from '../../src/libvirt/values.js';
import { DomainStatsGroup } from '../../src/libvirt/protocol.js';
import { runControlLoop } from '../../src/control/loop.js';
import { defaultMemoryOptions } from '../../src/memory/options.js';
import { startSimServer } from '../../src/serve/sim-server.js';

const SWITCH_S = 8;

function scenario(form: 'bytes' | 'kib') {
  // Two guests idle at their 2048 MiB maximum using 600 MiB. vm1's driver reports real figures for
  // SWITCH_S seconds (the coordinator starts taking its idle memory), then all ones: read as figures,
  // unused ≈ 2^64 KiB would say it uses nothing. Its first readings being real, the frozen-boot-report
  // rule (unused > actual on a first reading) does not cover it.
  return parseScenario(`
name: all-ones-${form}
interval: 1
intervals: 40
host: { pcpus: 2, memoryMiB: 8192, reserveMiB: 1024 }
domains:
  - { name: vm1, memoryMiB: 2048, maxMemoryMiB: 2048, statsPeriod: 1, allOnesStats: ${form}, allOnesStatsAt: ${SWITCH_S}, workload: { usedMiB: 600 } }
  - { name: vm2, memoryMiB: 2048, maxMemoryMiB: 2048, statsPeriod: 1, workload: { usedMiB: 600 } }
`, `all-ones-${form}`);
}

for (const form of ['bytes', 'kib'] as const) {
  test(`all-ones statistics (${form}) read as not reported; the coordinator never shrinks that guest`, { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-allones-'));
    const served = await startSimServer({ scenario: scenario(form), socket: join(dir, 'sock'), paused: true });
    const uri = `qemu+unix:///system?socket=${join(dir, 'sock')}`;
    const client = await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
    const host = LibvirtHost.fromClient(client);
    try {
      const records: TraceInterval[] = [];
      const clock = { nowMs: () => served.run.hypervisor.timeNs / 1e6, sleep: async (ms: number) => served.run.hypervisor.advance(ms) };
      const run = (intervals: number) => runControlLoop(host, clock, { intervalSeconds: 1, intervals, memory: defaultMemoryOptions }, { record: (e) => void records.push(e) });
      await run(SWITCH_S + 2);
      const early = records.flatMap((r) => r.actions).filter((a) => a.kind === 'set-memory' && a.domain.name === 'vm1');
      assert.ok(early.length > 0, 'vm1 is reclaimed while it reports real figures (the coordinator does act on it)');

      // On the wire: the sentinel itself, exactly.
      const rec = (await client.getAllDomainStats(DomainStatsGroup.Balloon)).find((r) => r.domain.name === 'vm1')!;
      assert.equal(rec.params.get('balloon.unused'), form === 'kib' ? ALL_ONES_KIB : ALL_ONES);
      assert.equal(rec.params.get('balloon.usable'), form === 'kib' ? ALL_ONES_KIB : ALL_ONES);
      // Read by the host layer: no figures, while the host's own fields are there.
      const obs = await host.observe();
      const vm1 = obs.domains.find((d) => d.name === 'vm1')!.balloon!;
      assert.equal(vm1.unusedKiB, undefined);
      assert.equal(vm1.usableKiB, undefined);
      assert.equal(vm1.availableKiB, undefined);
      assert.equal(vm1.diskCachesKiB, undefined);
      assert.ok(vm1.currentKiB > 600 * 1024 && vm1.lastUpdate !== undefined);
      const vm2 = obs.domains.find((d) => d.name === 'vm2')!.balloon!;
      assert.ok(vm2.unusedKiB !== undefined && vm2.unusedKiB < vm2.currentKiB, 'the reporting guest still reads its figures');

      const before = served.run.hypervisor.truth().domains.find((d) => d.name === 'vm1')!;
      records.length = 0;
      await run(30);
      const late = records.flatMap((r) => r.actions).filter((a) => a.kind === 'set-memory' && a.domain.name === 'vm1');
      assert.deepEqual(late, [], 'no balloon change on a guest that reports nothing');
      const truth = served.run.hypervisor.truth();
      const after = truth.domains.find((d) => d.name === 'vm1')!;
      assert.ok(after.minActualMiB >= 600 + 200, `vm1 went down to ${after.minActualMiB} MiB (uses 600, floor 200)`);
      assert.equal(Math.round(after.actualMiB), Math.round(before.targetMiB), 'it stays where the last real reading put it');
      assert.deepEqual(truth.oomEvents, []);
    } finally {
      await client.close();
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
