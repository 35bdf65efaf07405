// How a scenario is played on lab guests: which guests, their sizes and initial pins on this host,
// and, in words, every way the real run differs from the simulated one. Nothing is scaled silently:
// what cannot be reproduced is said, and the one mapping made (pCPUs) is said too.
import { readdirSync } from 'node:fs';
import type { DomainSpec, Scenario } from '../host/sim/index.js';
import { defaultMemoryOptions, type MemoryOptions } from '../memory/coordinator.js';
import { cpuOptionsFor, memoryOptionsFor } from '../control/simulate.js';
import { defaultCpuSchedulerOptions, type CpuSchedulerOptions } from '../cpu/options.js';
import { checkGuestName, type LabVirtioMem } from './domain-xml.js';
import { DEFAULT_DISK_MIB } from './lab.js';
import type { ScenarioRead } from './workload-player.js';

export const DEFAULT_LAB_RUN_PREFIX = 'aos_';

export interface LabGuestPlan {
  /** The scenario domain this guest plays. */
  spec: DomainSpec;
  /** The lab guest's name: prefix + the scenario's domain name. */
  name: string;
  vcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  balloon: boolean;
  /** Initial pin of each vCPU on this host (null: unpinned, every host pCPU). */
  pins: Array<number[] | null>;
  /** Size of its disk, MiB: room for every scan of fresh data and the hot sets. */
  diskMiB: number;
  /** Free page reporting on its balloon (the run's choice, whatever the scenario says; a difference is a note). */
  freePageReporting: boolean;
  /** Its virtio-mem device, as the scenario's `memoryDevice` says (size, block, requested at boot); none when absent. */
  virtioMem?: Required<LabVirtioMem>;
}

export interface LabPlan {
  scenario: Scenario;
  hostPcpus: number;
  guests: LabGuestPlan[];
  /** One line each: the pCPU mapping and everything the lab does not reproduce. */
  notes: string[];
}

/** A scenario pCPU set on a host with `hostPcpus`: pCPU p becomes p mod hostPcpus. */
export function mapPcpus(set: readonly number[], hostPcpus: number): number[] {
  return [...new Set(set.map((p) => p % hostPcpus))].sort((a, b) => a - b);
}

export function labGuestName(prefix: string, domain: string): string {
  return `${prefix}${domain}`;
}

/** The results folder of a lab run: `lab-<scenario>`, without doubling a scenario's own `lab-`. */
export function labRunDirName(scenarioName: string): string {
  return scenarioName.startsWith('lab-') ? scenarioName : `lab-${scenarioName}`;
}

export interface LabPlanOptions {
  prefix: string;
  hostPcpus: number;
  hostMemoryMiB?: number;
  /** Free page reporting on every guest's balloon (default true; `--no-free-page-reporting`). */
  freePageReporting?: boolean;
}

export function planLabRun(scenario: Scenario, options: LabPlanOptions): LabPlan {
  const { prefix, hostPcpus } = options;
  if (!(Number.isInteger(hostPcpus) && hostPcpus > 0)) throw new RangeError(`host pCPUs must be a positive integer, got ${hostPcpus}`);
  const guests = scenario.domains.map((spec): LabGuestPlan => {
    const name = labGuestName(prefix, spec.name);
    checkGuestName(name);
    return {
      spec,
      name,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      maxMemoryMiB: spec.maxMemoryMiB,
      balloon: spec.balloon,
      pins: spec.pin.map((set) => (set === null ? null : mapPcpus(set, hostPcpus))),
      diskMiB: diskMiBFor(spec.reads),
      // As the scenario models it, unless the run says otherwise for every guest.
      freePageReporting: spec.balloon && (options.freePageReporting ?? spec.freePageReporting ?? false),
      ...(spec.memoryDevice ? { virtioMem: { sizeMiB: spec.memoryDevice.sizeMiB, blockMiB: spec.memoryDevice.blockMiB, requestedMiB: spec.memoryDevice.requestedMiB } } : {}),
    };
  });
  return { scenario, hostPcpus, guests, notes: planNotes(scenario, guests, options) };
}

/**
 * A disk big enough that every scan reads data never read before and the hot set (the disk's last
 * MiB, at most half of it) never overlaps a scan: vb-workload's layout. Sparse, so size is free.
 */
export function diskMiBFor(reads: readonly ScenarioRead[]): number {
  const scans = reads.reduce((sum, r) => sum + (r.kind === 'scan' ? r.sizeMiB : 0), 0);
  const hot = Math.max(0, ...reads.map((r) => (r.kind === 'hot' ? r.sizeMiB : 0)));
  const needed = Math.max(scans + hot, 2 * hot) + 64;
  return Math.max(DEFAULT_DISK_MIB, Math.ceil(needed / 1024) * 1024);
}

