// `lab up --virtio-mem` and the virtio-mem columns of `lab status`, without a daemon: bad sizes are
// refused before anything is defined; the status cells say boot, plugged out of size, requested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { memoryDeviceCells } from '../../src/cli/lab.js';
import { guestRequests, LabError, type LabGuestStatus } from '../../src/lab/lab.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VIRTBALANCE_DEBUG: '' } });

test('lab up --virtio-mem: the device is --max-memory less --memory, refused (exit 2, one line) when not a positive multiple of 2 MiB', () => {
  for (const [memory, max] of [['512', '512'], ['512', '1025'], ['1024', '512']]) {
    // A URI nothing answers on: the check must come before any connection.
    const r = run('lab', 'up', '1', '--virtio-mem', '--memory', memory!, '--max-memory', max!, '--connect', 'qemu+unix:///system?socket=/nonexistent/sock');
    assert.equal(r.status, 2, `${memory}/${max}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--max-memory|virtio-mem/);
  }
  assert.match(run('lab', '--help').stdout, /--virtio-mem/);
});

test('lab up --virtio-mem guests boot at --memory with a device for the rest; without it, at --max-memory as before', () => {
  const common = { count: 2, vcpus: 1, memoryMiB: 512, maxMemoryMiB: 2048, prefix: 'g' };
  assert.deepEqual(guestRequests({ ...common, virtioMem: true }).map((r) => [r.name, r.memoryMiB, r.maxMemoryMiB, r.virtioMem]), [
    ['g1', 512, 512, { sizeMiB: 1536 }], ['g2', 512, 512, { sizeMiB: 1536 }],
  ]);
  assert.deepEqual(guestRequests(common).map((r) => [r.memoryMiB, r.maxMemoryMiB, r.virtioMem]), [[512, 2048, undefined], [512, 2048, undefined]]);
  assert.throws(() => guestRequests({ ...common, maxMemoryMiB: 512, virtioMem: true }), LabError);
});

test('lab status cells: boot, plugged/size, requested for a virtio-mem guest; dashes for the others and while shut off', () => {
  const row = (memoryDevice?: LabGuestStatus['memoryDevice']): LabGuestStatus => ({
    name: 'g1', uuid: 'u', state: 'running', vcpus: 1, vcpuSeconds: 0, oomKills: [], consoleLog: '/c', ...(memoryDevice ? { memoryDevice } : {}),
  });
  assert.deepEqual(memoryDeviceCells(row({ bootMiB: 512, sizeMiB: 1536, requestedMiB: 1024, pluggedMiB: 768 })), ['512', '768/1536', '1024']);
  assert.deepEqual(memoryDeviceCells(row({ bootMiB: 512, sizeMiB: 1536, requestedMiB: 0 })), ['512', '-/1536', '0']);
  assert.deepEqual(memoryDeviceCells(row()), ['-', '-', '-']);
});
