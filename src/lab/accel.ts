// Which domain type lab guests use: `kvm` when a probe guest really boots under KVM, else `qemu`
// (software emulation). On nested hosts /dev/kvm can exist and still hang a guest in early boot,
// so the probe boots our own image with a short timeout instead of trusting /dev/kvm. The result
// is cached per host, libvirt URI and guest kernel.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LibvirtClient } from '../libvirt/client.js';
import { labDomainXml, type DomainType } from './domain-xml.js';
import type { LabImage } from './image.js';
import { guestFiles } from './paths.js';
import type { Progress } from './progress.js';
import { WorkloadController } from './workload-channel.js';
import { removeGuest } from './guests.js';

export interface AccelChoice {
  domainType: DomainType;
  /** Why, in words, e.g. "KVM probe guest answered in 1.4 s". */
  reason: string;
  cached: boolean;
}

interface CacheEntry {
  host: string;
  hostKernel: string;
  uri: string;
  kernelRelease: string;
  domainType: DomainType;
  reason: string;
  probedAt: string;
}

export const PROBE_TIMEOUT_MS = 15_000;

function cacheFile(root: string): string {
  return path.join(root, 'accel-probe.json');
}

function matches(e: CacheEntry, uri: string, image: LabImage): boolean {
  return e.host === os.hostname() && e.hostKernel === os.release() && e.uri === uri && e.kernelRelease === image.kernelRelease;
}

export async function chooseDomainType(
  client: LibvirtClient,
  image: LabImage,
  opts: { root: string; uri: string; progress: Progress; forced?: DomainType; reprobe?: boolean },
): Promise<AccelChoice> {
  if (opts.forced) return { domainType: opts.forced, reason: 'chosen with --accel', cached: false };
  const local = opts.uri.startsWith('qemu:///') || opts.uri.startsWith('qemu+unix:///');
  if (local && !existsSync('/dev/kvm')) return { domainType: 'qemu', reason: 'no /dev/kvm on this host', cached: false };

  let entries: CacheEntry[] = [];
  try {
    entries = JSON.parse(await fs.readFile(cacheFile(opts.root), 'utf8')) as CacheEntry[];
  } catch {
    // no cache yet
  }
  const hit = opts.reprobe ? undefined : entries.find((e) => matches(e, opts.uri, image));
  if (hit) return { domainType: hit.domainType, reason: `${hit.reason} (probed ${hit.probedAt})`, cached: true };

  const result = await opts.progress.step('probing whether guests boot under KVM', () => probeKvm(client, image, opts.root),
    (r) => `${r.domainType}: ${r.reason}`);
  const entry: CacheEntry = {
    host: os.hostname(), hostKernel: os.release(), uri: opts.uri, kernelRelease: image.kernelRelease,
    domainType: result.domainType, reason: result.reason, probedAt: new Date().toISOString(),
  };
  await fs.mkdir(opts.root, { recursive: true });
  await fs.writeFile(cacheFile(opts.root), JSON.stringify([...entries.filter((e) => !matches(e, opts.uri, image)), entry], null, 2) + '\n');
  return { ...result, cached: false };
}

async function probeKvm(client: LibvirtClient, image: LabImage, root: string): Promise<{ domainType: DomainType; reason: string }> {
  const name = `vbprobe-kvm-${process.pid}`;
  const files = guestFiles(root, name);
  await fs.mkdir(files.dir, { recursive: true });
  const xml = labDomainXml({
    name, domainType: 'kvm', vcpus: 1, memoryMiB: 256, maxMemoryMiB: 256, kernel: image.kernel, initrd: image.initrd,
    consoleLog: files.consoleLog, workloadSocket: files.workloadSocket, imageKey: image.key, dir: files.dir,
    // The probe asks only whether KVM boots a guest; a balloon feature the host lacks must not read as "no KVM".
    freePageReporting: false,
  });
  const t0 = Date.now();
  const dom = await client.call('domainDefineXmlFlags', { xml, flags: 0 }).then((r) => r.dom);
  try {
    try {
      await client.call('domainCreateWithFlags', { dom, flags: 0 });
    } catch (err) {
      return { domainType: 'qemu', reason: `libvirt would not start a KVM guest: ${(err as Error).message.split('\n')[0]}` };
    }
    const controller = new WorkloadController(() => files.workloadSocket, 1_000);
    while (Date.now() - t0 < PROBE_TIMEOUT_MS) {
      if (await controller.ping(name)) return { domainType: 'kvm', reason: `KVM probe guest answered in ${((Date.now() - t0) / 1000).toFixed(1)} s` };
      await new Promise((r) => setTimeout(r, 250));
    }
    return { domainType: 'qemu', reason: `KVM probe guest did not answer within ${PROBE_TIMEOUT_MS / 1000} s (nested virtualisation?)` };
  } finally {
    await removeGuest(client, dom, files.dir);
  }
}
