// guest/workload.c's request handling, on the host: the program has a test mode (`--test NCPUS
// [--cmdline TEXT] [REQUEST...]`: no threads, no channel, no disk) that applies a kernel command
// line and answers requests as the guest would. Built here with the host's gcc (not static, so no
// static libc is needed); skipped with the reason when there is no compiler (a failure under CI=true).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseStatus } from '../../src/lab/workload-channel.js';

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('../../../guest/workload.c', import.meta.url));

async function build(): Promise<{ binary?: string; skip?: string; remove: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vb-workload-c-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const binary = path.join(dir, 'vb-workload');
  try {
    await run(process.env.CC ?? 'gcc', ['-O2', '-pthread', '-Wall', '-Werror', '-o', binary, SOURCE]);
    return { binary, remove };
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      if (process.env.CI === 'true') {
        remove();
        throw new Error('no gcc on this machine (CI=true: scripts/libvirt-test-host.sh installs it)');
      }
      return { skip: 'no gcc on this machine', remove };
    }
    remove();
    throw new Error(`guest/workload.c does not compile cleanly: ${e.stderr ?? err}`);
  }
}

async function replies(binary: string, ncpus: number, requests: string[], cmdline?: string): Promise<string[]> {
  const { stdout } = await run(binary, ['--test', String(ncpus), ...(cmdline === undefined ? [] : ['--cmdline', cmdline]), ...requests]);
  return stdout.trimEnd().split('\n');
}

test('vb-workload: cpu takes duty@period per vCPU, the old forms as before, errors as err lines', async (t) => {
  const b = await build();
  try {
    if (!b.binary) return t.skip(b.skip);
    assert.deepEqual(await replies(b.binary, 2, ['#1 cpu 0.4@50,1', 'cpu 0.8', 'cpu 1,0.2', 'cpu 0.3@12.5', 'cpu 0.3@100,0.2@60000']), [
      '#1 ok cpu=0.40@50,1.00',
      'ok cpu=0.80,0.80',
      'ok cpu=1.00,0.20',
      'ok cpu=0.30@12.5,0.30@12.5',
      'ok cpu=0.30,0.20@60000',
    ]);
    assert.deepEqual(await replies(b.binary, 2, ['cpu 0.4@5', 'cpu 0.4@60001', 'cpu 0.4@', 'cpu 0.4@abc', 'cpu 1.2', 'cpu x', 'cpu 0.4;1']), [
      "err period must be a number of ms from 10 to 60000, got '0.4@5'",
      "err period must be a number of ms from 10 to 60000, got '0.4@60001'",
      "err period must be a number of ms from 10 to 60000, got '0.4@'",
      "err period must be a number of ms from 10 to 60000, got '0.4@abc'",
      "err duty must be a number from 0 to 1, got '1.2'",
      "err duty must be a number from 0 to 1, got 'x'",
      "err bad duty list '0.4;1'",
    ]);
    // A refused request leaves the duties as they were.
    const after = await replies(b.binary, 2, ['cpu 0.5@20', 'cpu 0.4@5', 'status']);
    const s = parseStatus(after[2]!.replace(/^ok /, ''));
    assert.deepEqual([s.cpu, s.cpuPeriodMs], [[0.5, 0.5], [20, 20]]);
  } finally {
    b.remove();
  }
});

test('vb-workload: vb.cpu= on the kernel command line takes the same duty@period list; the status reads back', async (t) => {
  const b = await build();
  try {
    if (!b.binary) return t.skip(b.skip);
    const [line] = await replies(b.binary, 3, ['status'], 'console=ttyS0 vb.cpu=1,0.4@20 quiet');
    const s = parseStatus(line!.replace(/^ok /, ''));
    assert.equal(s.vcpus, 3);
    assert.deepEqual(s.cpu, [1, 0.4, 0.4]);
    assert.deepEqual(s.cpuPeriodMs, [100, 20, 20]);
    const [old] = await replies(b.binary, 1, ['status'], 'vb.cpu=0.8');
    assert.deepEqual(parseStatus(old!.replace(/^ok /, '')).cpuPeriodMs, [100]);
  } finally {
    b.remove();
  }
});
