// The real-VM lab: bring N small guests up on libvirt, report on them, take them all down.
import { promises as fs } from 'node:fs';
import type { LibvirtClient } from '../libvirt/client.js';
import { paramNumber } from '../libvirt/client.js';
import { DomainStatsGroup } from '../libvirt/protocol.js';
import { blockReadBytes } from '../host/libvirt-host.js';
import { virtbalanceCommand } from '../app/invocation.js';
import { chooseDomainType, type AccelChoice } from './accel.js';
import { consoleTail, guestOomKills, readConsole, type OomKill } from './console-log.js';
import { checkGuestName, labDomainXml, type DomainType, type LabOrigin, type LabVirtioMem } from './domain-xml.js';
import { findLabGuests, removeGuest, type LabGuestRecord } from './guests.js';
import { buildImage, type LabImage } from './image.js';
import { MAX_UNIX_SOCKET_PATH, freeBytes, guestFiles, guestFilesIn, guestsDir, type GuestFiles } from './paths.js';
import { seconds, type Progress } from './progress.js';
import { cpuCommand, WorkloadController, type CpuLoad, type WorkloadStatus } from './workload-channel.js';

/** N alike guests <prefix>1..<prefix>N. */
export interface LabGuestsAlike {
  count: number;
  vcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  prefix: string;
  /** Size of each guest's disk, MiB (default DEFAULT_DISK_MIB; 0 = none). */
  diskMiB?: number;
  /** Free page reporting on every guest's balloon (default true). */
  freePageReporting?: boolean;
  /**
   * Every guest boots at `memoryMiB` with a virtio-mem device for the rest of `maxMemoryMiB`
   * (nothing plugged), instead of booting at `maxMemoryMiB` with its balloon inflated to `memoryMiB`.
   */
  virtioMem?: boolean;
}

/** Guests of different shapes (a scenario's), by name. */
export interface LabGuestList {
  guests: LabGuestRequest[];
}

export type LabUpOptions = LabUpCommon & (LabGuestsAlike | LabGuestList);

export interface LabUpCommon {
  /** Recorded on each guest: a `lab run` ('run') refuses to replace guests it did not bring up. */
  origin?: LabOrigin;
  uri: string;
  root: string;
  progress: Progress;
  /** Force a domain type instead of probing. */
  accel?: DomainType;
  /** Initial CPU load of every vCPU, or per vCPU (vb.cpu=, e.g. `vb.cpu=0.4@50`). */
  cpuLoad?: number | CpuLoad | readonly (number | CpuLoad)[];
  /** Seconds each guest may take to answer on its workload channel. */
  bootTimeoutSeconds: number;
  /** Seconds to wait for the balloons to reach their start size (only a warning when exceeded). */
  balloonSettleSeconds: number;
  /** What the error says happened to the guests when one does not come up (default: left running for a look). */
  failureNote?: string;
}

export interface LabGuestRequest {
  name: string;
  vcpus: number;
  /** Balloon size at start, MiB (with a virtio-mem device: of the boot memory; what is plugged at boot comes on top). */
  memoryMiB: number;
  /** Boot memory (`<memory>`), MiB: the most a balloon-only guest can ever have. */
  maxMemoryMiB: number;
  /** A virtio-mem device beside the boot memory (none when absent). */
  virtioMem?: LabVirtioMem;
  /** false: no balloon device (default true). */
  balloon?: boolean;
  /** false: defined but not started; `startLabGuest` boots it later (default true). */
  start?: boolean;
  /** Balloon statistics period at boot, s (default 1; 0 = no statistics until someone sets a period). */
  statsPeriod?: number;
  /** Size of the guest's disk (a sparse raw file), MiB (default DEFAULT_DISK_MIB; 0 = no disk). */
  diskMiB?: number;
  /** Free page reporting on the balloon: freed guest memory goes back to the host by itself (default true). */
  freePageReporting?: boolean;
}

/**
 * A lab guest's disk unless told otherwise, MiB. Sparse: it costs no host disk space (the guest
 * only reads it, and holes read as zeros), so it can hold a scan of a few GiB beside a hot set.
 */