function planNotes(scenario: Scenario, guests: LabGuestPlan[], options: LabPlanOptions): string[] {
  const notes: string[] = [];
  const { hostPcpus } = options;
  const scenarioPcpus = scenario.host.pcpus;
  const pinned = scenario.domains.some((d) => d.pin.some((p) => p !== null));
  const vcpus = scenario.domains.reduce((n, d) => n + d.vcpus, 0);
  if (scenarioPcpus > hostPcpus) {
    const table = Array.from({ length: scenarioPcpus }, (_, p) => `${p}→${p % hostPcpus}`).join(' ');
    notes.push(`pCPUs: the scenario assumes ${scenarioPcpus} pCPUs, this host has ${hostPcpus}: scenario pCPU p runs on host pCPU p mod ${hostPcpus} (${table})${pinned ? '' : ' (no initial pins in this scenario)'}`);
    notes.push(`load is not scaled: ${vcpus} vCPU${vcpus === 1 ? '' : 's'} on ${hostPcpus} pCPUs here, where the scenario had ${scenarioPcpus} pCPUs for them`);
  } else if (scenarioPcpus < hostPcpus) {
    notes.push(`pCPUs: the scenario assumes ${scenarioPcpus} pCPUs, this host has ${hostPcpus}: pins are kept, unpinned vCPUs and the scheduler may use all ${hostPcpus}`);
  } else {
    notes.push(`pCPUs: ${hostPcpus} on the host, as the scenario assumes`);
  }
  if (options.hostMemoryMiB !== undefined && scenario.controllers.includes('memory')) {
    notes.push(`host memory is this host's (${Math.round(options.hostMemoryMiB)} MiB available to guests now), not the scenario's ${scenario.host.memoryMiB} MiB (overhead ${scenario.host.overheadMiB} MiB); reserve ${scenario.host.reserveMiB} MiB as the scenario says`);
  }
  if (scenario.controllers.includes('memory')) {
    notes.push(`memory use is played by vb-workload on top of what each guest uses idle; the balloon moves at the real guest's speed, not the scenario's ${scenario.host.balloonRateMiBps} MiB/s`);
  }
  const devices = guests.filter((g) => g.virtioMem);
  if (devices.length > 0) {
    const shapes = devices.map((g) => `${g.spec.name} ${g.maxMemoryMiB} MiB + ${g.virtioMem!.sizeMiB} MiB (${g.virtioMem!.requestedMiB} plugged at boot)`).join(', ');
    const rates = scenario.host.memoryDevice ? `host.memoryDevice's ${scenario.host.memoryDevice.plugMiBps}/${scenario.host.memoryDevice.unplugMiBps} MiB/s` : "the simulator's default rates";
    notes.push(`virtio-mem (${shapes}): real devices, with virtio_mem loaded and memhp_default_state=online_movable; they plug and unplug at the real guest's speed, not ${rates}`);
  }
  const requested = scenario.domains.filter((d) => (d.memoryDevice?.requests.length ?? 0) > 0).map((d) => d.name);
  if (requested.length > 0) notes.push(`virtio-mem requests someone else makes (memoryDevice.requests of ${requested.join(', ')}) are not played on the lab guests`);
  const cached = scenario.domains.filter((d) => d.cachesMiB !== 0).map((d) => d.name);
  if (cached.length > 0) notes.push(`page cache given directly (cachesMiB of ${cached.join(', ')}) is not reproduced; only reads fill a lab guest's cache`);
  const readers = scenario.domains.filter((d) => d.reads.length > 0);
  if (readers.length > 0) {
    notes.push(`file reads (${readers.map((d) => d.name).join(', ')}) are played by vb-workload reading the guest's virtio disk (a sparse file) at the scenario's rates, at most as fast as the emulated disk reads (25-85 MiB/s under software emulation); the simulated disk's speed (${scenario.host.diskReadMiBps} MiB/s) is not reproduced`);
  }
  for (const d of readers) {
    const reads = d.reads;
    const overlaps = (kind: 'scan' | 'hot') => {
      const rs = reads.filter((r) => r.kind === kind).sort((a, b) => a.atSeconds - b.atSeconds);
      return rs.some((r, i) => i > 0 && r.atSeconds < readEnd(rs[i - 1]!));
    };
    if (overlaps('scan')) notes.push(`${d.name}: scans overlap; a lab guest runs one at a time, a new scan replaces the one still reading`);
    if (overlaps('hot')) notes.push(`${d.name}: hot sets overlap; a lab guest re-reads one at a time, the latest started`);
  }
  const bursty = scenario.domains.flatMap((d) => d.cpu.flatMap((w, i) => (w.kind === 'bursty' ? [`${d.name} vCPU${i} ${w.duty}@${w.periodMs} ms`] : [])));
  if (bursty.length > 0) {
    notes.push(`bursty vCPUs (${bursty.join(', ')}) are played by vb-workload as duty@period, clock-bound as in the simulator; each burst's phase is the guest's own (when its program started or was last told), not the scenario's phase`);
  }
  const weighted = scenario.domains.filter((d) => d.weight !== 1).map((d) => d.name);
  if (weighted.length > 0) notes.push(`CPU weights are not reproduced (${weighted.join(', ')}): every guest has the host's default share`);
  const stale = scenario.domains.filter((d) => d.statsStopSeconds !== null).map((d) => `${d.name} at ${d.statsStopSeconds} s`);
  if (stale.length > 0) notes.push(`stats stopping (${stale.join(', ')}) is played by setting the guest's stats period to 0 then; a coordinator that sets it again revives them, which a hung driver would not`);
  const late = guests.filter((g) => g.spec.startSeconds > 0).map((g) => `${g.name} at ${g.spec.startSeconds} s`);
  if (late.length > 0) notes.push(`guests starting later (${late.join(', ')}) are booted then and need a few seconds before their workload runs`);
  const noStats = scenario.domains.filter((d) => d.statsPeriod === 0 && d.balloon).map((d) => d.name);
  if (noStats.length > 0 && scenario.controllers.includes('memory')) {
    notes.push(`${noStats.join(', ')} boot without a balloon stats period (statsPeriod 0): no guest statistics until a coordinator sets one`);
  }
  const reportingDiffers = (on: boolean) => (scenario.controllers.includes('memory') ? guests : [])
    .filter((g) => g.spec.balloon && g.freePageReporting === on && (g.spec.freePageReporting ?? false) !== on).map((g) => g.spec.name);
  const reportingOn = reportingDiffers(true);
  if (reportingOn.length > 0) notes.push(`free page reporting is on for ${reportingOn.join(', ')}, which the scenario models without it: memory the guest frees goes back to the host by itself`);
  const reportingOff = reportingDiffers(false);
  if (reportingOff.length > 0) notes.push(`free page reporting is off (--no-free-page-reporting) for ${reportingOff.join(', ')}, which the scenario models with it`);
  return notes;
}

