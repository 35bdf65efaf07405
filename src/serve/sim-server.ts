// A simulated host served over libvirt's remote protocol: the scenario runs in real time (or `speed`
// times faster) and any libvirt client on the socket sees it as a QEMU host.
import type { Action } from '../ground/actions.js';
import { createSimulatedHost, type Scenario, type SimulatedRun } from '../host/sim/index.js';
import { LibvirtServer } from '../libvirt/server.js';
import { RealTimeDriver } from './real-time.js';
import { simProcedures } from './sim-procedures.js';

export interface SimServerOptions {
  scenario: Scenario;
  seed?: number;
  /** UNIX socket path to serve on. */
  socket?: string;
  /** Loopback TCP address to serve on as well. */
  tcp?: { host: string; port: number };
  /** Simulated seconds per real second (default 1). */
  speed?: number;
  /** Start with time standing still (tests step it with `run.hypervisor.advance`). */
  paused?: boolean;
  keepaliveIntervalSeconds?: number;
  onWarning?: (message: string) => void;
}

export interface SimServer {
  run: SimulatedRun;
  server: LibvirtServer;
  driver: RealTimeDriver;
  /** The TCP port actually bound, when TCP was asked for. */
  tcpPort?: number;
  /** Changes clients made since the last call (and forgets them). */
  takeActions(): Action[];
  /** Calls answered so far, by procedure, with how many failed. */
  calls: Map<string, { ok: number; failed: number }>;
  close(): Promise<void>;
}

export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  const run = createSimulatedHost(options.scenario, { seed: options.seed });
  const driver = new RealTimeDriver(run.hypervisor, options.speed ?? 1);
  let actions: Action[] = [];
  const handlers = simProcedures(run.hypervisor, { onAction: (a) => actions.push(a) });
  // Before answering anything, the simulation catches up with the real clock.
  for (const [name, h] of Object.entries(handlers)) {
    (handlers as Record<string, unknown>)[name] = (args: unknown, session: unknown) => {
      driver.tick();
      return (h as (a: unknown, s: unknown) => unknown)(args, session);
    };
  }
  const server = new LibvirtServer({ handlers, keepaliveIntervalSeconds: options.keepaliveIntervalSeconds, maxClients: 256 });
  const calls = new Map<string, { ok: number; failed: number }>();
  server.on('call', (name, code) => {
    const c = calls.get(name) ?? { ok: 0, failed: 0 };
    if (code === undefined) c.ok++;
    else c.failed++;
    calls.set(name, c);
  });
  server.on('warning', (m) => options.onWarning?.(m));
  let tcpPort: number | undefined;
  try {
    if (options.socket) await server.listenUnix(options.socket);
    if (options.tcp) tcpPort = await server.listenTcp(options.tcp.host, options.tcp.port);
  } catch (err) {
    await server.close();
    throw err;
  }
  if (!options.paused) driver.start();
  return {
    run,
    server,
    driver,
    tcpPort,
    calls,
    takeActions() {
      const out = actions;
      actions = [];
      return out;
    },
    async close() {
      driver.stop();
      await server.close();
    },
  };
}