export const DEFAULT_DISK_MIB = 8192;

export interface LabGuest extends GuestFiles {
  name: string;
  uuid: string;
  /** Whether labUp started it (false: defined only). */
  started: boolean;
  /** Balloon size at start, MiB; undefined without a balloon. */
  memoryMiB?: number;
  /** Whether the guest reports balloon statistics from boot. */
  statsFromBoot: boolean;
  /** Size of its disk, MiB; 0 = none. */
  diskMiB: number;
  /** Its virtio-mem device, if it has one. */
  virtioMem?: LabVirtioMem;
}

export interface LabUpResult {
  image: LabImage;
  accel: AccelChoice;
  guests: LabGuest[];
  /** Seconds from start until every guest answered. */
  bootSeconds: number;
}

/** An error a person can act on; the command prints it as one line. */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

/** Space for console logs of the guests; the image has its own check. */
const GUEST_SPACE_BYTES = 20 * 1024 * 1024;

/** Of `names`, those held by lab guests a `lab run` did not bring up (`lab up`'s, or older ones). */
export function labUpGuestsInTheWay(guests: readonly LabGuestRecord[], names: readonly string[]): string[] {
  const wanted = new Set(names);
  return guests.filter((g) => wanted.has(g.domain.name) && g.marker.origin !== 'run').map((g) => g.domain.name);
}

