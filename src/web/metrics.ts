import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Action } from '../ground/actions.js';
import type { DomainState, HostObservation } from '../ground/hypervisor.js';
import type { TraceHeader, TraceInterval, TraceShortfall } from '../ground/trace-record.js';
import { packageVersion } from '../app/version.js';
import { TRIAL_HOLD_RULES, TRIAL_OUTCOMES, TrialCounter } from '../score/trials.js';

// The run as Prometheus metrics, on a private registry (never prom-client's global one, so two
// runs in one process, or a test, never share series). Ratios are 0..1 (a demand can exceed 1),
// memory in bytes, times in seconds. Node's process_* and nodejs_* series keep their standard
// names. One agent runs per host; Prometheus' `instance` label tells the hosts apart
// (deploy/prometheus/, deploy/grafana/, docs/dashboard.md).

/** prom-client's gauges whose names end in _total, against Prometheus' naming rules; each is the sum of a per-type gauge it also exports. */
const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const KiB = 1024;

/**
 * The page cache a guest holds, split into hot and cold (hot + cold = cache). The coordinator's
 * remembered hot size may exceed the cache while the guest reads its set back; only what is held counts here.
 */
export function cacheHeld(cacheKiB: number, rememberedHotKiB: number): { hotKiB: number; coldKiB: number } {
  const hotKiB = Math.min(Math.max(0, rememberedHotKiB), cacheKiB);
  return { hotKiB, coldKiB: Math.max(0, cacheKiB - hotKiB) };
}

/** virDomainState as a number, as libvirt (and its exporters' `libvirt_domain_state_code`) give it. */
const STATE_CODES: Record<DomainState, number> = { nostate: 0, running: 1, blocked: 2, paused: 3, shutdown: 4, shutoff: 5, crashed: 6, pmsuspended: 7, unknown: 0 };

/**
 * Per-domain series named, labelled and in the units of Debian's prometheus-libvirt-exporter 0.2.0
 * (`libvirt_domain_info_*`, `libvirt_domain_state_code`, labels `domain` and `uuid`), for what
 * virtbalance observes anyway. Off by default (`metrics.libvirtNames`): beside a real exporter the
 * same series would be counted twice. Read from each observation, not each interval record.
 */
class LibvirtExporterSeries {
  private readonly cpuTime: Gauge<'domain' | 'uuid'>;
  private readonly maximumMemory: Gauge<'domain' | 'uuid'>;
  private readonly memoryUsage: Gauge<'domain' | 'uuid'>;
  private readonly virtualCpus: Gauge<'domain' | 'uuid'>;
  private readonly stateCode: Gauge<'domain' | 'uuid'>;

  constructor(registers: Registry[]) {
    const labelNames = ['domain', 'uuid'] as ('domain' | 'uuid')[];
    // The exporter's help texts, word for word, so the two are interchangeable on a dashboard.
    // cpu_time is a counter there; prom-client's Counter only adds, so it is a Gauge here with the type line rewritten in text().
    this.cpuTime = new Gauge({ name: 'libvirt_domain_info_cpu_time_seconds_total', help: 'Amount of CPU time used by the domain, in seconds.', labelNames, registers });
    this.maximumMemory = new Gauge({ name: 'libvirt_domain_info_maximum_memory_bytes', help: 'Maximum allowed memory of the domain, in bytes.', labelNames, registers });
    this.memoryUsage = new Gauge({ name: 'libvirt_domain_info_memory_usage_bytes', help: 'Memory usage of the domain, in bytes.', labelNames, registers });
    this.virtualCpus = new Gauge({ name: 'libvirt_domain_info_virtual_cpus', help: 'Number of virtual CPUs for the domain.', labelNames, registers });
    this.stateCode = new Gauge({ name: 'libvirt_domain_state_code', help: 'State of the domain.', labelNames, registers });
  }

  record(observation: HostObservation): void {
    for (const g of [this.cpuTime, this.maximumMemory, this.memoryUsage, this.virtualCpus, this.stateCode]) g.reset();
    for (const d of observation.domains) {
      const labels = { domain: d.name, uuid: d.uuid };
      const cpuTimeNs = d.cpuTimeNs ?? d.vcpus.reduce((sum, v) => sum + v.timeNs, 0);
      this.cpuTime.set(labels, cpuTimeNs / 1e9);
      if (d.balloon) {
        // virDomainGetInfo's maxMem and memory: the balloon's maximum and current size, KiB.
        this.maximumMemory.set(labels, d.balloon.maximumKiB * KiB);
        this.memoryUsage.set(labels, d.balloon.currentKiB * KiB);
      }
      this.virtualCpus.set(labels, d.vcpus.length);
      this.stateCode.set(labels, STATE_CODES[d.state]);
    }
  }
}

