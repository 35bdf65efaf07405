// Domain XML of a lab guest: direct kernel boot, serial console to a file, a balloon with stats
// every second and free page reporting, the workload channel, a read-only virtio disk (a sparse raw file the workload
// program reads to fill the page cache) and no network. A metadata element marks it as a
// lab guest so `lab down` never touches anything else. A guest may also have a virtio-mem device
// (`virtioMem`): it boots small and the host plugs memory into it while it runs.

export const LAB_XMLNS = 'https://virtbalance.dev/xmlns/lab/1';
export const WORKLOAD_CHANNEL = 'org.virtbalance.workload';

export type DomainType = 'kvm' | 'qemu';

/** What brought a lab guest up: `lab up` (or a library caller), or a `lab run`, which replaces only its own. */
export type LabOrigin = 'up' | 'run';

export interface LabGuestSpec {
  name: string;
  domainType: DomainType;
  vcpus: number;
  /** Balloon size at start (`<currentMemory>`), MiB. */
  memoryMiB: number;
  /** `<memory>`: the most the guest can ever have, MiB. */
  maxMemoryMiB: number;
  kernel: string;
  initrd: string;
  /** Extra kernel command line words, e.g. `vb.cpu=0.5`. */
  cmdline?: string;
  consoleLog: string;
  workloadSocket: string;
  /** A raw disk image attached read-only as virtio disk vda (the guest's /dev/vda); none when absent. */
  disk?: string;
  /** Image key, recorded in the metadata. */
  imageKey: string;
  /** The guest's files directory, recorded so `lab down` can remove it. */
  dir: string;
  /** false: no balloon device at all (default true). */
  balloon?: boolean;
  /**
   * Balloon statistics period at boot, s (default 1). 0: none, like a guest defined without one —
   * no guest statistics at all until someone sets a period (not the frozen last readings a period
   * set to 0 later leaves behind).
   */
  statsPeriod?: number;
  /**
   * Free page reporting on the balloon (`freePageReporting='on'`, libvirt 6.9, QEMU 5.1, guest
   * Linux 5.7): the guest hands pages it frees back to the host by itself. Default true; false
   * leaves the attribute out (the host keeps what the guest once touched until the balloon moves).
   */
  freePageReporting?: boolean;
  /** Recorded in the metadata when given; a guest without it counts as `lab up`'s. */
  origin?: LabOrigin;
  /**
   * A virtio-mem device beside the boot memory (`maxMemoryMiB`, the `<memory>` and the one NUMA
   * cell): `<maxMemory slots>` of boot + size, the device on node 0 and the kernel argument
   * `memhp_default_state=online_movable` (plugged blocks online as movable memory, so they can be
   * unplugged again). The guest's initramfs must load virtio_mem (LAB_MODULES does).
   */
  virtioMem?: LabVirtioMem;
}

/** A lab guest's virtio-mem device, MiB. */
export interface LabVirtioMem {
  /** The most it can plug. */
  sizeMiB: number;
  /** Its block: the unit of plugging (default 2 MiB, x86's smallest). */
  blockMiB?: number;
  /** What it plugs at boot (default 0). */
  requestedMiB?: number;
}

/** The kernel argument a virtio-mem guest boots with: memory it plugs goes online as movable, so it can be unplugged. */
export const VIRTIO_MEM_KERNEL_ARG = 'memhp_default_state=online_movable';
/** Memory slots in `<maxMemory>` (libvirt wants some for any memory device; virtio-mem uses one). */
export const VIRTIO_MEM_SLOTS = 2;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Names libvirt accepts and that are safe in file paths. */
export function checkGuestName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new Error(`invalid guest name '${name}' (letters, digits, '_', '.', '-'; at most 64)`);
  }
}

export function labDomainXml(spec: LabGuestSpec): string {
  checkGuestName(spec.name);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) throw new Error(`vcpus must be a positive integer, got ${spec.vcpus}`);
  if (!(spec.memoryMiB > 0)) throw new Error(`memory must be positive, got ${spec.memoryMiB} MiB`);
  if (spec.maxMemoryMiB < spec.memoryMiB) throw new Error(`max memory ${spec.maxMemoryMiB} MiB is below memory ${spec.memoryMiB} MiB`);
  const vmem = spec.virtioMem === undefined ? undefined : checkVirtioMem(spec.virtioMem);
  const e = escapeXml;
  const cmdline = ['console=ttyS0', 'quiet', 'panic=5', vmem ? VIRTIO_MEM_KERNEL_ARG : '', `vb.name=${spec.name}`, spec.cmdline ?? ''].filter(Boolean).join(' ');
  const bootMiB = Math.round(spec.maxMemoryMiB);
  return `<domain type='${spec.domainType}'>
  <name>${e(spec.name)}</name>
  <metadata>
    <vb:lab xmlns:vb='${LAB_XMLNS}'>
      <vb:image>${e(spec.imageKey)}</vb:image>
      <vb:dir>${e(spec.dir)}</vb:dir>${spec.origin ? `\n      <vb:origin>${spec.origin}</vb:origin>` : ''}
    </vb:lab>
  </metadata>${vmem ? `\n  <maxMemory slots='${VIRTIO_MEM_SLOTS}' unit='MiB'>${bootMiB + vmem.sizeMiB}</maxMemory>` : ''}
  <memory unit='MiB'>${bootMiB}</memory>
  <currentMemory unit='MiB'>${Math.round(spec.memoryMiB)}</currentMemory>
  <vcpu placement='static'>${spec.vcpus}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>${e(spec.kernel)}</kernel>
    <initrd>${e(spec.initrd)}</initrd>
    <cmdline>${e(cmdline)}</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>${vmem ? `
  <cpu>
    <numa>
      <cell id='0' cpus='0-${spec.vcpus - 1}' memory='${bootMiB}' unit='MiB'/>
    </numa>
  </cpu>` : ''}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='${e(spec.consoleLog)}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='${e(spec.workloadSocket)}'/>
      <target type='virtio' name='${WORKLOAD_CHANNEL}'/>
    </channel>
${diskXml(spec)}${vmem ? virtioMemXml(vmem) : ''}${balloonXml(spec)}
  </devices>
</domain>
`;
}

