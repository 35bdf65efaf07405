// The deterministic simulated host as a Hypervisor: the face the control loop sees over the
// physics (physics.ts). It checks every call as libvirt would, counts the calls for scoring and
// hands out the ground-truth record (truth-record.ts); a virtual clock moves its time.

import type { BalloonObservation, Clock, DomainObservation, DomainRef, HostObservation, Hypervisor } from '../../ground/hypervisor.js';
import { KIB_PER_MIB, SimPhysics, type DomainState, type SimOptions } from './physics.js';
import type { Scenario } from './scenario.js';
import type { ActionCounts, TruthInterval } from './truth.js';
import { takeTruth } from './truth-record.js';
import { sameCpuSet } from '../../ground/cpu-list.js';
import { DomainGoneError } from '../../ground/errors.js';

export { BALLOON_DRIVER_LOAD_SECONDS, SIM_EPOCH_SECONDS } from './physics.js';
export type { SimOptions } from './physics.js';

function notFound(name: string): Error {
  return new DomainGoneError(`Domain not found: no domain with matching name '${name}'`);
}

function noActions(): ActionCounts {
  return { pinCalls: 0, pinChanges: 0, setMemoryCalls: 0, setStatsPeriodCalls: 0, rejectedCalls: 0 };
}

export class SimulatedHost implements Hypervisor {
  readonly uri: string;
  readonly seed: number;
  private readonly world: SimPhysics;
  private closed = false;
  private actions: ActionCounts = noActions();

  constructor(
    readonly scenario: Scenario,
    options: SimOptions = {},
  ) {
    this.uri = `sim:${scenario.source}`;
    this.world = new SimPhysics(scenario, options);
    this.seed = this.world.seed;
  }

  /** Simulated time since the scenario began, ns. */
  get timeNs(): number {
    return this.world.timeNs;
  }

  /** Busy time of each pCPU since the scenario began, ns (cumulative, like a host's CPU counters). */
  pcpuBusyTimesNs(): number[] {
    return this.world.pcpuBusyTotalNs.map(Math.round);
  }

  /** Runs the simulation forward by `ms` of simulated time. */
  advance(ms: number): void {
    this.world.advance(ms);
  }

  /** Ground truth since the previous call (or the start). */
  truth(): TruthInterval {
    const report = takeTruth(this.world, this.actions);
    this.actions = noActions();
    return report;
  }

  // ---- Hypervisor ----

  private checkOpen(): void {
    if (this.closed) throw new Error(`connection to ${this.uri} is closed`);
  }

  private find(ref: DomainRef): DomainState {
    const d = this.world.domains.find((x) => x.running && x.spec.name === ref.name && (ref.uuid === '' || x.spec.uuid === ref.uuid));
    if (!d) throw notFound(ref.name);
    return d;
  }

  /** Counts calls that throw, so scoring sees rejected actions. */
  private guard<T>(fn: () => T): T {
    try {
      this.checkOpen();
      return fn();
    } catch (err) {
      this.actions.rejectedCalls++;
      throw err;
    }
  }

  async observe(): Promise<HostObservation> {
    this.checkOpen();
    const { hostname, pcpus, memoryMiB } = this.scenario.host;
    const domains: DomainObservation[] = [];
    for (const d of this.world.domains) {
      if (!d.running) continue;
      const vcpus = d.vcpus.map((v, index) => {
        let best = -1;
        for (let p = 0; p < v.seenNs.length; p++) if (v.seenNs[p]! > 0 && (best < 0 || v.seenNs[p]! > v.seenNs[best]!)) best = p;
        if (best >= 0) v.lastPcpu = best;
        else if (!v.affinity.includes(v.lastPcpu)) v.lastPcpu = v.affinity[0]!;
        v.seenNs.fill(0);
        return { index, timeNs: Math.round(v.timeNs), delayNs: Math.round(v.delayNs), pcpu: v.lastPcpu, affinity: [...v.affinity] };
      });
      // The simulator has no emulator threads: the domain's CPU time is its vCPUs' (as the served host answers).
      const cpuTimeNs = vcpus.reduce((sum, v) => sum + v.timeNs, 0);
      const obs: DomainObservation = { name: d.spec.name, uuid: d.spec.uuid, state: 'running', vcpus, id: d.id, blockReadBytes: Math.round(d.cache.diskReadBytes), cpuTimeNs };
      if (d.job !== undefined) obs.job = d.job;
      if (d.spec.definitionPins) obs.definitionPins = true;
      if (d.spec.hugepages) obs.hugepages = true;
      // Like libvirt's cpu_shares read back: only a guest whose weight was set says so.
      if (d.spec.weight !== 1) obs.cpuWeight = d.spec.weight;
      if (d.spec.balloon) obs.balloon = balloonOf(d, this.world.balloonCeilingKiB(d));
      if (d.device) {
        obs.memoryDevice = {
          bootKiB: d.spec.maxMemoryMiB * KIB_PER_MIB,
          sizeKiB: d.device.sizeKiB,
          blockKiB: d.device.blockKiB,
          requestedKiB: d.device.requestedKiB,
          currentKiB: d.device.pluggedKiB,
          devices: 1,
        };
      }
      domains.push(obs);
    }
    return {
      timeNs: this.world.timeNs,
      host: {
        hostname,
        pcpus,
        memoryTotalKiB: memoryMiB * KIB_PER_MIB,
        memoryFreeKiB: Math.max(0, Math.round(this.world.hostFreeKiB())),
        pcpuBusyNs: this.world.pcpuBusyTotalNs.map(Math.round),
      },
      domains,
    };
  }