/**
 * Host series named as node_exporter names them, for a host without one (the simulator, or a
 * hypervisor host that runs no node_exporter): what OpenStack Watcher reads for a compute host.
 * Only the idle time (mode="idle", per pCPU: the observation's time less its busy time, counted from
 * the agent's start) and MemTotal / MemAvailable (the host's free memory as libvirt gives it:
 * free + buffers + cached). Off by default (`metrics.nodeNames`): beside node_exporter they clash.
 */
class NodeExporterSeries {
  private readonly cpu: Counter<'cpu' | 'mode'>;
  private readonly memTotal: Gauge;
  private readonly memAvailable: Gauge;
  private previous: HostObservation | undefined;

  constructor(registers: Registry[]) {
    this.cpu = new Counter({ name: 'node_cpu_seconds_total', help: 'Seconds the CPUs spent in each mode.', labelNames: ['cpu', 'mode'], registers });
    this.memTotal = new Gauge({ name: 'node_memory_MemTotal_bytes', help: 'Memory information field MemTotal_bytes.', registers });
    this.memAvailable = new Gauge({ name: 'node_memory_MemAvailable_bytes', help: 'Memory information field MemAvailable_bytes.', registers });
  }

  record(observation: HostObservation): void {
    this.memTotal.set(observation.host.memoryTotalKiB * KiB);
    this.memAvailable.set(observation.host.memoryFreeKiB * KiB);
    const busy = observation.host.pcpuBusyNs;
    const before = this.previous?.host.pcpuBusyNs;
    const elapsedNs = this.previous ? observation.timeNs - this.previous.timeNs : 0;
    if (busy) {
      busy.forEach((ns, cpu) => {
        const labels = { cpu: String(cpu), mode: 'idle' };
        const sameConnection = this.previous?.connection === observation.connection && before?.length === busy.length;
        // Idle over the window: its length less the pCPU's busy time; nothing across a new connection.
        this.cpu.inc(labels, sameConnection && elapsedNs > 0 ? Math.max(0, elapsedNs - (ns - before[cpu]!)) / 1e9 : 0);
      });
    }
    this.previous = observation;
  }
}

export type HypervisorCall = 'observe' | 'pin' | 'set-memory' | 'set-stats-period' | 'set-cpu-weight' | 'resize-memory-device' | 'close';

/** The kinds of virtbalance_guest_memory_device_bytes, each a field `<kind>KiB` of TraceMemoryDevice. */
export const MEMORY_DEVICE_KINDS = ['boot', 'size', 'requested', 'plugged'] as const;

