// What the real-guest benchmarks (bench/lab.ts, bench/latency.ts) and their e2e checks share: lab
// guests brought up under the lab lock and always removed (also on Ctrl-C or SIGTERM), pinning and
// reading pins, measurement windows (guests' vCPU time and delay, the pCPUs' busy time, and how much
// CPU the machine's non-guest processes took, from /proc), the control loop run in-process scoped to
// the guests, and the shipped CLI (`run`, `vcpu_scheduler`) run as a child process scoped with --only.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CpuSchedulerOptions } from '../cpu/options.js';
import { runControlLoop } from '../control/loop.js';
import type { Notice } from '../ground/actions.js';
import type { TraceInterval, TraceLine } from '../ground/trace-record.js';
import { LibvirtHost } from '../host/libvirt-host.js';
import { realClock } from '../host/real-clock.js';
import { ScopedHypervisor } from '../host/scoped-host.js';
import { LibvirtClient } from '../libvirt/client.js';
import { cpuWindow, sampleCpu, type CpuSample, type CpuWindow } from './cpu-window.js';
import { guestQemuPids, hostCpuSnapshot, hostCpuWindow, type HostCpuSnapshot, type HostCpuWindow } from './host-processes.js';
import { labRemove, labUp, type LabGuest, type LabGuestRequest } from './lab.js';
import { labLock } from './lock.js';
import { labRoot } from './paths.js';
import type { Progress } from './progress.js';
import { startCliChild, type CliChild } from './cli-child.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export interface BenchSample {
  cpu: CpuSample;
  host: HostCpuSnapshot | undefined;
}

export interface BenchWindow extends CpuWindow {
  /** The machine as a whole over the window (/proc), when readable. */
  host: HostCpuWindow | undefined;
}

/** A child process of the shipped CLI: its output by line and a stop that always ends it. */
export interface NamedCliChild extends CliChild {
  /** Its command (`run`, `vcpu_scheduler`). */
  name: string;
}

export interface InProcessLoop {
  /** Notices of every interval so far. */
  notices: string[];
  /** Pin changes made in the intervals after `interval`. */
  pinChangesAfter(interval: number): number;
  intervals(): number;
  /** Resolves once the loop has recorded `interval` intervals. */
  until(interval: number): Promise<void>;
  stop(): Promise<void>;
}

/** The guests of one benchmark (or e2e check) and the ways to pin, measure and control them. */
export class LabBench {
  readonly doms: { name: string; uuid: string; id: number }[];
  readonly all: number[];
  private readonly children = new Set<NamedCliChild>();
  private readonly adopted = new Set<ChildProcess>();
  private readonly loops = new Set<InProcessLoop>();
  private readonly scratch = new Set<{ dir: string; remove: () => void }>();

  constructor(
    readonly client: LibvirtClient,
    readonly uri: string,
    readonly guests: readonly LabGuest[],
    readonly hostPcpus: number,
    /** The guests' common name prefix: `--only PREFIX*` scopes a controller to them. */
    readonly prefix: string,
    /** vCPUs per guest by name (1 where absent). */
    private readonly vcpus: ReadonlyMap<string, number> = new Map(),
  ) {
    this.doms = guests.map((g) => ({ name: g.name, uuid: g.uuid, id: -1 }));
    this.all = Array.from({ length: hostPcpus }, (_, i) => i);
  }

  short(name: string): string {
    return name.startsWith(this.prefix) ? name.slice(this.prefix.length) : name;
  }

  private dom(name: string) {
    const d = this.doms.find((x) => x.name === name);
    if (!d) throw new Error(`${name} is not one of this bench's guests`);
    return d;
  }

  /** Pins every vCPU of `name` to `pcpus`. */
  async pin(name: string, pcpus: number[]): Promise<void> {
    for (let v = 0; v < (this.vcpus.get(name) ?? 1); v++) await this.client.pinVcpu(this.dom(name), v, pcpus, { pcpus: this.hostPcpus });
  }

  /** Pins one vCPU of `name` to `pcpus`. */
  async pinVcpu(name: string, vcpu: number, pcpus: number[]): Promise<void> {
    await this.client.pinVcpu(this.dom(name), vcpu, pcpus, { pcpus: this.hostPcpus });
  }

