// The guest kernel: Debian's cloud kernel package, resolved through the `linux-image-cloud-amd64`
// metapackage (its version changes with Debian updates), fetched with `apt-get download` and
// unpacked with `dpkg -x`. Nothing is installed on the host.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';

export interface KernelPackage {
  /** e.g. linux-image-6.1.0-56-cloud-amd64 */
  name: string;
  /** Debian version, e.g. 6.1.192-2 */
  version: string;
}

async function tool(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { code?: string | number; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`'${cmd}' not found: the lab fetches its guest kernel with apt/dpkg (Debian or Ubuntu host)`);
    const why = (e.stderr ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('W:')).pop() ?? String(err);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${why}`);
  }
}

/**
 * Picks the kernel image package out of the metapackage's `Depends:` field (from `apt-cache show`),
 * e.g. `linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)`; the version is there when pinned.
 */
export function parseKernelDependency(aptCacheShow: string): { name: string; version?: string } | undefined {
  const depends = /^Depends:\s*(.*)$/m.exec(aptCacheShow)?.[1] ?? '';
  for (const alternative of depends.split(/[,|]/)) {
    const m = /^\s*(linux-image-[^\s(]+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(alternative);
    if (m && m[1] !== KERNEL_METAPACKAGE) return { name: m[1]!, ...(m[2] ? { version: m[2] } : {}) };
  }
  return undefined;
}

/** The `Version:` of the first (candidate) stanza of `apt-cache show` output. */
export function parseVersion(aptCacheShow: string): string | undefined {
  return /^Version:\s*(\S+)/m.exec(aptCacheShow)?.[1];
}

export async function resolveKernelPackage(meta = KERNEL_METAPACKAGE): Promise<KernelPackage> {
  let show: string;
  try {
    show = await tool('apt-cache', ['show', '--no-all-versions', meta]);
  } catch (err) {
    throw new Error(`cannot resolve ${meta}: ${(err as Error).message} (run apt-get update?)`);
  }
  const dep = parseKernelDependency(show);
  if (!dep) throw new Error(`${meta} names no linux-image dependency (run apt-get update?)`);
  const version = dep.version ?? parseVersion(await tool('apt-cache', ['show', '--no-all-versions', dep.name]));
  if (!version) throw new Error(`apt-cache show ${dep.name} gives no version`);
  return { name: dep.name, version };
}

/** Downloads the package's .deb into `dir` (kept there as a cache) and returns its path. */
export async function downloadKernelPackage(pkg: KernelPackage, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_amd64.deb`);
  try {
    await fs.access(file);
    return file;
  } catch {
    // not cached yet
  }
  const tmp = await fs.mkdtemp(path.join(dir, 'download-'));
  try {
    try {
      await tool('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: tmp });
    } catch (err) {
      throw new Error(`${(err as Error).message} (stale package lists? run apt-get update)`);
    }
    const debs = (await fs.readdir(tmp)).filter((f) => f.endsWith('.deb'));
    if (debs.length !== 1) throw new Error(`apt-get download ${pkg.name} left ${debs.length} .deb files`);
    await fs.rename(path.join(tmp, debs[0]!), file);
    return file;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export interface UnpackedKernel {
  root: string;
  /** Kernel release, e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  vmlinuz: string;
  /** lib/modules/<release> inside the unpacked tree. */
  modulesDir: string;
}

/** Unpacks a kernel .deb with `dpkg -x` into `dest` and finds its vmlinuz and modules directory. */
export async function unpackKernelPackage(deb: string, dest: string): Promise<UnpackedKernel> {
  await tool('dpkg', ['-x', deb, dest]);
  const boot = path.join(dest, 'boot');
  const images = (await fs.readdir(boot)).filter((f) => f.startsWith('vmlinuz-'));
  if (images.length !== 1) throw new Error(`${path.basename(deb)} holds ${images.length} vmlinuz files in /boot`);
  const release = images[0]!.slice('vmlinuz-'.length);
  for (const base of ['lib/modules', 'usr/lib/modules']) {
    const modulesDir = path.join(dest, base, release);
    try {
      await fs.access(modulesDir);
      return { root: dest, release, vmlinuz: path.join(boot, images[0]!), modulesDir };
    } catch {
      // try the next layout
    }
  }
  throw new Error(`${path.basename(deb)} has no modules directory for ${release}`);
}