export class RunMetrics {
  readonly registry = new Registry();
  private readonly pcpuUsage: Gauge<'pcpu'>;
  private readonly pcpuDemand: Gauge<'pcpu'>;
  private readonly vcpuUsage: Gauge<'domain' | 'vcpu'>;
  private readonly vcpuDemand: Gauge<'domain' | 'vcpu'>;
  private readonly vcpuPcpu: Gauge<'domain' | 'vcpu'>;
  private readonly vcpuClockBound: Gauge<'domain' | 'vcpu'>;
  private readonly spread: Gauge;
  private readonly predictionError: Gauge;
  private readonly vcpuPredictionError: Gauge<'domain'>;
  private readonly cpuWeight: Gauge<'domain'>;
  private readonly dedicatedPcpus: Gauge<'domain'>;
  private readonly dedicatedSince: Gauge<'domain'>;
  private readonly dedicatedRefused: Gauge<'domain'>;
  private readonly weightChanges: Counter;
  private readonly trials: Counter<'outcome'>;
  private readonly trialsHeld: Counter<'rule'>;
  private readonly demandEpoch: Gauge;
  private readonly trialWorstFraction: Gauge<'placement'>;
  private readonly trialCounter = new TrialCounter();
  /** Guests the run's options mark dedicated (`cpu.dedicated`): each has a dedicated-pCPU count, 0 while it shares. */
  private dedicatedNames: string[] = [];
  private readonly margin: Gauge;
  private readonly targetInfo: Gauge<'target' | 'hypervisor'>;
  private readonly controllerEnabled: Gauge<'controller'>;
  private readonly intervalSeconds: Gauge;
  private readonly lastInterval: Gauge;
  private readonly oomKills: Counter<'domain'>;
  private readonly oomDomains = new Set<string>();
  private readonly balanced: Gauge;
  private readonly balloonActual: Gauge<'domain'>;
  private readonly balloonUnused: Gauge<'domain'>;
  private readonly balloonUsed: Gauge<'domain'>;
  private readonly balloonMaximum: Gauge<'domain'>;
  private readonly balloonFloor: Gauge<'domain'>;
  private readonly guestAnon: Gauge<'domain'>;
  private readonly guestPageCache: Gauge<'domain' | 'kind'>;
  private readonly guestDiskRead: Gauge<'domain'>;
  private readonly memoryDevice: Gauge<'domain' | 'kind'>;
  private readonly hostFree: Gauge;
  private readonly hostReserve: Gauge;
  private readonly domains: Gauge;
  private readonly intervals: Counter;
  private readonly decisions: Counter<'kind'>;
  private readonly pinsChanged: Counter;
  private readonly balloonChanges: Counter;
  private readonly actionFailures: Counter<'kind'>;
  private readonly actionsUnapplied: Counter<'kind'>;
  private readonly tickDuration: Histogram;
  private readonly callDuration: Histogram<'call'>;
  private readonly callErrors: Counter<'call'>;
  private readonly connected: Gauge;
  readonly dashboardClients: Gauge;
  private readonly domainInfo: Gauge<'domain' | 'uuid'>;
  private readonly hostPcpus: Gauge;
  private readonly hostCpuDemand: Gauge;
  private readonly hostMemory: Gauge;
  private readonly guestCapacity: Gauge;
  private readonly memoryNeed: Gauge;
  private readonly shortfallCpu: Gauge;
  private readonly shortfallMemory: Gauge;
  private readonly shortfallSeconds: Gauge<'resource'>;
  private readonly shortfallRelief: Gauge<'resource' | 'domain' | 'uuid'>;
  private readonly libvirtSeries: LibvirtExporterSeries | undefined;
  private readonly nodeSeries: NodeExporterSeries | undefined;
  private readonly now: () => number;

