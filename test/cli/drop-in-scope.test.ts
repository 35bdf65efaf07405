// The drop-ins manage every running domain unless told otherwise (the assignment's behaviour);
// unscoped, they say once which domains and how to limit them (issue #20, friction 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { announceEveryDomain, suggestedGlob } from '../../src/app/scope.js';
import { openTarget } from '../../src/app/target.js';
import { everyDomain } from '../../src/ground/domain-scope.js';
import { connectOrSkip } from '../libvirt/daemon.js';

const VCPU_SCHEDULER = fileURLToPath(new URL('../../src/cli/vcpu-scheduler-bin.js', import.meta.url));
const lockDir = mkdtempSync(join(tmpdir(), 'vb-dropin-scope-'));
test.after(() => rmSync(lockDir, { recursive: true, force: true }));

test('unscoped: one line, at the first observation, naming every domain and how to scope', async () => {
  const said: string[] = [];
  const target = announceEveryDomain(await openTarget({ sim: 'cpu-2-all-on-pcpu0' }), everyDomain, 'vcpu_scheduler', (m) => said.push(m));
  const first = await target.hypervisor.observe();
  await target.hypervisor.observe();
  assert.equal(said.length, 1, said.join('\n'));
  const names = first.domains.map((d) => d.name).sort();
  assert.ok(names.length > 1);
  for (const n of names) assert.ok(said[0]!.includes(n), `${n} named: ${said[0]}`);
  assert.match(said[0]!, /^vcpu_scheduler manages every running domain .*--only PATTERN.*--exclude PATTERN.*e\.g\. --only 'vm\*'$/);
  await target.hypervisor.close();
});

test('scoped: nothing said, the target is the scoped one', async () => {
  const said: string[] = [];
  const base = await openTarget({ sim: 'cpu-2-all-on-pcpu0' });
  const scope = { only: ['vm1'], exclude: [], unmanaged: [] };
  assert.equal(announceEveryDomain(base, scope, 'vcpu_scheduler', (m) => said.push(m)), base);
  await base.hypervisor.close();
});

test('the suggested glob is the largest family of names', () => {
  assert.equal(suggestedGlob(['aos_vm1', 'aos_vm2', 'web', 'db1']), 'aos_vm*');
  assert.equal(suggestedGlob(['web', 'db']), 'web');
  assert.equal(suggestedGlob(['a1', 'b1', 'b2']), 'b*');
});

/** Runs the drop-in until its first interval, then stops it; returns its stderr. */
function dropIn(args: string[]): Promise<{ stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [VCPU_SCHEDULER, ...args], { env: { ...process.env, VIRTBALANCE_LOCK_DIR: lockDir, VIRTBALANCE_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    const stop = setTimeout(() => child.kill('SIGTERM'), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (/--- interval 1\b/.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('close', (code) => {
      clearTimeout(stop);
      resolve({ stderr, code });
    });
  });
}

test('vcpu_scheduler on the daemon\'s test driver names its domain once; with --only it does not', { timeout: 40_000 }, async (t) => {
  const uri = 'test+unix:///default';
  const client = await connectOrSkip(t, uri);
  if (!client) return;
  await client.close();
  const unscoped = await dropIn(['1', '--connect', uri, '--dry-run']);
  const lines = unscoped.stderr.split('\n').filter((l) => /manages every running domain/.test(l));
  assert.equal(lines.length, 1, unscoped.stderr);
  assert.match(lines[0]!, /\btest\b.*--only/);
  const scoped = await dropIn(['1', '--connect', uri, '--dry-run', '--only', 'test']);
  assert.doesNotMatch(scoped.stderr, /manages every running domain/);
});