  /** Every vCPU's affinity of each guest, by name. */
  async vcpuAffinities(): Promise<Map<string, number[][]>> {
    const out = new Map<string, number[][]>();
    for (const d of this.doms) out.set(d.name, await this.client.getVcpuPinInfo(d, { vcpus: this.vcpus.get(d.name) ?? 1 }));
    return out;
  }

  async pinAll(pcpus: number[]): Promise<void> {
    for (const g of this.guests) await this.pin(g.name, pcpus);
  }

  /** vCPU0's affinity of each guest, by name. */
  async affinity(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const d of this.doms) out.set(d.name, (await this.client.getVcpuPinInfo(d, { vcpus: 1 }))[0]!);
    return out;
  }

  /** `vm1→0 vm2→0,1`; a guest of several vCPUs: `vm3→0|1` (vCPU0 | vCPU1). */
  async placement(): Promise<string> {
    return [...(await this.vcpuAffinities())].map(([n, a]) => `${this.short(n)}→${a.map((x) => x.join(',')).join('|')}`).join(' ');
  }

  async sample(): Promise<BenchSample> {
    const host = hostCpuSnapshot();
    return { cpu: await sampleCpu(this.client, this.doms, this.hostPcpus), host };
  }

  window(a: BenchSample, b: BenchSample): BenchWindow {
    const w = cpuWindow(a.cpu, b.cpu);
    const guestProcesses = [...w.guestShare.values()].reduce((s, v) => s + v, 0) + w.qemuOverhead;
    // Our own processes by what they are, so the top list tells them from other people's work.
    const labels = new Map<number, string>([[process.pid, 'this bench']]);
    for (const c of this.children) if (c.process.pid !== undefined) labels.set(c.process.pid, `controller (${c.name})`);
    const host = a.host && b.host ? hostCpuWindow(a.host, b.host, guestQemuPids(this.guests.map((g) => g.name)), guestProcesses, labels) : undefined;
    return { ...w, host };
  }

  /** Measures `seconds` from now. */
  async measure(seconds: number): Promise<BenchWindow> {
    const first = await this.sample();
    await sleep(seconds * 1000);
    return this.window(first, await this.sample());
  }

  /** The control loop in-process through the real libvirt host, scoped to these guests, until `stop()`. */
  async startLoop(cpu: CpuSchedulerOptions, intervalSeconds: number): Promise<InProcessLoop> {
    const host = LibvirtHost.fromClient(await LibvirtClient.connect(this.uri));
    const abort = new AbortController();
    let intervals = 0;
    const pinChanges: number[] = [];
    const notices: string[] = [];
    const loop = runControlLoop(new ScopedHypervisor(host, this.guests.map((g) => g.name)), realClock,
      { intervalSeconds, cpu, signal: abort.signal },
      {
        record: (entry) => {
          intervals = entry.interval;
          notices.push(...entry.notices.map((n: Notice) => n.message));
          pinChanges.push(entry.actions.filter((x) => x.kind === 'pin').length);
        },
      });
    let stopped: Promise<void> | undefined;
    const handle: InProcessLoop = {
      notices,
      pinChangesAfter: (interval) => pinChanges.slice(interval).reduce((a, b) => a + b, 0),
      intervals: () => intervals,
      until: async (interval) => {
        while (intervals < interval) await sleep(100);
      },
      stop: () => (stopped ??= (async () => {
        abort.abort();
        try {
          await loop;
        } finally {
          this.loops.delete(handle);
          await host.close();
        }
      })()),
    };
    this.loops.add(handle);
    return handle;
  }

  /** The loop for `settleIntervals` intervals, then a window of `windowSeconds`, then stopped. */
  async runLoop(cpu: CpuSchedulerOptions, intervalSeconds: number, settleIntervals: number, windowSeconds: number): Promise<{ window: BenchWindow; pinChangesInWindow: number; notices: string[]; placement: string }> {
    const loop = await this.startLoop(cpu, intervalSeconds);
    try {
      await loop.until(settleIntervals);
      const window = await this.measure(windowSeconds);
      return { window, pinChangesInWindow: loop.pinChangesAfter(settleIntervals), notices: loop.notices, placement: await this.placement() };
    } finally {
      await loop.stop();
    }
  }

  /** Runs `virtbalance ARGS` (the shipped bin) as a child; stopped with the session at the latest. */
  startCli(args: string[]): NamedCliChild {
    const child = startCliChild(args);
    const handle: NamedCliChild = {
      ...child,
      name: args[0] ?? 'virtbalance',
      stop: async (graceMs = 5_000) => {
        try {
          return await child.stop(graceMs);
        } finally {
          this.children.delete(handle);
        }
      },
    };
    this.children.add(handle);
    return handle;
  }

  /** A process the bench started itself (e.g. a host process burning a pCPU): killed with the session at the latest. */
  adopt(child: ChildProcess): ChildProcess {
    this.adopted.add(child);
    child.on('exit', () => this.adopted.delete(child));
    return child;
  }

  /** A scratch directory (e.g. for traces), removed by `remove()` or with the session at the latest. */
  scratchDir(tag: string): { dir: string; remove: () => void } {
    const made = scratchDir(tag);
    const handle = { dir: made.dir, remove: () => { made.remove(); this.scratch.delete(handle); } };
    this.scratch.add(handle);
    return handle;
  }

  /** Stops every child still running and removes scratch directories (the session's cleanup). */
  async stopChildren(): Promise<void> {
    for (const c of this.adopted) c.kill('SIGKILL');
    await Promise.all([...this.loops].map((l) => l.stop()));
    await Promise.all([...this.children].map((c) => c.stop(2_000)));
    for (const d of [...this.scratch]) d.remove();
  }
}