  constructor(options: { processMetrics?: boolean; now?: () => number; libvirtNames?: boolean; nodeNames?: boolean } = {}) {
    this.now = options.now ?? Date.now;
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    this.pcpuUsage = gauge('virtbalance_pcpu_usage_ratio', 'Share of the last interval each pCPU ran guest vCPUs (0..1).', ['pcpu']);
    this.pcpuDemand = gauge('virtbalance_pcpu_demand_ratio', 'Run + wait time of the vCPUs on each pCPU over the last interval, in pCPUs (can exceed 1 when crowded).', ['pcpu']);
    this.vcpuUsage = gauge('virtbalance_vcpu_usage_ratio', 'Share of one pCPU each vCPU ran in the last interval (0..1).', ['domain', 'vcpu']);
    this.vcpuDemand = gauge('virtbalance_vcpu_demand_ratio', 'Share of one pCPU each vCPU wanted (run + wait) in the last interval.', ['domain', 'vcpu']);
    this.vcpuPcpu = gauge('virtbalance_vcpu_pcpu', 'The pCPU each vCPU is pinned to or last ran on.', ['domain', 'vcpu']);
    this.vcpuClockBound = gauge(
      'virtbalance_vcpu_clock_bound',
      '1 for each vCPU the scheduler learned clock-bound from its prediction errors (bursty: its busy windows end by the clock, so beside a busy vCPU it gets less than it asks), else 0.',
      ['domain', 'vcpu'],
    );
    this.spread = gauge('virtbalance_cpu_demand_spread_ratio', 'Demand of the busiest pCPU minus that of the idlest, in pCPUs (0.1 = 10 points; above 1 when a pCPU is crowded).');
    this.predictionError = gauge('virtbalance_cpu_prediction_error_ratio', 'Mean |predicted − received| share over the vCPUs the scheduler predicted for the last interval, in pCPUs.');
    this.vcpuPredictionError = gauge(
      'virtbalance_vcpu_prediction_error_ratio',
      "Per guest, mean |predicted − received| share of its vCPUs in the last interval, in pCPUs (how far the scheduler's model was off).",
      ['domain'],
    );
    this.cpuWeight = gauge('virtbalance_cpu_weight', 'CPU weight of each guest against a default one (libvirt cpu_shares / 1024), as observed.', ['domain']);
    this.dedicatedPcpus = gauge('virtbalance_dedicated_pcpus', 'pCPUs dedicated to each guest marked dedicated (0 while it shares).', ['domain']);
    this.dedicatedSince = gauge('virtbalance_dedicated_since_timestamp_seconds', 'Unix time since which each guest has held its dedicated pCPUs (only guests that hold some).', ['domain']);
    this.dedicatedRefused = gauge('virtbalance_dedicated_refused', '1 while a dedicated guest is busy but its pCPUs cannot be dedicated (that would leave none for the others).', ['domain']);
    // The trial loop (src/cpu/trials.ts, docs/cpu-scheduler.md): every placement change is a trial, measured and kept or reverted.
    this.trials = counter(
      'virtbalance_cpu_trials_total',
      'Trials of the vCPU scheduler by outcome: started (a placement change to be measured), kept, reverted (measured worse: the moved vCPUs went back), abandoned (demands changed before it was measured). Dry runs included.',
      ['outcome'],
    );
    this.trialsHeld = counter(
      'virtbalance_cpu_trial_proposals_held_total',
      'Placement changes the vCPU scheduler proposed but did not try, by the rule that held them (one-trial-per-epoch, placement-left-before, measured-worse-before, backing-off, nothing-to-gain, epoch-settled).',
      ['rule'],
    );
    this.demandEpoch = gauge('virtbalance_cpu_demand_epoch', "The vCPU scheduler's current demand epoch (1, 2, ...): a new one begins when some vCPU's demand leaves its noise band; one trial per epoch. 0 before the first.");
    this.trialWorstFraction = gauge(
      'virtbalance_cpu_trial_worst_fraction',
      "The last trial's measured worst fraction of fair share (worst-served vCPU's received / max-min fair share): placement=before the placement it left, placement=tried the one it tried (absent until measured).",
      ['placement'],
    );
    this.margin = gauge('virtbalance_cpu_margin_ratio', 'The vCPU scheduler re-pins only when that lowers the demand spread by more than this, in pCPUs.');
    this.balanced = gauge('virtbalance_cpu_balanced', '1 when the vCPU scheduler judged the host balanced in the last interval.');
    this.balloonActual = gauge('virtbalance_balloon_actual_bytes', 'Balloon actual: memory each guest has now.', ['domain']);
    this.balloonUnused = gauge('virtbalance_balloon_unused_bytes', 'Memory each guest leaves unused (from its balloon stats).', ['domain']);
    this.balloonUsed = gauge('virtbalance_balloon_used_bytes', 'Memory each guest uses, as the memory coordinator reckons it.', ['domain']);
    this.balloonMaximum = gauge('virtbalance_balloon_maximum_bytes', 'Maximum memory of each guest.', ['domain']);
    this.balloonFloor = gauge('virtbalance_balloon_floor_bytes', 'Floor of each guest: headroom the coordinator always leaves it.', ['domain']);
    // Guests that report MemAvailable only (the memory coordinator's page-cache view, docs/memory-coordinator.md).
    this.guestAnon = gauge('virtbalance_guest_anon_bytes', 'Memory each guest cannot drop (anonymous memory, kernel), as the memory coordinator reckons it; only guests that report MemAvailable.', ['domain']);
    this.guestPageCache = gauge(
      'virtbalance_guest_page_cache_bytes',
      'Page cache each guest could drop, by kind: hot (re-read, kept as need) and cold (taken back gradually); only guests that report MemAvailable.',
      ['domain', 'kind'],
    );
    this.guestDiskRead = gauge('virtbalance_guest_disk_read_bytes_per_second', 'Disk read rate of each guest at its last reading (a rise after a shrink is a refault).', ['domain']);
    this.memoryDevice = gauge(
      'virtbalance_guest_memory_device_bytes',
      "Each guest's virtio-mem memory, by kind: boot (what it booted with, outside the device), size (the most the device can plug), requested (what the host asked it to plug), plugged (what it has plugged); only guests with a device.",
      ['domain', 'kind'],
    );
    this.hostFree = gauge('virtbalance_host_free_bytes', 'Memory the host can still give.');
    this.hostReserve = gauge('virtbalance_host_reserve_bytes', 'Host memory never given to guests.');
    this.domains = gauge('virtbalance_domains', 'Running domains seen in the last interval.');
    this.intervals = counter('virtbalance_intervals_total', 'Control intervals run.');
    this.intervalSeconds = gauge('virtbalance_interval_seconds', 'Configured time between control intervals (virtual seconds on a simulated host).');
    this.lastInterval = gauge('virtbalance_last_interval_timestamp_seconds', 'Unix time at which the last control interval was recorded.');
    this.targetInfo = gauge('virtbalance_target_info', 'The host this agent balances: its libvirt URI (or sim:SCENARIO) and whether it is libvirt or the simulator.', ['target', 'hypervisor']);
    this.controllerEnabled = gauge('virtbalance_controller_enabled', '1 for each controller this agent runs (cpu: vCPU scheduler, memory: memory coordinator).', ['controller']);
    this.oomKills = counter('virtbalance_guest_oom_kills_total', 'OOM kills seen inside guests (the lab reads guest consoles; the simulator reports its own).', ['domain']);
    gauge('virtbalance_build_info', 'Always 1; the labels say which virtbalance and Node.js run.', ['version', 'nodejs_version']).set({ version: packageVersion(), nodejs_version: process.versions.node }, 1);
    this.decisions = counter('virtbalance_decisions_total', 'Actions the controllers decided, by kind (pin, set-memory, set-stats-period).', ['kind']);
    this.pinsChanged = counter('virtbalance_pins_changed_total', 'vCPU pins changed on the host (applied, not dry run).');
    this.balloonChanges = counter('virtbalance_balloon_changes_total', 'Balloon targets changed on the host (applied, not dry run).');
    this.weightChanges = counter('virtbalance_cpu_weight_changes_total', 'CPU weights (cpu_shares) set on the host (applied, not dry run).');
    this.actionFailures = counter('virtbalance_action_failures_total', 'Actions that failed when applied, by kind.', ['kind']);
    this.actionsUnapplied = counter('virtbalance_actions_unapplied_total', 'Actions not applied because their domain went away meanwhile (a move, not a fault), by kind.', ['kind']);
    this.tickDuration = new Histogram({
      name: 'virtbalance_tick_duration_seconds',
      help: 'Wall time of one control interval: observe, decide, act, record.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    // Calls to libvirt or, on a simulated host, to the simulator: virtbalance_target_info says which.
    this.callDuration = new Histogram({
      name: 'virtbalance_hypervisor_call_duration_seconds',
      help: 'Wall time of each call to the hypervisor (libvirt, or the simulator: see virtbalance_target_info), by call.',
      labelNames: ['call'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.callErrors = counter('virtbalance_hypervisor_call_errors_total', 'Calls to the hypervisor that failed, by call.', ['call']);
    this.connected = gauge('virtbalance_host_connected', '1 while the last observation of the host succeeded.');
    this.dashboardClients = gauge('virtbalance_dashboard_clients', 'Dashboard pages connected to the live stream.');
    this.domainInfo = gauge('virtbalance_domain_info', "Always 1 for each domain of the last observation: its name and UUID (join on domain to label another series by uuid; libvirt's instance UUID for OpenStack).", ['domain', 'uuid']);
    // What the host cannot give its guests (src/control/shortfall.ts, docs/fleet.md); the fleet rules build the descheduler's node pressure from these.
    this.hostPcpus = gauge('virtbalance_host_pcpus', 'pCPUs of the host.');
    this.hostCpuDemand = gauge('virtbalance_host_cpu_demand_ratio', "Guests' CPU demand in pCPUs: run + wait time of every guest vCPU over the last interval (what they got and what they waited for).");
    this.hostMemory = gauge('virtbalance_host_memory_bytes', 'Memory of the host.');
    this.guestCapacity = gauge('virtbalance_host_guest_memory_capacity_bytes', "Memory the host's guests can have: what they hold plus the host's free memory above the reserve.");
    this.memoryNeed = gauge('virtbalance_host_memory_need_bytes', "Guests' memory need: what each uses (less cold page cache where known) plus its floor, summed.");
    this.shortfallCpu = gauge('virtbalance_shortfall_cpu_ratio', 'CPU demand the host cannot meet, in pCPUs: max(0, demand − pCPUs).');
    this.shortfallMemory = gauge('virtbalance_shortfall_memory_bytes', "Memory need the host cannot meet: max(0, need − what guests can have).");
    this.shortfallSeconds = gauge('virtbalance_shortfall_seconds', 'How long the host has been short, by resource (cpu, memory); 0 when it is not.', ['resource']);
    this.shortfallRelief = gauge(
      'virtbalance_shortfall_relief',
      'While the host is short: the guest whose move to another host would relieve it most (the smallest that covers it all, else the largest), and how much it would relieve (pCPUs for cpu, bytes for memory). virtbalance moves no guest itself.',
      ['resource', 'domain', 'uuid'],
    );
    this.libvirtSeries = options.libvirtNames ? new LibvirtExporterSeries(registers) : undefined;
    this.nodeSeries = options.nodeNames ? new NodeExporterSeries(registers) : undefined;
    // Zero series exist from the start, so a rate() over the first scrape works.
    for (const kind of ['pin', 'set-memory', 'set-stats-period', 'set-cpu-weight', 'resize-memory-device'] as const) {
      this.decisions.inc({ kind }, 0);
      this.actionFailures.inc({ kind }, 0);
      this.actionsUnapplied.inc({ kind }, 0);
    }
    for (const call of ['observe', 'pin', 'set-memory', 'set-stats-period', 'set-cpu-weight', 'resize-memory-device'] as const) this.callErrors.inc({ call }, 0);
    for (const outcome of TRIAL_OUTCOMES) this.trials.inc({ outcome }, 0);
    for (const rule of TRIAL_HOLD_RULES) this.trialsHeld.inc({ rule }, 0);
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(name);
    }
  }

  /** What the run is: target, controllers, interval and the vCPU scheduler's margin. */
  recordHeader(header: TraceHeader): void {
    this.targetInfo.reset();
    this.targetInfo.set({ target: header.target, hypervisor: header.target.startsWith('sim:') ? 'simulated' : 'libvirt' }, 1);
    this.controllerEnabled.reset();
    for (const [controller, on] of Object.entries(header.controllers)) this.controllerEnabled.set({ controller }, on ? 1 : 0);
    this.intervalSeconds.set(header.intervalSeconds);
    const marginPoints = (header.options as { cpu?: { marginPoints?: unknown } } | undefined)?.cpu?.marginPoints;
    if (typeof marginPoints === 'number') this.margin.set(marginPoints / 100);
    const dedicated = (header.options as { cpu?: { dedicated?: unknown } } | undefined)?.cpu?.dedicated;
    this.dedicatedNames = Array.isArray(dedicated) ? dedicated.filter((d): d is string => typeof d === 'string') : [];
  }

  recordCall(call: HypervisorCall, seconds: number, failed: boolean): void {
    this.callDuration.observe({ call }, seconds);
    if (failed) this.callErrors.inc({ call });
    if (call === 'observe') this.connected.set(failed ? 0 : 1);
  }

  /** What each successful observation saw, per domain: its UUID and, when asked for, the libvirt exporter's series. */
  recordObservation(observation: HostObservation): void {
    this.domainInfo.reset();
    for (const d of observation.domains) this.domainInfo.set({ domain: d.name, uuid: d.uuid }, 1);
    this.libvirtSeries?.record(observation);
    this.nodeSeries?.record(observation);
  }

  recordInterval(entry: TraceInterval, options: { dryRun: boolean; tickSeconds?: number }): void {
    this.intervals.inc();
    this.lastInterval.set(this.now() / 1000);
    for (const kill of entry.oomKills ?? []) this.oomKills.inc({ domain: kill.domain });
    for (const event of entry.truth?.oomEvents ?? []) this.oomKills.inc({ domain: event.domain });
    this.forgetGoneDomains(entry.domains);
    this.domains.set(entry.domains.length);
    if (options.tickSeconds !== undefined) this.tickDuration.observe(options.tickSeconds);
    // Failed, or not applied because the domain moved away (unapplied): neither changed anything.
    const notApplied = new Set<Action>([...entry.failures.map((f) => f.action), ...(entry.unapplied ?? []).map((u) => u.action)]);
    for (const action of entry.actions) {
      this.decisions.inc({ kind: action.kind });
      if (options.dryRun || notApplied.has(action)) continue;
      if (action.kind === 'pin') this.pinsChanged.inc();
      if (action.kind === 'set-memory') this.balloonChanges.inc();
      if (action.kind === 'set-cpu-weight') this.weightChanges.inc();
    }
    for (const failure of entry.failures) this.actionFailures.inc({ kind: failure.action.kind });
    for (const u of entry.unapplied ?? []) this.actionsUnapplied.inc({ kind: u.action.kind });
    // Rebuilt every interval (a device's guest gone, its series go too); an interval whose observation failed keeps the last.
    if (entry.domains.length > 0 || entry.memoryDevices) {
      this.memoryDevice.reset();
      for (const [domain, m] of Object.entries(entry.memoryDevices ?? {})) {
        for (const kind of MEMORY_DEVICE_KINDS) this.memoryDevice.set({ domain, kind }, m[`${kind}KiB`] * KiB);
      }
    }
    this.recordTrials(entry);
    if (entry.shortfall) this.recordShortfall(entry.shortfall, entry.timeMs);

    // Per-pCPU, per-vCPU and per-domain gauges are rebuilt every interval, so a vanished domain's
    // series disappear instead of freezing at their last value.
    if (entry.cpu && entry.cpu.elapsedNs > 0 && !entry.cpu.shortWindow) {
      for (const g of [this.pcpuUsage, this.pcpuDemand, this.vcpuUsage, this.vcpuDemand, this.vcpuPcpu, this.vcpuClockBound]) g.reset();
      entry.cpu.pcpuUsage.forEach((u, pcpu) => this.pcpuUsage.set({ pcpu: String(pcpu) }, u));
      entry.cpu.pcpuDemand.forEach((d, pcpu) => this.pcpuDemand.set({ pcpu: String(pcpu) }, d));
      for (const v of entry.cpu.vcpus) {
        const labels = { domain: v.domain, vcpu: String(v.vcpu) };
        this.vcpuUsage.set(labels, v.usage);
        this.vcpuDemand.set(labels, v.demand);
        if (v.pcpu !== undefined) this.vcpuPcpu.set(labels, v.pcpu);
        this.vcpuClockBound.set(labels, v.clockBound ? 1 : 0);
      }
      this.spread.set(entry.cpu.spreadPoints / 100);
      this.recordPredictionsAndGrants(entry);
      this.balanced.set(entry.cpu.balanced ? 1 : 0);
    }
    if (entry.memory) {
      for (const g of [this.balloonActual, this.balloonUnused, this.balloonUsed, this.balloonMaximum, this.balloonFloor, this.guestAnon, this.guestPageCache, this.guestDiskRead]) g.reset();
      for (const g of entry.memory.guests) {
        const labels = { domain: g.domain };
        // A guest's OOM counter exists from its first interval, so increase() sees its first kill.
        this.oomKills.inc(labels, 0);
        this.balloonActual.set(labels, g.actualKiB * KiB);
        this.balloonMaximum.set(labels, g.maximumKiB * KiB);
        this.balloonFloor.set(labels, g.floorKiB * KiB);
        if (g.unusedKiB !== undefined) this.balloonUnused.set(labels, g.unusedKiB * KiB);
        if (g.usedKiB !== undefined) this.balloonUsed.set(labels, g.usedKiB * KiB);
        if (g.anonKiB !== undefined) this.guestAnon.set(labels, g.anonKiB * KiB);
        if (g.cacheKiB !== undefined) {
          const { hotKiB, coldKiB } = cacheHeld(g.cacheKiB, g.hotKiB ?? 0);
          this.guestPageCache.set({ ...labels, kind: 'hot' }, hotKiB * KiB);
          this.guestPageCache.set({ ...labels, kind: 'cold' }, coldKiB * KiB);
        }
        if (g.readKiBps !== undefined) this.guestDiskRead.set(labels, g.readKiBps * KiB);
      }
      this.hostFree.set(entry.memory.hostFreeKiB * KiB);
      this.hostReserve.set(entry.memory.reserveKiB * KiB);
    }
  }

  /** The host's demand against what it has, and the guest to move while it is short. */
  private recordShortfall(s: TraceShortfall, timeMs: number): void {
    this.hostPcpus.set(s.pcpus);
    if (s.cpuDemand !== undefined) this.hostCpuDemand.set(s.cpuDemand);
    this.hostMemory.set(s.memoryTotalKiB * KiB);
    this.guestCapacity.set(s.memoryCapacityKiB * KiB);
    this.memoryNeed.set(s.memoryNeedKiB * KiB);
    this.shortfallCpu.set(s.cpuShort);
    this.shortfallMemory.set(s.memoryShortKiB * KiB);
    this.shortfallSeconds.set({ resource: 'cpu' }, s.cpuSinceMs === undefined ? 0 : (timeMs - s.cpuSinceMs) / 1000);
    this.shortfallSeconds.set({ resource: 'memory' }, s.memorySinceMs === undefined ? 0 : (timeMs - s.memorySinceMs) / 1000);
    this.shortfallRelief.reset();
    if (s.cpuRelief) this.shortfallRelief.set({ resource: 'cpu', domain: s.cpuRelief.domain, uuid: s.cpuRelief.uuid }, s.cpuRelief.amount);
    if (s.memoryRelief) this.shortfallRelief.set({ resource: 'memory', domain: s.memoryRelief.domain, uuid: s.memoryRelief.uuid }, s.memoryRelief.amount * KiB);
  }

  /** Prediction errors, weights and dedicated pCPUs of the last measured interval (absent series: not predicted, not dedicated). */
  private recordPredictionsAndGrants(entry: TraceInterval): void {
    const cpu = entry.cpu!;
    for (const g of [this.vcpuPredictionError, this.cpuWeight, this.dedicatedPcpus, this.dedicatedSince, this.dedicatedRefused]) g.reset();
    if (cpu.predictionError !== undefined) this.predictionError.set(cpu.predictionError);
    for (const [domain, error] of Object.entries(cpu.domainPredictionError ?? {})) this.vcpuPredictionError.set({ domain }, error);
    for (const v of cpu.vcpus) this.cpuWeight.set({ domain: v.domain }, v.weight ?? 1);
    for (const domain of this.dedicatedNames) if (entry.domains.includes(domain)) this.dedicatedPcpus.set({ domain }, 0);
    // Each interval's time is ms since the run started; the grant's age is measured back from now.
    const since = (ms: number | undefined) => (this.now() - (entry.timeMs - (ms ?? entry.timeMs))) / 1000;
    for (const g of cpu.dedicated ?? []) {
      this.dedicatedPcpus.set({ domain: g.domain }, g.pcpus.length);
      this.dedicatedSince.set({ domain: g.domain }, since(g.sinceMs));
    }
    for (const domain of cpu.dedicatedRefused ?? []) this.dedicatedRefused.set({ domain }, 1);
  }

  /** The trial loop's counters, its demand epoch and the last trial's before and tried worst fraction of fair share. */
  private recordTrials(entry: TraceInterval): void {
    const { outcomes, held } = this.trialCounter.add(entry);
    for (const outcome of outcomes) this.trials.inc({ outcome });
    if (held) this.trialsHeld.inc({ rule: held });
    const trial = entry.cpu?.trial;
    if (!trial) return;
    this.demandEpoch.set(trial.epoch);
    if (trial.event === 'started') {
      // A new trial: its baseline, and nothing tried yet.
      this.trialWorstFraction.reset();
      if (trial.baseline) this.trialWorstFraction.set({ placement: 'before' }, trial.baseline.worstFraction);
    } else if (trial.event === 'kept' || trial.event === 'reverted') {
      if (trial.baseline) this.trialWorstFraction.set({ placement: 'before' }, trial.baseline.worstFraction);
      if (trial.measured) this.trialWorstFraction.set({ placement: 'tried' }, trial.measured.worstFraction);
    }
  }

  /** Like the gauges, a vanished domain's OOM counter goes with it (Prometheus marks it stale). */
  private forgetGoneDomains(domains: readonly string[]): void {
    const present = new Set(domains);
    for (const domain of this.oomDomains) {
      if (!present.has(domain)) {
        this.oomKills.remove({ domain });
        this.oomDomains.delete(domain);
      }
    }
    for (const domain of present) this.oomDomains.add(domain);
  }

  async text(): Promise<string> {
    const text = await this.registry.metrics();
    // The libvirt exporter's CPU time is a counter (see LibvirtExporterSeries).
    return this.libvirtSeries ? text.replace('# TYPE libvirt_domain_info_cpu_time_seconds_total gauge', '# TYPE libvirt_domain_info_cpu_time_seconds_total counter') : text;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
