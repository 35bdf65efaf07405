import { loadScenario } from '../host/sim/index.js';
import { startSimServer } from '../serve/sim-server.js';
import { startUpstreamServer } from '../serve/upstream-server.js';
import { FatalError, UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveInteger, positiveNumber } from '../ground/numbers.js';
import { resolveScenarioPath } from '../app/target.js';

const serveHelp = `usage: virtbalance serve SCENARIO --socket PATH [--tcp HOST:PORT] [--speed X] [--seed N]
       virtbalance serve --upstream URI --only NAME[,NAME...] --socket PATH [--tcp HOST:PORT]

Serves the simulated host of SCENARIO (a file or a shipped name) over libvirt's remote protocol,
so that any libvirt client (virsh, the C library, python3-libvirt) can run against it:
  virsh -c 'qemu+unix:///system?socket=PATH' list
Time runs in real time (X simulated seconds per second with --speed) until Ctrl-C.
  --socket PATH      UNIX socket to serve on
  --tcp HOST:PORT    also serve on TCP (loopback addresses only): qemu+tcp://HOST:PORT/system
  --speed X          simulated seconds per real second (default 1)
  --seed N           seed of the simulated host (default: the scenario's)
  --upstream URI     serve a real libvirt daemon instead, filtered: only the domains named by
  --only NAMES       (comma-separated) are visible and can be changed; every other domain answers
                     "Domain not found"; node figures are passed on`;

export function parseTcp(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--tcp: expected HOST:PORT, got '${value}'`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`--tcp: port ${port} out of range`);
  return { host: (m[1] ?? m[2])!, port };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    socket: { type: 'string' },
    tcp: { type: 'string' },
    speed: { type: 'string' },
    seed: { type: 'string' },
    upstream: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, 'serve');
  if (values.help) {
    console.log(serveHelp);
    return 0;
  }
  if (values.socket === undefined && values.tcp === undefined) throw new UsageError('serve: give --socket PATH (and/or --tcp HOST:PORT)');
  if (values.upstream !== undefined || values.only !== undefined) return serveUpstream(values, positionals);
  if (positionals.length !== 1) throw new UsageError('serve: give exactly one scenario (try --help)');
  const scenario = loadScenario(resolveScenarioPath(positionals[0]!));
  const speed = values.speed === undefined ? 1 : positiveNumber(values.speed, '--speed');
  const seed = values.seed === undefined ? undefined : positiveInteger(values.seed, '--seed');
  const tcp = values.tcp === undefined ? undefined : parseTcp(values.tcp);
  let served;
  try {
    served = await startSimServer({ scenario, seed, socket: values.socket, tcp, speed, onWarning: (m) => console.error(`virtbalance serve: ${m}`) });
  } catch (err) {
    if (err instanceof Error && /loopback/.test(err.message)) throw new UsageError(`serve: ${err.message}`);
    throw new FatalError(`serve: cannot listen: ${(err as Error).message}`);
  }
  const where = [values.socket ? `qemu+unix:///system?socket=${values.socket}` : '', served.tcpPort !== undefined ? `qemu+tcp://${tcp!.host}:${served.tcpPort}/system` : ''].filter(Boolean).join(' and ');
  console.log(`virtbalance serve: ${scenario.name} (${scenario.domains.length} domains, ${scenario.host.pcpus} pCPUs) at ${speed}× real time on ${where}`);
  await untilSignal();
  await served.close();
  return 0;
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function serveUpstream(values: { upstream?: string; only?: string; socket?: string; tcp?: string; speed?: string; seed?: string }, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('serve: give a scenario or --upstream, not both');
  if (values.upstream === undefined || values.only === undefined) throw new UsageError('serve: --upstream URI and --only NAMES go together');
  if (values.speed !== undefined || values.seed !== undefined) throw new UsageError('serve: --speed and --seed are for a scenario, not --upstream');
  const only = values.only.split(',').map((n) => n.trim()).filter(Boolean);
  if (only.length === 0) throw new UsageError('serve: --only needs at least one domain name');
  const tcp = values.tcp === undefined ? undefined : parseTcp(values.tcp);
  let served;
  try {
    served = await startUpstreamServer({ upstream: values.upstream, only, socket: values.socket, tcp, onWarning: (m) => console.error(`virtbalance serve: ${m}`) });
  } catch (err) {
    if (err instanceof Error && /loopback/.test(err.message)) throw new UsageError(`serve: ${err.message}`);
    throw new FatalError(`serve: ${(err as Error).message.split('\n')[0]}`);
  }
  console.log(`virtbalance serve: ${values.upstream}, filtered to ${only.join(', ')}, on ${values.socket ? `qemu+unix:///system?socket=${values.socket}` : `qemu+tcp://${tcp!.host}:${served.tcpPort}/system`}`);
  await Promise.race([untilSignal(), new Promise<void>((r) => served.upstream.once('close', () => r()))]);
  await served.close();
  return 0;
}
