// A domain's virtio-mem devices as its live XML shows them, and the device XML that changes one's
// requested size (the update-device call, `domainUpdateDeviceFlags`). libvirt ≥ 7.9:
//
//   <memory model='virtio-mem'>
//     <target>
//       <size unit='KiB'>2097152</size> <node>0</node> <block unit='KiB'>2048</block>
//       <requested unit='KiB'>1048576</requested> <current unit='KiB'>1048576</current>
//     </target>
//     <alias name='virtiomem0'/> <address type='pci' .../>
//   </memory>
//
// `current` is in the live XML only (what the guest has plugged). Read like the project's other
// domain-XML readers: small regular expressions over libvirt's own, regular output.

/** One `<memory model='virtio-mem'>` device, sizes in KiB. */
export interface VirtioMemDevice {
  /** `<alias name>`: libvirt gives every device of a running domain one (`virtiomem0`, ...). */
  alias?: string;
  /** `<target><size>`: the most the device can ever plug. */
  sizeKiB: number;
  /** `<target><node>`: the guest NUMA node it plugs into. */
  node?: number;
  /** `<target><block>`: the unit of plugging; requested sizes are multiples of it. */
  blockKiB: number;
  /** `<target><requested>`: what the host asked the guest to plug. */
  requestedKiB: number;
  /** `<target><current>`: what the guest has plugged (live XML only). */
  currentKiB?: number;
  /** The element as it stands in the XML, which the update payload is built from. */
  xml: string;
}

/** A domain XML that does not say what a virtio-mem device must (size, block, requested) or says it in a way we cannot read. */
export class MemoryDeviceXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryDeviceXmlError';
  }
}

const DEVICE = /<memory\b([^>]*)>([\s\S]*?)<\/memory>/g;

/**
 * The virtio-mem devices of a domain XML (as `domainGetXmlDesc` returns it; flags 0 is the live
 * definition of a running domain), in document order; empty when it has none. Only `<devices>` is
 * read, so metadata that happens to hold a `<memory>` element is not taken for a device.
 * Throws MemoryDeviceXmlError when a virtio-mem device lacks its size, block or requested size.
 */
export function readVirtioMemDevices(domainXml: string): VirtioMemDevice[] {
  const devices = /<devices\b[^>]*>([\s\S]*?)<\/devices>/.exec(domainXml)?.[1];
  if (devices === undefined) return [];
  const out: VirtioMemDevice[] = [];
  for (const m of devices.matchAll(DEVICE)) {
    if (attribute(m[1]!, 'model') !== 'virtio-mem') continue;
    const body = m[2]!;
    const aliasTag = /<alias\b([^>]*)\/?>/.exec(body)?.[1];
    const alias = aliasTag === undefined ? undefined : attribute(aliasTag, 'name');
    const what = `virtio-mem device${alias ? ` '${alias}'` : ''}`;
    const target = /<target\b[^>]*>([\s\S]*?)<\/target>/.exec(body)?.[1];
    if (target === undefined) throw new MemoryDeviceXmlError(`${what} has no <target>`);
    const need = (name: string): number => {
      const v = sizeElement(target, name, what);
      if (v === undefined) throw new MemoryDeviceXmlError(`${what} has no <${name}> in its <target>`);
      return v;
    };
    const nodeText = /<node\b[^>]*>\s*(\d+)\s*<\/node>/.exec(target)?.[1];
    const currentKiB = sizeElement(target, 'current', what);
    out.push({
      ...(alias !== undefined ? { alias } : {}),
      sizeKiB: need('size'),
      ...(nodeText !== undefined ? { node: Number(nodeText) } : {}),
      blockKiB: need('block'),
      requestedKiB: need('requested'),
      ...(currentKiB !== undefined ? { currentKiB } : {}),
      xml: m[0],
    });
  }
  return out;
}

/**
 * The device XML for the update-device call that asks `device` to plug `requestedKiB`: the element
 * as read, every part kept (alias, address, source, size, node, block: the daemon finds the device
 * by them and refuses to change any of them), with `<requested>` replaced. Throws RangeError for a
 * size the daemon would refuse: negative, not whole KiB, above the device's size or not a multiple
 * of its block.
 */
export function virtioMemRequestXml(device: VirtioMemDevice, requestedKiB: number): string {
  const what = `virtio-mem device${device.alias ? ` '${device.alias}'` : ''}`;
  if (!Number.isSafeInteger(requestedKiB) || requestedKiB < 0) {
    throw new RangeError(`${what}: requested size must be a whole, non-negative number of KiB (got ${requestedKiB})`);
  }
  if (requestedKiB > device.sizeKiB) {
    throw new RangeError(`${what}: requested ${requestedKiB} KiB is above its size of ${device.sizeKiB} KiB`);
  }
  if (device.blockKiB > 0 && requestedKiB % device.blockKiB !== 0) {
    throw new RangeError(`${what}: requested ${requestedKiB} KiB is not a multiple of its block of ${device.blockKiB} KiB`);
  }
  const requested = `<requested unit='KiB'>${requestedKiB}</requested>`;
  const old = /<requested\b[^>]*>[^<]*<\/requested>/;
  // A hand-made device may lack <requested> (readVirtioMemDevices refuses those): it goes at the end of <target>.
  return old.test(device.xml) ? device.xml.replace(old, requested) : device.xml.replace(/<\/target>/, `${requested}</target>`);
}

/** Bytes per unit of libvirt's memory units (virScaleInteger): b/bytes, KB/MB/... (powers of 1000), k/KiB/M/MiB/... (powers of 1024). */
export function unitBytes(unit: string): number | undefined {
  const u = unit.trim();
  const lower = u.toLowerCase();
  if (lower === 'b' || lower === 'byte' || lower === 'bytes') return 1;
  const power = 'kmgtpe'.indexOf(lower[0]!) + 1;
  if (power === 0) return undefined;
  const rest = lower.slice(1);
  if (rest === '' || rest === 'ib') return 1024 ** power;
  if (rest === 'b') return 1000 ** power;
  return undefined;
}

/** `<name unit='...'>N</name>` in KiB (libvirt's default unit for these elements is KiB), rounded up to whole KiB as libvirt does. */
function sizeElement(xml: string, name: string, what: string): number | undefined {
  const m = new RegExp(`<${name}\\b([^>]*)>\\s*([^<]*?)\\s*</${name}>`).exec(xml);
  if (!m) return undefined;
  const unit = attribute(m[1]!, 'unit') ?? 'KiB';
  const scale = unitBytes(unit);
  if (scale === undefined) throw new MemoryDeviceXmlError(`${what}: unknown unit '${unit}' in <${name}>`);
  if (!/^\d+$/.test(m[2]!)) throw new MemoryDeviceXmlError(`${what}: <${name}> is not a whole number ('${m[2]}')`);
  const bytes = Number(m[2]) * scale;
  if (!Number.isSafeInteger(bytes)) throw new MemoryDeviceXmlError(`${what}: <${name}> of ${m[2]} ${unit} is too large`);
  return Math.ceil(bytes / 1024);
}

function attribute(attributes: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(` ${attributes}`);
  return m ? unescapeXml(m[1] ?? m[2]!) : undefined;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}