  async pinVcpu(domain: DomainRef, vcpu: number, pcpus: number[]): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= d.vcpus.length) {
        throw new Error(`invalid argument: vcpu ${vcpu} is out of range of live cpu count ${d.vcpus.length} of domain '${d.spec.name}'`);
      }
      if (!Array.isArray(pcpus) || pcpus.length === 0) throw new Error(`invalid argument: empty cpumap for vcpu ${vcpu} of domain '${d.spec.name}'`);
      const host = this.scenario.host.pcpus;
      for (const p of pcpus) {
        if (!Number.isInteger(p) || p < 0 || p >= host) {
          throw new Error(`invalid argument: pCPU ${p} does not exist (host has ${host} pCPUs: 0-${host - 1})`);
        }
      }
      const next = [...new Set(pcpus)].sort((a, b) => a - b);
      this.actions.pinCalls++;
      if (!sameCpuSet(next, d.vcpus[vcpu]!.affinity)) this.actions.pinChanges++;
      this.world.setAffinity(d, vcpu, next);
    });
  }

  async setCpuWeight(domain: DomainRef, weight: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!(Number.isFinite(weight) && weight > 0 && weight <= 10_000)) throw new Error(`invalid argument: CPU weight ${weight} must be in (0, 10000]`);
      this.world.setWeight(d, weight);
    });
  }

  async setMemory(domain: DomainRef, targetKiB: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!d.spec.balloon) throw new Error(`operation failed: domain '${d.spec.name}' has no balloon device`);
      if (!Number.isInteger(targetKiB) || targetKiB <= 0) throw new Error(`invalid argument: memory size ${targetKiB} KiB must be a positive integer`);
      const maxKiB = this.world.balloonCeilingKiB(d);
      if (targetKiB > maxKiB) {
        throw new Error(`invalid argument: cannot set memory higher than max memory (${targetKiB} KiB > ${maxKiB} KiB for domain '${d.spec.name}')`);
      }
      // As on libvirt (LibvirtHost.setMemory): the balloon acts on the boot memory only.
      if (d.device && targetKiB <= d.device.pluggedKiB) {
        throw new Error(`invalid argument: a balloon target of ${targetKiB} KiB for '${d.spec.name}' is not above its ${d.device.pluggedKiB} KiB of plugged virtio-mem memory: the balloon acts on its boot memory; unplug instead`);
      }
      this.actions.setMemoryCalls++;
      this.world.setBalloonTarget(d, targetKiB);
    });
  }

  async resizeMemoryDevice(domain: DomainRef, requestedKiB: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      const dev = d.device;
      if (!dev) throw new Error(`operation failed: domain '${d.spec.name}' has no virtio-mem device`);
      if (!Number.isSafeInteger(requestedKiB) || requestedKiB < 0) throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${d.spec.name}' must be a whole number of KiB ≥ 0`);
      if (requestedKiB > dev.sizeKiB) throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${d.spec.name}' is above its virtio-mem size of ${dev.sizeKiB} KiB`);
      if (requestedKiB % dev.blockKiB !== 0) throw new Error(`invalid argument: requested size ${requestedKiB} KiB for '${d.spec.name}' is not a multiple of its virtio-mem block (${dev.blockKiB} KiB)`);
      this.actions.resizeMemoryDeviceCalls = (this.actions.resizeMemoryDeviceCalls ?? 0) + 1;
      this.world.setDeviceRequest(d, requestedKiB);
    });
  }

  async setMemoryStatsPeriod(domain: DomainRef, seconds: number): Promise<void> {
    this.guard(() => {
      const d = this.find(domain);
      if (!d.spec.balloon) throw new Error(`operation failed: domain '${d.spec.name}' has no balloon device`);
      if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`invalid argument: stats period ${seconds} must be a whole number of seconds ≥ 0`);
      this.actions.setStatsPeriodCalls++;
      this.world.setStatsPeriod(d, seconds);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function balloonOf(d: DomainState, ceilingKiB: number): BalloonObservation {
  const b: BalloonObservation = {
    currentKiB: Math.round(d.actualKiB),
    maximumKiB: ceilingKiB,
    rssKiB: Math.round(d.rssKiB),
  };
  if (d.spec.freePageReporting) b.freePageReporting = true;
  // A driver reporting all ones gives no figures: only QEMU's own timestamp of its report moves.
  if (d.snapshot?.allOnes) b.lastUpdate = d.snapshot.lastUpdate;
  else if (d.snapshot) {
    const { allOnes: _, ...figures } = d.snapshot;
    Object.assign(b, figures);
  }
  return b;
}

/** A Clock whose sleep advances the simulated host instead of waiting. */
export class VirtualClock implements Clock {
  constructor(private readonly host: SimulatedHost) {}

  nowMs(): number {
    return this.host.timeNs / 1e6;
  }

  async sleep(ms: number): Promise<void> {
    this.host.advance(ms);
  }
}

export interface SimulatedRun {
  hypervisor: SimulatedHost;
  clock: VirtualClock;
  /** Ground truth since the previous call. */
  truth: () => TruthInterval;
  scenario: Scenario;
}

/** Builds a simulated host for the scenario; the same scenario and seed give the same run. */
export function createSimulatedHost(scenario: Scenario, options: SimOptions = {}): SimulatedRun {
  const hypervisor = new SimulatedHost(scenario, options);
  return { hypervisor, clock: new VirtualClock(hypervisor), truth: () => hypervisor.truth(), scenario };
}
