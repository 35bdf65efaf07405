// Builds (once) and caches the lab's guest image: a Debian cloud kernel and an initramfs with
// busybox, the virtio modules and vb-workload. The cache key covers the kernel package version and
// everything we put in the initramfs, so an apt update or an edit of guest/ makes a new image.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { findStaticBusybox, compileWorkload, initramfsLayout, writeInitramfs } from './initramfs.js';
import { downloadKernelPackage, resolveKernelPackage, unpackKernelPackage, type KernelPackage } from './kernel-package.js';
import { LAB_MODULES, resolveModules } from './kernel-modules.js';
import { debsDir, freeBytes, guestSourceDir, imagesDir, labRoot } from './paths.js';
import { silentProgress, type Progress } from './progress.js';

/** Bump when the builder lays out the image differently, so old cached images are not reused. */
const IMAGE_FORMAT = 1;
/** Download (~30 MiB) + unpacked package (~110 MiB) + image, with room to spare. */
const BUILD_SPACE_BYTES = 300 * 1024 * 1024;

export interface LabImage {
  key: string;
  dir: string;
  kernel: string;
  initrd: string;
  kernelRelease: string;
  kernelPackage: KernelPackage;
  /** Modules in the order /init loads them. */
  modules: string[];
  /** True when the image came from the cache. */
  cached: boolean;
}

interface Manifest {
  format: number;
  key: string;
  kernelRelease: string;
  kernelPackage: KernelPackage;
  modules: string[];
  builtAt: string;
  initrdBytes: number;
}

export interface BuildOptions {
  root?: string;
  progress?: Progress;
  /** Rebuild even when a cached image exists. */
  force?: boolean;
}

export function imageKey(pkg: KernelPackage, inputs: readonly Buffer[]): string {
  const h = createHash('sha256');
  h.update(`format ${IMAGE_FORMAT}\n${pkg.name} ${pkg.version}\n${LAB_MODULES.join(',')}\n`);
  for (const b of inputs) h.update(createHash('sha256').update(b).digest());
  return `${pkg.name.replace(/^linux-image-/, '')}-${h.digest('hex').slice(0, 12)}`;
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    await fs.access(path.join(dir, 'vmlinuz'));
    await fs.access(path.join(dir, 'initrd.img'));
    return m.format === IMAGE_FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}

function toImage(dir: string, m: Manifest, cached: boolean): LabImage {
  return {
    key: m.key, dir, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'),
    kernelRelease: m.kernelRelease, kernelPackage: m.kernelPackage, modules: m.modules, cached,
  };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Returns the cached image for the current kernel package and guest sources, building it if needed. */
export async function buildImage(opts: BuildOptions = {}): Promise<LabImage> {
  const root = opts.root ?? labRoot();
  const progress = opts.progress ?? silentProgress;
  const pkg = await progress.step('resolving the guest kernel package', () => resolveKernelPackage(), (p) => `${p.name} ${p.version}`);
  const src = guestSourceDir();
  const initScript = await fs.readFile(path.join(src, 'init'));
  const workloadSource = path.join(src, 'workload.c');
  const workloadC = await fs.readFile(workloadSource);
  const busybox = await findStaticBusybox();
  const key = imageKey(pkg, [initScript, workloadC, busybox]);
  const dir = path.join(imagesDir(root), key);

  if (!opts.force) {
    const cached = await readManifest(dir);
    if (cached) {
      progress.say(`image ${key} cached in ${dir}`);
      return toImage(dir, cached, true);
    }
  }

  await fs.mkdir(imagesDir(root), { recursive: true });
  const free = freeBytes(root);
  if (free < BUILD_SPACE_BYTES) throw new Error(`no disk space: building the lab image needs ${mib(BUILD_SPACE_BYTES)} in ${root}, ${mib(free)} free`);

  const t0 = Date.now();
  const work = await fs.mkdtemp(path.join(imagesDir(root), `.build-${key}-`));
  try {
    const deb = await progress.step(`downloading ${pkg.name}`, () => downloadKernelPackage(pkg, debsDir(root)),
      (f) => path.basename(f));
    const kernel = await progress.step('unpacking the kernel package (dpkg -x)', () => unpackKernelPackage(deb, path.join(work, 'pkg')),
      (k) => `kernel ${k.release}`);
    const modules = await progress.step('reading module dependencies', () => resolveModules(kernel.modulesDir),
      (ms) => `load order ${ms.map((m) => m.name).join(' ')}`);
    const workload = await progress.step('compiling guest/workload.c (gcc -static)', () => compileWorkload(workloadSource, path.join(work, 'vb-workload')),
      (b) => mib(b.length));
    const out = path.join(work, 'image');
    await fs.mkdir(out);
    const initrdBytes = await progress.step('packing the initramfs (cpio -H newc)',
      () => writeInitramfs(initramfsLayout({ init: initScript, busybox, workload, modules }), path.join(work, 'root'), path.join(out, 'initrd.img')),
      mib);
    await fs.copyFile(kernel.vmlinuz, path.join(out, 'vmlinuz'));
    const manifest: Manifest = {
      format: IMAGE_FORMAT, key, kernelRelease: kernel.release, kernelPackage: pkg,
      modules: modules.map((m) => m.name), builtAt: new Date().toISOString(), initrdBytes,
    };
    await fs.writeFile(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(out, dir);
    progress.say(`image ${key} built in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
    return toImage(dir, manifest, false);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
