import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { modinfoDepends, moduleName, orderModules, readModinfo, resolveModules, LAB_MODULES } from '../../src/lab/kernel-modules.js';

/** A minimal little-endian ELF64 relocatable with a .modinfo section (and the section-name table). */
function fakeModule(modinfo: string[]): Buffer {
  const info = Buffer.from(modinfo.map((s) => `${s}\0`).join(''), 'latin1');
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0', 'latin1');
  const infoOff = 64;
  const shstrOff = infoOff + info.length;
  const shoff = Math.ceil((shstrOff + shstr.length) / 8) * 8;
  const buf = Buffer.alloc(shoff + 3 * 64);
  buf.writeUInt32BE(0x7f454c46, 0);
  buf[4] = 2; // 64-bit
  buf[5] = 1; // little-endian
  buf[6] = 1;
  buf.writeUInt16LE(1, 0x10); // ET_REL
  buf.writeUInt16LE(62, 0x12); // x86-64
  buf.writeBigUInt64LE(BigInt(shoff), 0x28);
  buf.writeUInt16LE(64, 0x34);
  buf.writeUInt16LE(64, 0x3a);
  buf.writeUInt16LE(3, 0x3c);
  buf.writeUInt16LE(2, 0x3e);
  info.copy(buf, infoOff);
  shstr.copy(buf, shstrOff);
  const section = (i: number, name: number, offset: number, size: number) => {
    const o = shoff + i * 64;
    buf.writeUInt32LE(name, o);
    buf.writeUInt32LE(i === 2 ? 3 : 1, o + 4);
    buf.writeBigUInt64LE(BigInt(offset), o + 0x18);
    buf.writeBigUInt64LE(BigInt(size), o + 0x20);
  };
  section(1, 1, infoOff, info.length);
  section(2, 10, shstrOff, shstr.length);
  return buf;
}

test('readModinfo finds depends= in the .modinfo section, not elsewhere in the file', () => {
  const elf = fakeModule(['license=GPL', 'depends=virtio,virtio_ring', 'alias=virtio:d00000005v*', 'name=virtio_balloon']);
  const pairs = readModinfo(elf);
  assert.deepEqual(modinfoDepends(pairs), ['virtio', 'virtio_ring']);
  assert.equal(pairs.find(([k]) => k === 'name')?.[1], 'virtio_balloon');
  assert.deepEqual(modinfoDepends(readModinfo(fakeModule(['depends=', 'name=virtio_ring']))), []);
  assert.throws(() => readModinfo(Buffer.from('not an elf file at all, just text padding it out to 64 bytes......')), /not an ELF/);
});

test('module names treat - and _ alike and drop .ko and compression suffixes', () => {
  assert.equal(moduleName('/x/virtio-rng.ko.xz'), 'virtio_rng');
  assert.equal(moduleName('virtio_pci.ko'), 'virtio_pci');
  assert.equal(moduleName('virtio_pci.ko.zst'), 'virtio_pci');
});

// The dependencies Debian 12's cloud kernel declares (read from its .modinfo).
const debian12: Record<string, string[]> = {
  virtio_ring: [],
  virtio: ['virtio_ring'],
  virtio_pci_modern_dev: [],
  virtio_pci_legacy_dev: [],
  virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
  virtio_balloon: ['virtio', 'virtio_ring'],
  virtio_console: ['virtio', 'virtio_ring'],
  virtio_blk: ['virtio', 'virtio_ring'],
  virtio_mem: ['virtio', 'virtio_ring'],
};

function assertDependenciesFirst(order: string[], deps: Record<string, string[]>): void {
  for (const [i, m] of order.entries()) {
    for (const d of deps[m] ?? []) assert.ok(order.indexOf(d) >= 0 && order.indexOf(d) < i, `${d} must load before ${m}: ${order.join(' ')}`);
  }
  assert.equal(new Set(order).size, order.length, 'no module twice');
}

