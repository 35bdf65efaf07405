import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { consoleTail, findOomKills } from '../../src/lab/console-log.js';
import { initramfsLayout, isStaticElf } from '../../src/lab/initramfs.js';
import { imageKey } from '../../src/lab/image.js';
import { parseKernelDependency, parseVersion } from '../../src/lab/kernel-package.js';

test('OOM kills are read from the console, each with pid and process', () => {
  const log = [
    'vb-init: modules loaded, starting vb-workload',
    '[   70.101] vb-workload invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0',
    '[   72.151829] Out of memory: Killed process 105 (vb-workload) total-vm:401568kB, anon-rss:369008kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:772kB oom_score_adj:0',
    'vb-init: vb-workload exited with status 137, restarting',
    '[  130.5] Out of memory: Killed process 131 (sh) total-vm:1000kB',
  ].join('\r\n');
  const kills = findOomKills(log);
  assert.deepEqual(kills.map((k) => [k.pid, k.process]), [[105, 'vb-workload'], [131, 'sh']]);
  assert.deepEqual(findOomKills('vb-workload: ready on /dev/vport0p1\nmem release\n'), []);
});

test('console tail drops control characters and blank lines', () => {
  assert.deepEqual(consoleTail('a\r\n\x1b[0mb\n\n\nc\n', 2), ['[0mb', 'c']);
});

test('the kernel package and its version come from the metapackage', () => {
  const show = 'Package: linux-image-cloud-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\nDescription: x\n';
  assert.deepEqual(parseKernelDependency(show), { name: 'linux-image-6.1.0-56-cloud-amd64', version: '6.1.192-2' });
  assert.deepEqual(parseKernelDependency('Depends: linux-image-6.12.9-cloud-amd64-unsigned | linux-image-6.12.9-cloud-amd64\n'), { name: 'linux-image-6.12.9-cloud-amd64-unsigned' });
  assert.equal(parseKernelDependency('Package: x\nDepends: libc6\n'), undefined);
  assert.equal(parseVersion('Package: y\nVersion: 6.1.176-1\n\nVersion: 6.1.0-1\n'), '6.1.176-1');
});

test('the image key changes with the kernel version and with every initramfs input', () => {
  const pkg = { name: 'linux-image-6.1.0-56-cloud-amd64', version: '6.1.192-2' };
  const inputs = [Buffer.from('init'), Buffer.from('workload.c'), Buffer.from('busybox')];
  const key = imageKey(pkg, inputs);
  assert.match(key, /^6\.1\.0-56-cloud-amd64-[0-9a-f]{12}$/);
  assert.equal(imageKey(pkg, inputs), key);
  assert.notEqual(imageKey({ ...pkg, version: '6.1.192-3' }, inputs), key);
  assert.notEqual(imageKey(pkg, [inputs[0]!, Buffer.from('workload.c changed'), inputs[2]!]), key);
});

test('the initramfs holds /init, busybox, vb-workload, the modules and their load order', () => {
  const mod = (name: string) => ({ name, file: `${name}.ko`, depends: [], contents: Buffer.from(name) });
  const files = initramfsLayout({ init: Buffer.from('#!/bin/busybox sh'), busybox: Buffer.from('bb'), workload: Buffer.from('wl'), modules: [mod('virtio_ring'), mod('virtio')] });
  const byPath = new Map(files.map((f) => [f.path, f]));
  assert.equal(byPath.get('init')?.mode, 0o755);
  assert.ok(byPath.has('bin/busybox') && byPath.has('bin/vb-workload'));
  assert.equal(byPath.get('lib/modules/virtio.ko')?.contents.toString(), 'virtio');
  assert.equal(byPath.get('lib/modules/order')?.contents.toString(), 'virtio_ring\nvirtio\n');
});

test('static ELF detection: this node binary needs its libc, a static busybox does not', async () => {
  assert.equal(isStaticElf(await readFile(process.execPath)), false);
  assert.equal(isStaticElf(Buffer.from('#!/bin/sh\n')), false);
  let busybox: Buffer | undefined;
  try {
    busybox = await readFile('/bin/busybox');
  } catch {
    // busybox-static not installed here; the lab end-to-end test covers it
  }
  if (busybox) assert.equal(isStaticElf(busybox), true);
});