/** The interval lines of a trace file written so far (a partial last line is skipped). */
export function readTraceIntervals(file: string): TraceInterval[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: TraceInterval[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = JSON.parse(line) as TraceLine;
      if (parsed.type === 'interval') out.push(parsed);
    } catch {
      // the line being written
    }
  }
  return out;
}

/** A scratch directory for traces, removed with the session. */
export function scratchDir(tag: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vb-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface LabBenchSessionOptions {
  uri: string;
  /** Every guest's name starts with it (e.g. `vbbench<pid>_`). */
  prefix: string;
  guests: LabGuestRequest[];
  progress: Progress;
  log: (line: string) => void;
}

/**
 * Brings the guests up under the lab lock, runs `body`, and removes the guests, stops the children
 * and releases the lock whatever happens: also on the first Ctrl-C or SIGTERM (then exits 130).
 * Without libvirtd it says so and returns false.
 */
export async function withLabBench(opts: LabBenchSessionOptions, body: (bench: LabBench) => Promise<void>): Promise<boolean> {
  const { uri, progress, log } = opts;
  let client: LibvirtClient;
  try {
    client = await LibvirtClient.connect(uri, { timeoutMs: 5_000 });
  } catch (err) {
    log(`skipped: no libvirtd at ${uri} (${(err as Error).message.split('\n')[0]}); on a test machine: bash scripts/libvirt-test-host.sh up`);
    return false;
  }
  const t0 = Date.now();
  const unlock = await labLock(labRoot(), progress);
  let guests: LabGuest[] = [];
  let bench: LabBench | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () => (cleaned ??= (async () => {
    try {
      await bench?.stopChildren();
      // Every name this session asked for, also when labUp failed half-way.
      await labRemove(client, guests.length > 0 ? guests.map((g) => g.name) : opts.guests.map((g) => g.name), progress);
    } finally {
      await unlock();
      await client.close();
    }
  })());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: removing the guests, then exiting`);
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const hostPcpus = (await client.nodeInfo()).cpus;
    const up = await labUp(client, { uri, root: labRoot(), progress, bootTimeoutSeconds: 120, balloonSettleSeconds: 30, guests: opts.guests });
    guests = up.guests;
    bench = new LabBench(client, uri, guests, hostPcpus, opts.prefix, new Map(opts.guests.map((g) => [g.name, g.vcpus])));
    await body(bench);
    return true;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
    log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}
