// Kernel modules for the lab's initramfs: find them in an unpacked kernel package, read each one's
// `depends=` from its .modinfo ELF section, and order them so every module loads after what it
// depends on. Read from the files rather than hard-coded because dependencies change between builds.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const run = promisify(execFile);

/**
 * The modules a lab guest needs: PCI transport, balloon, the console driver for the workload
 * channel, the disk, and virtio-mem last (after the virtio modules; a guest without such a device
 * loads it and it stays idle).
 */
export const LAB_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'virtio_balloon',
  'virtio_console',
  'virtio_blk',
  'virtio_mem',
] as const;

/** Kernel module names treat `-` and `_` alike (virtio-rng.ko is module virtio_rng). */
export function moduleName(fileOrName: string): string {
  return path.basename(fileOrName).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Returns the key=value pairs of a module's .modinfo section (keys may repeat, e.g. alias). */
export function readModinfo(elf: Buffer): Array<[string, string]> {
  const section = findElfSection(elf, '.modinfo');
  if (!section) throw new Error('no .modinfo section (not a kernel module?)');
  const pairs: Array<[string, string]> = [];
  for (const entry of section.toString('latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) pairs.push([entry.slice(0, eq), entry.slice(eq + 1)]);
  }
  return pairs;
}

/** The modules this one depends on, from its `depends=` entry (empty when it has none). */
export function modinfoDepends(pairs: Array<[string, string]>): string[] {
  const value = pairs.find(([k]) => k === 'depends')?.[1] ?? '';
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(moduleName);
}

function findElfSection(elf: Buffer, wanted: string): Buffer | undefined {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2) throw new Error('not a 64-bit ELF file');
  const le = elf[5] === 1;
  const u16 = (o: number) => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number) => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? elf.readBigUInt64LE(o) : elf.readBigUInt64BE(o));
  const shoff = u64(0x28);
  const shentsize = u16(0x3a);
  const shnum = u16(0x3c);
  const shstrndx = u16(0x3e);
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: u32(o), offset: u64(o + 0x18), size: u64(o + 0x20) };
  };
  if (shoff + shnum * shentsize > elf.length || shstrndx >= shnum) throw new Error('truncated ELF section table');
  const names = header(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = names.offset + h.name;
    const end = elf.indexOf(0, start);
    if (elf.toString('latin1', start, end) === wanted) return elf.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

/** Reads a module file, decompressing .ko.xz / .ko.zst / .ko.gz (the kernel's insmod wants plain ELF here). */
export async function readModuleFile(file: string): Promise<Buffer> {
  if (file.endsWith('.ko')) return fs.readFile(file);
  if (file.endsWith('.ko.gz')) return gunzipSync(await fs.readFile(file));
  const tool = file.endsWith('.ko.xz') ? 'xz' : file.endsWith('.ko.zst') ? 'zstd' : undefined;
  if (!tool) throw new Error(`unknown module file type: ${file}`);
  try {
    const { stdout } = await run(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') throw new Error(`${path.basename(file)} is ${tool}-compressed and '${tool}' is not installed (apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'})`);
    throw err;
  }
}

/** Maps module name → file for every module under a kernel's lib/modules/<release>/ directory. */
export async function indexModules(modulesDir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(entry.name)) index.set(moduleName(entry.name), full);
    }
  };
  await walk(modulesDir);
  return index;
}

/**
 * Orders the wanted modules plus everything they depend on (transitively) so each comes after its
 * dependencies. Ties keep the order of `wanted`, so the result is stable. Modules built into the
 * kernel need no loading and are left out.
 * Throws on a module that `dependsOf` cannot find or on a dependency cycle.
 */
export function orderModules(
  wanted: readonly string[],
  dependsOf: (name: string) => string[] | undefined,
  builtin: ReadonlySet<string> = new Set(),
): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    if (builtin.has(name)) return;
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const deps = dependsOf(name);
    if (deps === undefined) {
      const by = chain.length > 0 ? ` (needed by ${chain[chain.length - 1]})` : '';
      throw new Error(`kernel module ${name} not found in the kernel package${by}`);
    }
    state.set(name, 'visiting');
    for (const dep of deps) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of wanted) visit(moduleName(name), []);
  return order;
}

export interface ResolvedModule {
  name: string;
  file: string;
  depends: string[];
  /** Decompressed ELF, ready for the initramfs. */
  contents: Buffer;
}

/** Names of the modules a kernel has built in, from lib/modules/<release>/modules.builtin (empty if absent). */
export async function readBuiltinModules(modulesDir: string): Promise<Set<string>> {
  try {
    const text = await fs.readFile(path.join(modulesDir, 'modules.builtin'), 'utf8');
    return new Set(text.split('\n').filter((l) => l.trim()).map(moduleName));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return new Set();
    throw err;
  }
}

/** Finds, reads and orders the wanted modules from an unpacked lib/modules/<release>/ directory. */
export async function resolveModules(modulesDir: string, wanted: readonly string[] = LAB_MODULES): Promise<ResolvedModule[]> {
  const index = await indexModules(modulesDir);
  const builtin = await readBuiltinModules(modulesDir);
  const loaded = new Map<string, ResolvedModule>();
  // Read the closure first (orderModules needs dependencies synchronously).
  const pending = wanted.map(moduleName);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (loaded.has(name) || builtin.has(name)) continue;
    const file = index.get(name);
    if (!file) continue; // orderModules reports it with the module that needed it
    const contents = await readModuleFile(file);
    const depends = modinfoDepends(readModinfo(contents));
    loaded.set(name, { name, file, depends, contents });
    pending.push(...depends);
  }
  return orderModules(wanted, (n) => loaded.get(n)?.depends, builtin).map((n) => loaded.get(n)!);
}