/** When a read is over, scenario seconds (a scan at its rate; a hot set at its end, or never). */
function readEnd(r: ScenarioRead): number {
  if (r.kind === 'scan') return r.atSeconds + r.sizeMiB / r.rateMiBps;
  return r.untilSeconds ?? Number.POSITIVE_INFINITY;
}

/** The vCPU scheduler's options for a scenario on lab guests: its dedicated guests under the lab names. */
export function labCpuOptions(scenario: Scenario, prefix: string, base: CpuSchedulerOptions = defaultCpuSchedulerOptions): CpuSchedulerOptions {
  return cpuOptionsFor(scenario, base, (name) => labGuestName(prefix, name));
}

/** The memory coordinator's options for a scenario on lab guests: the scenario's floors and weights under the lab names. */
export function labMemoryOptions(scenario: Scenario, prefix: string, base: MemoryOptions = defaultMemoryOptions): MemoryOptions {
  const o = memoryOptionsFor(scenario, base);
  const rename = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [scenario.domains.some((d) => d.name === k) ? labGuestName(prefix, k) : k, v]));
  return { ...o, floorsMiB: rename(o.floorsMiB), weights: rename(o.weights) };
}

/**
 * `lab run cpu 2` → the shipped scenario whose file starts with `cpu-2-`, never its noisy variant
 * (`-noisy.yaml`: simulated measurement noise, which real guests bring themselves). Undefined when
 * `kind` is not cpu/memory/mixed or there is no such file.
 */
export function shippedScenarioByNumber(dir: string, kind: string, number: string): string | undefined {
  if (!/^(cpu|memory|mixed)$/.test(kind) || !/^\d+$/.test(number)) return undefined;
  const match = readdirSync(dir).filter((f) => f.startsWith(`${kind}-${Number(number)}-`) && f.endsWith('.yaml') && !f.endsWith('-noisy.yaml')).sort();
  return match[0] === undefined ? undefined : `${dir}${dir.endsWith('/') ? '' : '/'}${match[0]}`;
}

/** The shipped grader cases by kind, as `lab run` takes them: `cpu 1-13, memory 1-5, mixed 1`. */
export function shippedScenarioCases(dir: string): string {
  const numbers = new Map<string, number[]>();
  for (const f of readdirSync(dir)) {
    const m = /^(cpu|memory|mixed)-(\d+)-.*\.yaml$/.exec(f);
    if (m) numbers.set(m[1]!, [...(numbers.get(m[1]!) ?? []), Number(m[2])]);
  }
  return [...numbers].sort(([a], [b]) => a.localeCompare(b)).map(([kind, ns]) => `${kind} ${numberRanges(ns)}`).join(', ');
}

/** [1, 2, 3, 5] → '1-3,5'. */
function numberRanges(ns: readonly number[]): string {
  const sorted = [...new Set(ns)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