test('ordering puts every module after its dependencies, even when asked in reverse', () => {
  const order = orderModules(['virtio_console', 'virtio_balloon', 'virtio_pci'], (n) => debian12[n]);
  assertDependenciesFirst(order, debian12);
  assert.deepEqual(new Set(order), new Set(Object.keys(debian12).filter((m) => m !== 'virtio_blk' && m !== 'virtio_mem')), 'pulls in transitive dependencies');
  assert.deepEqual(orderModules(LAB_MODULES, (n) => debian12[n]), [...LAB_MODULES], 'an already good order is kept');
  assert.equal(LAB_MODULES.at(-1), 'virtio_mem', 'virtio_mem loads after the virtio modules');
});

test('ordering property: any dependency DAG and any request order give a valid, complete order', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(
      fc.constant(n),
      // module i may depend only on modules < i: always acyclic
      fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
      fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: 1 }),
    )),
    ([n, matrix, wanted]) => {
      const deps: Record<string, string[]> = {};
      for (let i = 0; i < n; i++) deps[`m${i}`] = Array.from({ length: i }, (_, j) => j).filter((j) => matrix[i]![j]).map((j) => `m${j}`);
      const order = orderModules(wanted.map((i) => `m${i}`), (m) => deps[m]);
      assertDependenciesFirst(order, deps);
      for (const w of wanted) assert.ok(order.includes(`m${w}`));
    },
  ));
});

test('ordering names a missing module and who needed it, and refuses cycles', () => {
  assert.throws(() => orderModules(['virtio_balloon'], (n) => (n === 'virtio_balloon' ? ['virtio'] : undefined)),
    /kernel module virtio not found .*needed by virtio_balloon/);
  assert.throws(() => orderModules(['a'], (n) => ({ a: ['b'], b: ['a'] })[n]), /cycle: a -> b -> a/);
});

test('modules built into the kernel are left out of the load order', () => {
  const order = orderModules(LAB_MODULES, (n) => debian12[n], new Set(['virtio', 'virtio_ring']));
  assert.ok(!order.includes('virtio') && !order.includes('virtio_ring'));
  assertDependenciesFirst(order.filter(Boolean), Object.fromEntries(Object.entries(debian12).map(([k, v]) => [k, v.filter((d) => d !== 'virtio' && d !== 'virtio_ring')])));
});

test('resolveModules reads a modules tree (plain and gzip-compressed .ko, built-ins) and orders it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-mods-'));
  try {
    const write = async (rel: string, deps: string[], gz = false) => {
      const file = path.join(dir, 'kernel', rel);
      await mkdir(path.dirname(file), { recursive: true });
      const elf = fakeModule([`depends=${deps.join(',')}`]);
      await writeFile(file, gz ? gzipSync(elf) : elf);
    };
    // virtio_ring built in; virtio_console gzip-compressed
    await writeFile(path.join(dir, 'modules.builtin'), 'kernel/drivers/virtio/virtio_ring.ko\n');
    await write('drivers/virtio/virtio.ko', ['virtio_ring']);
    await write('drivers/virtio/virtio_pci_modern_dev.ko', []);
    await write('drivers/virtio/virtio_pci_legacy_dev.ko', []);
    await write('drivers/virtio/virtio_pci.ko', ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio']);
    await write('drivers/virtio/virtio_balloon.ko', ['virtio', 'virtio_ring']);
    await write('drivers/char/virtio_console.ko.gz', ['virtio', 'virtio_ring'], true);
    const mods = await resolveModules(dir, ['virtio_console', 'virtio_balloon', 'virtio_pci']);
    const order = mods.map((m) => m.name);
    assert.ok(!order.includes('virtio_ring'));
    assertDependenciesFirst(order, Object.fromEntries(mods.map((m) => [m.name, m.depends.filter((d) => d !== 'virtio_ring')])));
    const consoleMod = mods.find((m) => m.name === 'virtio_console')!;
    assert.equal(consoleMod.contents.readUInt32BE(0), 0x7f454c46, 'compressed module is stored decompressed');
    await assert.rejects(resolveModules(dir, ['virtio_scsi']), /virtio_scsi not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
