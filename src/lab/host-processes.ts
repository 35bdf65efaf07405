// Where the machine's CPU went during a measurement window, from /proc (the lab daemon is local):
// the whole machine's busy time (/proc/stat) and, per process, its user + system time
// (/proc/PID/stat), so a bench can say how much non-guest processes took and which ones. On a
// machine shared with builds and other tests this is what makes a guest-share figure readable.
import { readFileSync, readdirSync } from 'node:fs';

/** USER_HZ: the unit of /proc/stat and /proc/PID/stat times (100 on every Linux build that matters). */
const TICKS_PER_S = 100;

export interface HostCpuSnapshot {
  atMs: number;
  /** Machine-wide busy and total ticks (all CPUs). */
  busyTicks: number;
  totalTicks: number;
  /** Per process: its command name and user + system ticks. */
  processes: Map<number, { comm: string; ticks: number }>;
}

export interface HostProcessUse {
  comm: string;
  /** pCPUs it took on average over the window. */
  pcpus: number;
}

export interface HostCpuWindow {
  seconds: number;
  /** pCPUs the whole machine was busy on average (0..cores). */
  busyPcpus: number;
  /** pCPUs processes other than `excludePids` (the guests' QEMU processes) took, counting those that came and went. */
  nonGuestPcpus: number;
  /** The busiest non-guest processes by command name (or the label given for their pid), most first. */
  top: HostProcessUse[];
}

/** Reads /proc/stat and every /proc/PID/stat; undefined where /proc is not readable (not Linux). */
export function hostCpuSnapshot(): HostCpuSnapshot | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already in user and nice)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busyTicks = user + nice + system + irq + softirq + steal;
  const processes = new Map<number, { comm: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const line = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ... : comm may hold spaces and parentheses, so split at the last ')'.
      const close = line.lastIndexOf(')');
      const comm = line.slice(line.indexOf('(') + 1, close);
      const rest = line.slice(close + 2).split(' ');
      // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
      processes.set(Number(entry), { comm, ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // gone between the listing and the read
    }
  }
  return { atMs: Date.now(), busyTicks, totalTicks: busyTicks + idle + iowait, processes };
}

/** The window between two snapshots; `guestProcessPcpus` is what the guests' QEMU processes took (libvirt's cpu.time), subtracted from the machine's busy time. */
export function hostCpuWindow(a: HostCpuSnapshot, b: HostCpuSnapshot, excludePids: ReadonlySet<number>, guestProcessPcpus: number, labels: ReadonlyMap<number, string> = new Map(), topN = 3): HostCpuWindow {
  const seconds = Math.max(1e-3, (b.atMs - a.atMs) / 1000);
  const busyPcpus = (b.busyTicks - a.busyTicks) / TICKS_PER_S / seconds;
  const byComm = new Map<string, number>();
  for (const [pid, p] of b.processes) {
    if (excludePids.has(pid)) continue;
    const before = a.processes.get(pid);
    const ticks = before && before.comm === p.comm ? p.ticks - before.ticks : p.ticks;
    const name = labels.get(pid) ?? p.comm;
    if (ticks > 0) byComm.set(name, (byComm.get(name) ?? 0) + ticks / TICKS_PER_S / seconds);
  }
  const top = [...byComm].map(([comm, pcpus]) => ({ comm, pcpus })).sort((x, y) => y.pcpus - x.pcpus).slice(0, topN);
  return { seconds, busyPcpus, nonGuestPcpus: Math.max(0, busyPcpus - guestProcessPcpus), top };
}

/** The QEMU process of each running guest, from libvirt's pid files (readable when the daemon runs as root). */
export function guestQemuPids(names: readonly string[], runDir = '/run/libvirt/qemu'): Set<number> {
  const pids = new Set<number>();
  for (const name of names) {
    try {
      const pid = Number(readFileSync(`${runDir}/${name}.pid`, 'utf8').trim());
      if (pid > 0) pids.add(pid);
    } catch {
      // not readable here: the guest's process then shows in the top list
    }
  }
  return pids;
}

export function describeHostWindow(w: HostCpuWindow): string {
  const top = w.top.filter((p) => p.pcpus >= 0.01).map((p) => `${p.comm} ${p.pcpus.toFixed(2)}`).join(', ');
  return `non-guest ${w.nonGuestPcpus.toFixed(2)} pCPU${top ? ` (${top})` : ''}`;
}
