// What lab guests got from the CPU over a window, measured through our libvirt client: each guest's
// vCPU time (share of one pCPU) and delay (time its vCPUs were runnable but waited for a pCPU), its
// QEMU process's whole CPU time (vCPUs + emulator and I/O threads), and each host pCPU's busy time
// from the node's CPU statistics, which also shows how much of the host went to work other than the
// guests (on a shared machine that work competes with them and no vCPU placement can help it).
import type { LibvirtClient } from '../libvirt/client.js';
import { paramNumber } from '../libvirt/client.js';
import type { DomainHandle } from '../libvirt/protocol.js';
import { DomainStatsGroup, GetAllDomainStatsFlags } from '../libvirt/protocol.js';

export interface CpuSample {
  atNs: number;
  /** Cumulative vCPU time per guest (all its vCPUs), ns. */
  vcpuNs: Map<string, number>;
  /** Cumulative vCPU delay per guest (runnable, waiting for a pCPU), ns. */
  delayNs: Map<string, number>;
  /** The same per vCPU of each guest, ns. */
  vcpuEachNs: Map<string, number[]>;
  delayEachNs: Map<string, number[]>;
  /** Cumulative CPU time of each guest's whole QEMU process (libvirt's `cpu.time`), ns. */
  processNs: Map<string, number>;
  /** Per host pCPU: cumulative busy (user + kernel) and total (busy + idle + iowait), ns. */
  pcpus: { busyNs: number; totalNs: number }[];
}

export interface CpuWindow {
  seconds: number;
  /** Per guest: fraction of one pCPU its vCPUs ran. */
  guestShare: Map<string, number>;
  /** Per guest: fraction of the window its vCPUs waited for a pCPU while runnable (summed over vCPUs). */
  guestDelay: Map<string, number>;
  /** Per guest, per vCPU: fraction of one pCPU it ran, and of the window it waited. */
  vcpuShare: Map<string, number[]>;
  vcpuDelay: Map<string, number[]>;
  /** Per host pCPU: fraction of the window it was busy (anything, guests or not). */
  pcpuBusy: number[];
  /** Host pCPUs' busy time not spent running these guests' vCPUs, in pCPUs (0..pcpus). */
  otherWork: number;
  /** Part of otherWork that these guests' QEMU processes spent outside their vCPUs (emulator, I/O threads), pCPUs. */
  qemuOverhead: number;
}

export async function sampleCpu(client: LibvirtClient, guests: readonly DomainHandle[], hostPcpus: number): Promise<CpuSample> {
  const [records, ...node] = await Promise.all([
    // NOWAIT: vCPU times need no monitor, so a guest whose QEMU hangs does not hold the window 30 s per sample.
    client.getAllDomainStats(DomainStatsGroup.Vcpu | DomainStatsGroup.CpuTotal, GetAllDomainStatsFlags.NoWait, [...guests]),
    ...Array.from({ length: hostPcpus }, (_, cpu) => client.nodeCpuStats(cpu)),
  ]);
  const atNs = Number(process.hrtime.bigint());
  const vcpuNs = new Map<string, number>();
  const delayNs = new Map<string, number>();
  const processNs = new Map<string, number>();
  const vcpuEachNs = new Map<string, number[]>();
  const delayEachNs = new Map<string, number[]>();
  for (const g of guests) {
    const params = records.find((r) => r.domain.uuid === g.uuid)?.params;
    if (!params) throw new Error(`no vCPU statistics for ${g.name} (is it running?)`);
    const n = paramNumber(params, 'vcpu.current') ?? 0;
    const times = Array.from({ length: n }, (_, i) => paramNumber(params, `vcpu.${i}.time`) ?? 0);
    const delays = Array.from({ length: n }, (_, i) => paramNumber(params, `vcpu.${i}.delay`) ?? 0);
    vcpuNs.set(g.name, times.reduce((a, b) => a + b, 0));
    delayNs.set(g.name, delays.reduce((a, b) => a + b, 0));
    vcpuEachNs.set(g.name, times);
    delayEachNs.set(g.name, delays);
    processNs.set(g.name, paramNumber(params, 'cpu.time') ?? vcpuNs.get(g.name)!);
  }
  const pcpus = node.map((s) => {
    const busyNs = (s.user ?? 0) + (s.kernel ?? 0);
    return { busyNs, totalNs: busyNs + (s.idle ?? 0) + (s.iowait ?? 0) };
  });
  return { atNs, vcpuNs, delayNs, vcpuEachNs, delayEachNs, processNs, pcpus };
}

export function cpuWindow(a: CpuSample, b: CpuSample): CpuWindow {
  const elapsedNs = b.atNs - a.atNs;
  const perGuest = (end: Map<string, number>, start: Map<string, number>) =>
    new Map([...end].map(([name, ns]) => [name, (ns - (start.get(name) ?? ns)) / elapsedNs]));
  const guestShare = perGuest(b.vcpuNs, a.vcpuNs);
  const guestDelay = perGuest(b.delayNs, a.delayNs);
  const processShare = perGuest(b.processNs, a.processNs);
  const perVcpu = (end: Map<string, number[]>, start: Map<string, number[]>) =>
    new Map([...end].map(([name, ns]) => [name, ns.map((x, i) => (x - (start.get(name)?.[i] ?? x)) / elapsedNs)]));
  const vcpuShare = perVcpu(b.vcpuEachNs, a.vcpuEachNs);
  const vcpuDelay = perVcpu(b.delayEachNs, a.delayEachNs);
  const pcpuBusy = b.pcpus.map((p, i) => {
    const q = a.pcpus[i]!;
    const total = p.totalNs - q.totalNs;
    return total > 0 ? (p.busyNs - q.busyNs) / total : 0;
  });
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  const guests = sum(guestShare);
  const busy = pcpuBusy.reduce((s, v) => s + v, 0);
  return {
    seconds: elapsedNs / 1e9, guestShare, guestDelay, vcpuShare, vcpuDelay, pcpuBusy,
    otherWork: Math.max(0, busy - guests),
    qemuOverhead: Math.max(0, sum(processShare) - guests),
  };
}
