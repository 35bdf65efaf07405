// Finding and removing lab guests. A lab guest is a domain whose XML carries our metadata element;
// nothing else is ever destroyed or undefined here.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LibvirtClient } from '../libvirt/client.js';
import { LibvirtError, LibvirtErrorCode } from '../libvirt/errors.js';
import type { Domain, DomainHandle } from '../libvirt/protocol.js';
import { MemoryDeviceXmlError, readVirtioMemDevices, type VirtioMemDevice } from '../libvirt/memory-devices.js';
import { domainMemoryKiB } from '../host/libvirt-host.js';
import { readLabMarker, type LabMarker } from './domain-xml.js';
import { GUEST_FILE_NAMES } from './paths.js';

export interface LabGuestRecord {
  domain: Domain;
  marker: LabMarker;
  active: boolean;
  /** Its virtio-mem devices as the (live, for a running guest) XML shows them; empty without. */
  memoryDevices?: VirtioMemDevice[];
  /** `<memory>`, KiB: boot memory plus every device's size (libvirt counts them in). */
  memoryKiB?: number;
}

/** Every lab guest the connection can see, active or not, by name. */
export async function findLabGuests(client: LibvirtClient): Promise<LabGuestRecord[]> {
  const found: LabGuestRecord[] = [];
  for (const domain of await client.listAllDomains()) {
    let xml: string;
    try {
      xml = await client.call('domainGetXmlDesc', { dom: domain, flags: 0 }).then((r) => r.xml);
    } catch (err) {
      if (isNoDomain(err)) continue; // vanished meanwhile
      throw err;
    }
    const marker = readLabMarker(xml);
    if (!marker) continue;
    let memoryDevices: VirtioMemDevice[] = [];
    try {
      memoryDevices = readVirtioMemDevices(xml);
    } catch (err) {
      if (!(err instanceof MemoryDeviceXmlError)) throw err;
    }
    const memoryKiB = domainMemoryKiB(xml);
    found.push({ domain, marker, active: domain.id >= 0, memoryDevices, ...(memoryKiB !== undefined ? { memoryKiB } : {}) });
  }
  return found.sort((a, b) => a.domain.name.localeCompare(b.domain.name, undefined, { numeric: true }));
}

export function isNoDomain(err: unknown): boolean {
  return err instanceof LibvirtError && err.code === LibvirtErrorCode.NoDomain;
}

function isNotRunning(err: unknown): boolean {
  return err instanceof LibvirtError && err.code === LibvirtErrorCode.OperationInvalid;
}


/** Destroys (if running) and undefines a lab guest, then removes its console log and socket. */
export async function removeGuest(client: LibvirtClient, dom: DomainHandle, dir: string): Promise<void> {
  try {
    await client.call('domainDestroyFlags', { dom, flags: 0 });
  } catch (err) {
    if (!isNotRunning(err) && !isNoDomain(err)) throw err;
  }
  try {
    await client.call('domainUndefineFlags', { dom, flags: 0 });
  } catch (err) {
    if (!isNoDomain(err)) throw err;
  }
  await removeGuestFiles(dir);
}

/** Deletes only the files a guest leaves in its directory, then the directory if that left it empty. */
export async function removeGuestFiles(dir: string): Promise<void> {
  for (const f of Object.values(GUEST_FILE_NAMES)) await fs.rm(path.join(dir, f), { force: true });
  try {
    await fs.rmdir(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
  }
}