function diskXml(spec: LabGuestSpec): string {
  if (spec.disk === undefined) return '';
  return `    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${escapeXml(spec.disk)}'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
`;
}

function checkVirtioMem(v: LabVirtioMem): Required<LabVirtioMem> {
  const blockMiB = v.blockMiB ?? 2;
  const requestedMiB = v.requestedMiB ?? 0;
  if (!(Number.isInteger(blockMiB) && blockMiB >= 2 && (blockMiB & (blockMiB - 1)) === 0)) throw new Error(`virtio-mem block must be a power of two of at least 2 MiB, got ${blockMiB} MiB`);
  if (!(Number.isInteger(v.sizeMiB) && v.sizeMiB > 0 && v.sizeMiB % blockMiB === 0)) throw new Error(`virtio-mem size must be a positive multiple of its ${blockMiB} MiB block, got ${v.sizeMiB} MiB`);
  if (!(Number.isInteger(requestedMiB) && requestedMiB >= 0 && requestedMiB <= v.sizeMiB && requestedMiB % blockMiB === 0)) {
    throw new Error(`virtio-mem requested size must be a multiple of its ${blockMiB} MiB block from 0 to its size ${v.sizeMiB} MiB, got ${requestedMiB} MiB`);
  }
  return { sizeMiB: v.sizeMiB, blockMiB, requestedMiB };
}

function virtioMemXml(v: Required<LabVirtioMem>): string {
  return `    <memory model='virtio-mem'>
      <target>
        <size unit='MiB'>${v.sizeMiB}</size>
        <node>0</node>
        <block unit='MiB'>${v.blockMiB}</block>
        <requested unit='MiB'>${v.requestedMiB}</requested>
      </target>
    </memory>
`;
}

function balloonXml(spec: LabGuestSpec): string {
  if (spec.balloon === false) return "    <memballoon model='none'/>";
  const period = spec.statsPeriod ?? 1;
  if (!(Number.isInteger(period) && period >= 0)) throw new Error(`stats period must be a whole number of seconds >= 0, got ${period}`);
  const reporting = spec.freePageReporting === false ? '' : " freePageReporting='on'";
  if (period === 0) return `    <memballoon model='virtio'${reporting}/>`;
  return `    <memballoon model='virtio'${reporting}>
      <stats period='${period}'/>
    </memballoon>`;
}

export interface LabMarker {
  imageKey: string;
  dir: string;
  origin?: LabOrigin;
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, n: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[n]!);
}

/**
 * Reads our metadata element back from a domain's XML (as libvirt returns it, which may rename the
 * namespace prefix). Returns undefined for a domain that is not a lab guest.
 */
export function readLabMarker(domainXml: string): LabMarker | undefined {
  const metadata = /<metadata>([\s\S]*?)<\/metadata>/.exec(domainXml)?.[1];
  if (!metadata) return undefined;
  const ns = escapeRegExp(LAB_XMLNS);
  const open = new RegExp(`<(\\w+):lab\\s+xmlns:\\1=["']${ns}["']\\s*>([\\s\\S]*?)</\\1:lab>`).exec(metadata);
  if (!open) return undefined;
  const prefix = open[1]!;
  const body = open[2]!;
  const field = (tag: string) => new RegExp(`<${prefix}:${tag}>([^<]*)</${prefix}:${tag}>`).exec(body)?.[1];
  const imageKey = field('image');
  const dir = field('dir');
  if (imageKey === undefined || dir === undefined) return undefined;
  const origin = field('origin');
  return { imageKey: unescapeXml(imageKey), dir: unescapeXml(dir), ...(origin === 'up' || origin === 'run' ? { origin } : {}) };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The source path of the workload channel in a domain's XML, if it has one. */
export function readWorkloadSocket(domainXml: string): string | undefined {
  for (const m of domainXml.matchAll(/<channel type=["']unix["']>([\s\S]*?)<\/channel>/g)) {
    const body = m[1]!;
    if (!new RegExp(`name=["']${escapeRegExp(WORKLOAD_CHANNEL)}["']`).test(body)) continue;
    const p = /<source[^>]*\spath=["']([^"']+)["']/.exec(body)?.[1];
    if (p) return unescapeXml(p);
  }
  return undefined;
}
