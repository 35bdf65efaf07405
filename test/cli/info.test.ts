import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectInfo, formatInfo } from '../../src/cli/info.js';
import { formatCpuList } from '../../src/ground/cpu-list.js';
import { connectOrSkip } from '../libvirt/daemon.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/bin.js');

describe('virtbalance info', () => {
  test('cpu lists are compressed into ranges', () => {
    assert.equal(formatCpuList([0, 1, 2, 3, 6, 8, 9]), '0-3,6,8-9');
    assert.equal(formatCpuList([5]), '5');
    assert.equal(formatCpuList([]), '');
  });

  test('unreachable daemon: one line naming URI, socket and cause; exit 1', { timeout: 10_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, 'info', '--connect', 'qemu:///system?socket=/nonexistent/sock'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /qemu:\/\/\/system/);
    assert.match(lines[0]!, /\/nonexistent\/sock/);
    assert.match(lines[0]!, /no such socket/);
    assert.match(lines[0]!, /is libvirtd running\?/);
  });

  test('a malformed URI is a usage error (exit 2)', { timeout: 10_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, 'info', '-c', 'nonsense'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /invalid libvirt URI 'nonsense'/);
  });

  test('against the test driver: host, each vCPU with pCPU, affinity and time, balloon', { timeout: 10_000 }, async (t) => {
    const c = await connectOrSkip(t, 'test+unix:///default');
    if (!c) return;
    try {
      const r = await collectInfo(c);
      assert.ok(r.host.pcpus > 0 && r.host.memoryTotalKiB > 0);
      const d = r.domains.find((x) => x.name === 'test');
      assert.ok(d);
      assert.equal(d.state, 'running');
      assert.equal(d.vcpus.length, 2);
      assert.ok(d.vcpus.every((v) => v.pcpu >= 0 && v.affinity.length > 0 && v.timeNs > 0));
      assert.ok(d.balloon?.actualKiB);
      const text = formatInfo(r);
      assert.match(text, /domain test: running, 2 vCPUs; balloon actual \d+ MiB, unused \d+ MiB, available \d+ MiB/);
      assert.match(text, /vCPU 1: on pCPU \d+, affinity [\d,-]+, time [\d.]+ s/);
    } finally {
      await c.close();
    }
    const json = spawnSync(process.execPath, [BIN, 'info', '-c', 'test+unix:///default', '--json'], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { domains: { name: string }[] };
    assert.ok(parsed.domains.some((x) => x.name === 'test'));
  });
});
