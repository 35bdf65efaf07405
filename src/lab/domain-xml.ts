// Domain XML of a lab guest: direct kernel boot, serial console to a file, a balloon with stats
// every second and free page reporting, the workload channel, a read-only virtio disk (a sparse raw file the workload
// program reads to fill the page cache) and no network. A metadata element marks it as a
// lab guest so `lab down` never touches anything else.

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
}

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
  const e = escapeXml;
  const cmdline = ['console=ttyS0', 'quiet', 'panic=5', `vb.name=${spec.name}`, spec.cmdline ?? ''].filter(Boolean).join(' ');
  return `<domain type='${spec.domainType}'>
  <name>${e(spec.name)}</name>
  <metadata>
    <vb:lab xmlns:vb='${LAB_XMLNS}'>
      <vb:image>${e(spec.imageKey)}</vb:image>
      <vb:dir>${e(spec.dir)}</vb:dir>${spec.origin ? `\n      <vb:origin>${spec.origin}</vb:origin>` : ''}
    </vb:lab>
  </metadata>
  <memory unit='MiB'>${Math.round(spec.maxMemoryMiB)}</memory>
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
  </features>
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
${diskXml(spec)}${balloonXml(spec)}
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
