import type { TraceHeader, TraceInterval } from '../ground/trace-record.js';
import type { Target } from '../app/target.js';
import { UsageError } from '../ground/errors.js';
import { Dashboard } from './dashboard-server.js';
import { checkListenAddress, parseListenAddress, type ListenAddress } from '../config/listen-address.js';
import { pacedClock } from './paced-clock.js';

// The dashboard options of `run` and `sim`, and the life of a run that is watched: pacing on a
// simulated host, the server up before the first interval, and after a run that ends by itself
// the page stays up until Ctrl-C so the end can still be looked at.

export const dashboardFlags = {
  http: { type: 'string' },
  'http-public': { type: 'boolean' },
  pace: { type: 'string' },
  'libvirt-names': { type: 'boolean' },
  'node-names': { type: 'boolean' },
} as const;

export const dashboardHelp = `  --http [HOST:]PORT    serve the live dashboard, /metrics and /api/state on HOST:PORT
                        (default host 127.0.0.1; port 0 picks a free one)
  --http-public         allow --http on an address other than loopback (no authentication!)
  --pace N              simulated host: N intervals per real second (default 1 with --http,
                        otherwise as fast as it computes; 0 turns pacing off)
  --libvirt-names       /metrics also gives each domain's series as Debian's prometheus-libvirt-exporter
                        names them (libvirt_domain_info_*; config: metrics.libvirtNames)
  --node-names          /metrics also gives the host's CPU idle time and memory as node_exporter
                        names them, for a host without one (config: metrics.nodeNames)`;

export interface DashboardRequest {
  listen?: ListenAddress;
  allowPublic: boolean;
  /** Intervals per real second on a simulated host; undefined: unpaced. */
  pace?: number;
  /** /metrics adds the libvirt exporter's per-domain series (`--libvirt-names`, `metrics.libvirtNames`). */
  libvirtNames?: boolean;
  /** /metrics adds node_exporter's host series (`--node-names`, `metrics.nodeNames`). */
  nodeNames?: boolean;
}

/** The dashboard settings of a configuration file (`http:`, `httpPublic:`); --http overrides them. */
export interface DashboardConfig {
  source: string;
  http?: ListenAddress;
  httpPublic?: boolean;
  metrics?: { libvirtNames?: boolean; nodeNames?: boolean };
}

/** Checks the dashboard options before anything is opened; bad ones are a UsageError. */
export async function dashboardRequest(
  values: { http?: string; 'http-public'?: boolean; pace?: string; 'libvirt-names'?: boolean; 'node-names'?: boolean },
  onSimulatedHost: boolean,
  command: string,
  config?: DashboardConfig,
): Promise<DashboardRequest> {
  if (values['http-public'] && values.http === undefined && config?.http === undefined) throw new UsageError(`${command}: --http-public needs --http`);
  let listen: ListenAddress | undefined;
  let allowPublic = !!values['http-public'];
  if (values.http !== undefined) {
    listen = parseListenAddress(values.http);
    await checkListenAddress(listen, allowPublic);
  } else if (config?.http) {
    listen = config.http;
    allowPublic ||= !!config.httpPublic;
    await checkListenAddress(listen, allowPublic, `${config.source}: http`, 'set httpPublic: true (or give --http-public) to allow it');
  }
  let pace: number | undefined;
  if (values.pace !== undefined) {
    if (!onSimulatedHost) throw new UsageError(`${command}: --pace only applies to a simulated host (--sim); a real host runs in real time`);
    const n = Number(values.pace);
    if (values.pace.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--pace must be a number of intervals per second ≥ 0, got '${values.pace}'`);
    pace = n === 0 ? undefined : n;
  } else if (listen && onSimulatedHost) pace = 1;
  const libvirtNames = !!values['libvirt-names'] || !!config?.metrics?.libvirtNames;
  if (values['libvirt-names'] && !listen) throw new UsageError(`${command}: --libvirt-names needs --http (the series are served on /metrics)`);
  const nodeNames = !!values['node-names'] || !!config?.metrics?.nodeNames;
  if (values['node-names'] && !listen) throw new UsageError(`${command}: --node-names needs --http (the series are served on /metrics)`);
  return { listen, allowPublic, pace, ...(libvirtNames ? { libvirtNames } : {}), ...(nodeNames ? { nodeNames } : {}) };
}

export interface LiveRun {
  /** The target to run on: paced and instrumented as asked. */
  target: Target;
  onHeader: (header: TraceHeader) => void;
  onInterval: (entry: TraceInterval) => void;
  dashboard: Dashboard | undefined;
}

export interface LiveRunInfo {
  intervalSeconds: number;
  dryRun: boolean;
  plannedIntervals?: number;
}

/**
 * Runs `body` with the dashboard up (when asked). When the run ends by itself the dashboard
 * keeps serving until SIGINT/SIGTERM; when it was interrupted, or failed, it closes at once.
 */
export async function withLiveRun<T>(request: DashboardRequest, target: Target, info: LiveRunInfo, body: (live: LiveRun) => Promise<T>): Promise<T> {
  const paced: Target = request.pace === undefined ? target : { ...target, clock: pacedClock(target.clock, info.intervalSeconds, request.pace), pace: request.pace };
  if (!request.listen) return body({ target: paced, onHeader: () => {}, onInterval: () => {}, dashboard: undefined });

  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let dashboard: Dashboard | undefined;
  try {
    dashboard = await Dashboard.start({
      listen: request.listen,
      allowPublic: request.allowPublic,
      uri: target.label,
      dryRun: info.dryRun,
      pace: request.pace,
      plannedIntervals: info.plannedIntervals,
      libvirtNames: request.libvirtNames,
      nodeNames: request.nodeNames,
    });
    const d = dashboard;
    console.error(`virtbalance: dashboard at ${d.url}  (metrics: ${d.url}metrics)`);
    const result = await body({
      target: { ...paced, hypervisor: d.instrument(paced.hypervisor) },
      onHeader: (header) => d.publishHeader(header),
      onInterval: (entry) => d.publishInterval(entry),
      dashboard: d,
    });
    d.setPhase(interrupted ? 'stopped' : 'finished');
    if (!interrupted) {
      console.error(`virtbalance: run finished; the dashboard stays up at ${d.url} until Ctrl-C`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await dashboard?.close();
  }
}