export function guestNames(prefix: string, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  for (const n of names) checkGuestName(n);
  return names;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The guests labUp brings up: the explicit list, else `count` alike. */
export function guestRequests(opts: LabGuestsAlike | LabGuestList): LabGuestRequest[] {
  if ('guests' in opts) {
    for (const g of opts.guests) checkGuestName(g.name);
    const dup = opts.guests.find((g, i) => opts.guests.findIndex((h) => h.name === g.name) !== i);
    if (dup) throw new LabError(`guest ${dup.name} is listed twice`);
    return opts.guests;
  }
  if (opts.virtioMem && !(opts.maxMemoryMiB > opts.memoryMiB && (opts.maxMemoryMiB - opts.memoryMiB) % 2 === 0)) {
    throw new LabError(`virtio-mem guests boot at ${opts.memoryMiB} MiB and plug up to ${opts.maxMemoryMiB} MiB: the difference must be a positive multiple of the 2 MiB block`);
  }
  return guestNames(opts.prefix, opts.count).map((name) => ({
    name, vcpus: opts.vcpus, memoryMiB: opts.memoryMiB, diskMiB: opts.diskMiB,
    ...(opts.virtioMem
      ? { maxMemoryMiB: opts.memoryMiB, virtioMem: { sizeMiB: opts.maxMemoryMiB - opts.memoryMiB } }
      : { maxMemoryMiB: opts.maxMemoryMiB }),
    ...(opts.freePageReporting !== undefined ? { freePageReporting: opts.freePageReporting } : {}),
  }));
}

export async function labUp(client: LibvirtClient, opts: LabUpOptions): Promise<LabUpResult> {
  const requests = guestRequests(opts);
  const names = requests.map((r) => r.name);
  for (const r of requests) {
    if (r.diskMiB !== undefined && !(Number.isInteger(r.diskMiB) && r.diskMiB >= 0)) throw new LabError(`${r.name}: disk size must be a whole number of MiB >= 0, got ${r.diskMiB}`);
  }
  for (const n of names) {
    const sock = guestFiles(opts.root, n).workloadSocket;
    if (sock.length > MAX_UNIX_SOCKET_PATH) throw new LabError(`socket path ${sock} is longer than ${MAX_UNIX_SOCKET_PATH} bytes; set VIRTBALANCE_LAB_DIR to a shorter directory`);
  }

  // Names already taken: our own guests are replaced, anything else is an error.
  const existing = new Map((await client.listAllDomains()).map((d) => [d.name, d]));
  const lab = new Map((await findLabGuests(client)).map((g) => [g.domain.name, g]));
  const foreign = names.filter((n) => existing.has(n) && !lab.has(n));
  if (foreign.length > 0) throw new LabError(`domain ${foreign.join(', ')} exists and is not a lab guest; choose another --prefix`);
  if (opts.origin === 'run') {
    const inTheWay = labUpGuestsInTheWay([...lab.values()], names);
    if (inTheWay.length > 0) {
      throw new LabError(`${inTheWay.join(', ')} ${inTheWay.length === 1 ? 'is a guest' : 'are guests'} of 'lab up', which lab run does not replace: remove ${inTheWay.length === 1 ? 'it' : 'them'} first (lab down) or give lab run another --prefix`);
    }
  }

  let image: LabImage;
  try {
    image = await buildImage({ root: opts.root, progress: opts.progress });
  } catch (err) {
    throw new LabError(`building the guest image failed: ${(err as Error).message}`);
  }
  const accel = await chooseDomainType(client, image, { root: opts.root, uri: opts.uri, progress: opts.progress, forced: opts.accel });
  opts.progress.say(`domain type ${accel.domainType}${accel.domainType === 'qemu' ? ' (software emulation)' : ''}: ${accel.reason}`);

  await fs.mkdir(guestsDir(opts.root), { recursive: true });
  const free = freeBytes(guestsDir(opts.root));
  if (free < GUEST_SPACE_BYTES) throw new LabError(`no disk space: ${guestsDir(opts.root)} has ${(free / 1048576).toFixed(1)} MiB free, the guests need ${GUEST_SPACE_BYTES / 1048576} MiB`);

  for (const n of names) {
    const old = lab.get(n);
    if (old) {
      opts.progress.say(`replacing lab guest ${n}`);
      await removeGuest(client, old.domain, old.marker.dir);
    }
  }

  const guests: LabGuest[] = [];
  const t0 = Date.now();
  const starting = requests.filter((r) => r.start !== false);
  const shapes = [...new Set(requests.map((r) => `${r.vcpus} vCPU, ${r.memoryMiB}/${r.maxMemoryMiB} MiB${r.virtioMem ? ` + virtio-mem ${r.virtioMem.sizeMiB} MiB (${r.virtioMem.requestedMiB ?? 0} plugged at boot)` : ''}${r.balloon === false ? ', no balloon' : r.freePageReporting === false ? ', no free page reporting' : ', free page reporting'}${(r.diskMiB ?? DEFAULT_DISK_MIB) > 0 ? `, ${r.diskMiB ?? DEFAULT_DISK_MIB} MiB sparse disk` : ', no disk'}`))].join('; ');
  const later = requests.length - starting.length;
  await opts.progress.step(`defining and starting ${starting.length} guest${starting.length === 1 ? '' : 's'}${later > 0 ? ` (and defining ${later} to start later)` : ''} (${shapes})`, async () => {
    for (const r of requests) {
      const files = guestFiles(opts.root, r.name);
      await fs.mkdir(files.dir, { recursive: true });
      await fs.rm(files.consoleLog, { force: true });
      await fs.rm(files.workloadSocket, { force: true });
      const diskMiB = r.diskMiB ?? DEFAULT_DISK_MIB;
      await createSparseDisk(files.disk, diskMiB);
      const xml = labDomainXml({
        name: r.name, domainType: accel.domainType, vcpus: r.vcpus, memoryMiB: r.memoryMiB, maxMemoryMiB: r.maxMemoryMiB,
        kernel: image.kernel, initrd: image.initrd, consoleLog: files.consoleLog, workloadSocket: files.workloadSocket,
        imageKey: image.key, dir: files.dir, cmdline: opts.cpuLoad !== undefined ? `vb.${cpuCommand(opts.cpuLoad).replace(' ', '=')}` : undefined,
        balloon: r.balloon, statsPeriod: r.statsPeriod, freePageReporting: r.freePageReporting !== false, ...(diskMiB > 0 ? { disk: files.disk } : {}),
        ...(opts.origin ? { origin: opts.origin } : {}), ...(r.virtioMem ? { virtioMem: r.virtioMem } : {}),
      });
      const dom = await client.call('domainDefineXmlFlags', { xml, flags: 0 }).then((r) => r.dom);
      const start = r.start !== false;
      if (start) await client.call('domainCreateWithFlags', { dom, flags: 0 });
      guests.push({ name: r.name, uuid: dom.uuid, started: start, ...(r.balloon === false ? {} : { memoryMiB: r.memoryMiB }), statsFromBoot: r.balloon !== false && r.statsPeriod !== 0, diskMiB, ...(r.virtioMem ? { virtioMem: r.virtioMem } : {}), ...files });
    }
  });

  const running = guests.filter((g) => g.started);
  await waitForWorkloads(client, running, opts);
  const bootSeconds = (Date.now() - t0) / 1000;
  await waitForBalloons(client, running, opts);
  return { image, accel, guests, bootSeconds };
}

/** A fresh sparse file of `mib` MiB (removed when 0): it reads as zeros and takes no space until written. */
async function createSparseDisk(file: string, mib: number): Promise<void> {
  await fs.rm(file, { force: true });
  if (mib === 0) return;
  const handle = await fs.open(file, 'w', 0o644);
  try {
    await handle.truncate(mib * 1024 * 1024);
  } finally {
    await handle.close();
  }
}

/** Boots a guest labUp defined with `start: false`; does not wait for it. */
export async function startLabGuest(client: LibvirtClient, guest: LabGuest): Promise<void> {
  await fs.rm(guest.consoleLog, { force: true });
  await client.call('domainCreateWithFlags', { dom: { name: guest.name, uuid: guest.uuid }, flags: 0 });
  guest.started = true;
}

/** Waits until every guest's workload program answers; on timeout shows the console tail of each late one. */
async function waitForWorkloads(client: LibvirtClient, guests: LabGuest[], opts: LabUpOptions): Promise<void> {
  if (guests.length === 0) return;
  const controller = new WorkloadController((name) => guests.find((g) => g.name === name)!.workloadSocket, 1_000);
  const pending = new Set(guests.map((g) => g.name));
  const t0 = Date.now();
  let lastSay = t0;
  opts.progress.say(`waiting for ${guests.length} guest${guests.length === 1 ? '' : 's'} to answer on the workload channel (up to ${opts.bootTimeoutSeconds} s)`);
  while (pending.size > 0) {
    await Promise.all([...pending].map(async (name) => {
      if (await controller.ping(name)) {
        pending.delete(name);
        opts.progress.say(`${name} up after ${seconds(Date.now() - t0)}`);
      }
    }));
    if (pending.size === 0) break;
    for (const g of guests.filter((x) => pending.has(x.name))) {
      const state = (await client.domainState({ name: g.name, uuid: g.uuid })).state;
      if (state !== 'running' && state !== 'blocked') await failGuest(g, `${g.name} is ${state} instead of booting`, opts);
    }
    if (Date.now() - t0 > opts.bootTimeoutSeconds * 1000) {
      const late = guests.filter((g) => pending.has(g.name));
      for (const g of late.slice(1)) await showTail(g, opts.progress);
      await failGuest(late[0]!, `${late.map((g) => g.name).join(', ')} did not come up within ${opts.bootTimeoutSeconds} s (no answer on the workload channel)`, opts);
    }
    if (Date.now() - lastSay >= 5_000) {
      lastSay = Date.now();
      opts.progress.say(`${guests.length - pending.size}/${guests.length} up, waiting for ${[...pending].join(', ')} (${seconds(Date.now() - t0)})`);
    }
    await sleep(500);
  }
}

async function showTail(g: LabGuest, progress: Progress): Promise<void> {
  const tail = consoleTail(await readConsole(g.consoleLog), 12);
  progress.say(`${g.name} console (${g.consoleLog}), last ${tail.length} lines:`);
  for (const line of tail.length > 0 ? tail : ['(empty: the kernel printed nothing)']) progress.say(`  | ${line}`);
}

async function failGuest(g: LabGuest, message: string, opts: LabUpOptions): Promise<never> {
  await showTail(g, opts.progress);
  throw new LabError(`${message}; console above, ${opts.failureNote ?? `guests left running for a look (${virtbalanceCommand()} lab down removes them)`}`);
}

/** Waits until each balloon has reached the guest's start size and reports guest stats. */
async function waitForBalloons(client: LibvirtClient, guests: LabGuest[], opts: LabUpOptions): Promise<void> {
  const ballooned = guests.filter((g) => g.memoryMiB !== undefined);
  if (ballooned.length === 0) return;
  const sizes = [...new Set(ballooned.map((g) => g.memoryMiB))].join('/');
  await opts.progress.step(`waiting for balloons to reach ${sizes} MiB`, async () => {
    const t0 = Date.now();
    for (;;) {
      // What the controllers read (all-domain stats): balloon.current follows QEMU's throttled
      // BALLOON_CHANGE events, up to a second behind the per-domain call's `actual`; wait for both.
      const [records, stats] = await Promise.all([
        client.getAllDomainStats(DomainStatsGroup.Balloon, 0, ballooned.map((g) => ({ name: g.name, uuid: g.uuid, id: -1 }))),
        Promise.all(ballooned.map((g) => client.memoryStats({ name: g.name, uuid: g.uuid }))),
      ]);
      const settled = ballooned.filter((g, i) => {
        const limitKiB = g.memoryMiB! * 1024 * 1.01;
        // All-domain stats' balloon.current counts what a virtio-mem device plugged; `actual` does not.
        const pluggedKiB = (g.virtioMem?.requestedMiB ?? 0) * 1024;
        const params = records.find((r) => r.domain.uuid === g.uuid)?.params;
        const current = params ? paramNumber(params, 'balloon.current') : undefined;
        const s = stats[i]!;
        // Without a stats period from boot there is no fresh `unused` to wait for.
        return s.actual !== undefined && s.actual <= limitKiB && current !== undefined && current <= limitKiB + pluggedKiB && (s.unused !== undefined || !g.statsFromBoot);
      }).length;
      if (settled === ballooned.length) return `${settled}/${ballooned.length} settled`;
      if (Date.now() - t0 > opts.balloonSettleSeconds * 1000) {
        opts.progress.say(`warning: only ${settled}/${ballooned.length} balloons reached ${sizes} MiB within ${opts.balloonSettleSeconds} s`);
        return `${settled}/${ballooned.length} settled`;
      }
      await sleep(500);
    }
  }, (s) => s);
}

export interface LabGuestStatus {
  name: string;
  uuid: string;
  state: string;
  vcpus: number;
  /** Total vCPU time, s. */
  vcpuSeconds: number;
  balloon?: { currentMiB: number; maximumMiB: number; unusedMiB?: number; usableMiB?: number; diskCachesMiB?: number; lastUpdate?: number };
  /** What the host saw the guest read from its disks (libvirt's block.N.rd.bytes, summed), MiB. */
  blockReadMiB?: number;
  /**
   * A guest with virtio-mem: its boot memory, the devices' size, what the host asked them to plug
   * and what they have plugged (the live XML's `<current>`; absent while shut off), MiB.
   */
  memoryDevice?: { bootMiB: number; sizeMiB: number; requestedMiB: number; pluggedMiB?: number };
  workload?: WorkloadStatus;
  workloadError?: string;
  oomKills: OomKill[];
  consoleLog: string;
}

export async function labStatus(client: LibvirtClient): Promise<LabGuestStatus[]> {
  const guests = await findLabGuests(client);
  if (guests.length === 0) return [];
  const active = guests.filter((g) => g.active).map((g) => g.domain);
  const records = active.length > 0
    ? await client.getAllDomainStats(DomainStatsGroup.State | DomainStatsGroup.Vcpu | DomainStatsGroup.Balloon | DomainStatsGroup.Block, 0, active)
    : [];
  return Promise.all(guests.map(async (g): Promise<LabGuestStatus> => {
    const files = guestFilesIn(g.marker.dir);
    const params = records.find((r) => r.domain.uuid === g.domain.uuid)?.params;
    const num = (k: string) => (params ? paramNumber(params, k) : undefined);
    const vcpus = num('vcpu.current') ?? 0;
    let vcpuNs = 0;
    for (let i = 0; i < vcpus; i++) vcpuNs += num(`vcpu.${i}.time`) ?? 0;
    const current = num('balloon.current');
    const maximum = num('balloon.maximum');
    const unused = num('balloon.unused');
    const usable = num('balloon.usable');
    const lastUpdate = num('balloon.last-update');
    const diskCaches = num('balloon.disk_caches');
    const readBytes = params ? blockReadBytes(params) : undefined;
    const status: LabGuestStatus = {
      name: g.domain.name,
      uuid: g.domain.uuid,
      state: g.active ? stateOf(num('state.state')) : 'shutoff',
      vcpus,
      vcpuSeconds: vcpuNs / 1e9,
      oomKills: await guestOomKills(files.consoleLog),
      consoleLog: files.consoleLog,
    };
    if (current !== undefined && maximum !== undefined) {
      status.balloon = {
        currentMiB: current / 1024, maximumMiB: maximum / 1024,
        ...(unused !== undefined ? { unusedMiB: unused / 1024 } : {}),
        ...(usable !== undefined ? { usableMiB: usable / 1024 } : {}),
        ...(diskCaches !== undefined ? { diskCachesMiB: diskCaches / 1024 } : {}),
        ...(lastUpdate !== undefined ? { lastUpdate } : {}),
      };
    }
    if (readBytes !== undefined) status.blockReadMiB = readBytes / 1048576;
    const devices = g.memoryDevices ?? [];
    if (devices.length > 0 && g.memoryKiB !== undefined) {
      const sum = (f: (d: (typeof devices)[number]) => number) => devices.reduce((n, d) => n + f(d), 0);
      const sizeKiB = sum((d) => d.sizeKiB);
      status.memoryDevice = {
        bootMiB: (g.memoryKiB - sizeKiB) / 1024, sizeMiB: sizeKiB / 1024, requestedMiB: sum((d) => d.requestedKiB) / 1024,
        ...(g.active ? { pluggedMiB: sum((d) => d.currentKiB ?? 0) / 1024 } : {}),
      };
    }
    if (g.active) {
      try {
        status.workload = await new WorkloadController(() => files.workloadSocket, 2_000).status(g.domain);
      } catch (err) {
        status.workloadError = (err as Error).message;
      }
    }
    return status;
  }));
}

const STATES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'];
function stateOf(code: number | undefined): string {
  return code === undefined ? 'unknown' : STATES[code] ?? 'unknown';
}

/** Destroys and undefines the lab guests with these exact names (others are never touched); returns the names removed. */
export async function labRemove(client: LibvirtClient, names: readonly string[], progress: Progress): Promise<string[]> {
  const wanted = new Set(names);
  const guests = (await findLabGuests(client)).filter((g) => wanted.has(g.domain.name));
  if (guests.length === 0) return [];
  return progress.step(`removing ${guests.length} lab guest${guests.length === 1 ? '' : 's'}`, async () => {
    for (const g of guests) await removeGuest(client, g.domain, g.marker.dir);
    return guests.map((g) => g.domain.name);
  }, (removed) => removed.join(', '));
}

/** Destroys and undefines every lab guest (or those whose name starts with `prefix`) and removes its files; returns their names. */
export async function labDown(client: LibvirtClient, progress: Progress, prefix = ''): Promise<string[]> {
  const guests = (await findLabGuests(client)).filter((g) => g.domain.name.startsWith(prefix));
  // None is no step: the caller says so, once.
  if (guests.length === 0) return [];
  return progress.step(`removing ${guests.length} lab guest${guests.length === 1 ? '' : 's'}`, async () => {
    for (const g of guests) {
      await removeGuest(client, g.domain, g.marker.dir);
      progress.say(`removed ${g.domain.name}${g.active ? ' (was running)' : ''}`);
    }
    return guests.map((g) => g.domain.name);
  });
}
