// The lab guest's initramfs: busybox-static, the ordered virtio modules, /init and vb-workload,
// packed with `cpio -H newc` (uncompressed: it is small, and decompressing under software
// emulation would only slow the boot).
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { ResolvedModule } from './kernel-modules.js';

const run = promisify(execFile);

export interface InitramfsFile {
  /** Path inside the archive, without a leading slash. */
  path: string;
  contents: Buffer;
  mode: number;
}

/** Everything that goes into the archive, in archive order; pure so the layout can be tested. */
export function initramfsLayout(parts: { init: Buffer; busybox: Buffer; workload: Buffer; modules: readonly ResolvedModule[] }): InitramfsFile[] {
  const order = parts.modules.map((m) => m.name).join('\n') + '\n';
  return [
    { path: 'init', contents: parts.init, mode: 0o755 },
    { path: 'bin/busybox', contents: parts.busybox, mode: 0o755 },
    { path: 'bin/vb-workload', contents: parts.workload, mode: 0o755 },
    ...parts.modules.map((m) => ({ path: `lib/modules/${m.name}.ko`, contents: m.contents, mode: 0o644 })),
    { path: 'lib/modules/order', contents: Buffer.from(order), mode: 0o644 },
  ];
}

/** True when an ELF executable has no program interpreter (PT_INTERP), i.e. runs without a libc on disk. */
export function isStaticElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 4 > elf.length) return false;
    if (elf.readUInt32LE(o) === 3) return false;
  }
  return true;
}

/** Finds a static busybox (Debian's busybox-static installs it as /bin/busybox). */
export async function findStaticBusybox(candidates = ['/bin/busybox', '/usr/bin/busybox', '/usr/lib/initramfs-tools/bin/busybox']): Promise<Buffer> {
  let dynamic: string | undefined;
  for (const file of candidates) {
    let contents: Buffer;
    try {
      contents = await fs.readFile(file);
    } catch {
      continue;
    }
    if (isStaticElf(contents)) return contents;
    dynamic = file;
  }
  throw new Error(dynamic
    ? `${dynamic} is dynamically linked; the guest needs a static busybox (apt-get install busybox-static)`
    : 'no busybox found (apt-get install busybox-static)');
}

/** Compiles guest/workload.c into a static binary. */
export async function compileWorkload(source: string, output: string): Promise<Buffer> {
  const cc = process.env.CC ?? 'gcc';
  try {
    await run(cc, ['-static', '-O2', '-pthread', '-Wall', '-o', output, source], { maxBuffer: 4 * 1024 * 1024 });
  } catch (err) {
    const e = err as { code?: string | number; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`'${cc}' not found: the lab compiles its guest workload (apt-get install gcc libc6-dev)`);
    const first = (e.stderr ?? '').split('\n').find((l) => /error|cannot find/.test(l)) ?? String(err);
    const hint = /cannot find -lc|-lpthread/.test(e.stderr ?? '') ? ' (static libc missing: apt-get install libc6-dev)' : '';
    throw new Error(`compiling ${path.basename(source)} failed: ${first.trim()}${hint}`);
  }
  const binary = await fs.readFile(output);
  if (!isStaticElf(binary)) throw new Error(`${cc} -static produced a dynamically linked ${path.basename(output)}`);
  return binary;
}

/** Writes the files into a staging directory and packs it with `cpio -o -H newc` into `output`. */
export async function writeInitramfs(files: readonly InitramfsFile[], staging: string, output: string): Promise<number> {
  const names = new Set<string>();
  for (const f of files) {
    const full = path.join(staging, f.path);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, f.contents, { mode: f.mode });
    await fs.chmod(full, f.mode);
    for (let p = f.path; p !== '.'; p = path.dirname(p)) names.add(p);
  }
  // Parents before children; cpio -H newc with -R 0:0 so the guest sees root-owned files.
  const list = [...names].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  const child = spawn('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], { cwd: staging, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error("'cpio' not found (apt-get install cpio)") : err));
    child.on('close', resolve);
  });
  child.stdin.end(list.join('\n') + '\n');
  const [code] = await Promise.all([exited, pipeline(child.stdout, createWriteStream(output))]);
  if (code !== 0) throw new Error(`cpio failed: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
  return (await fs.stat(output)).size;
}
