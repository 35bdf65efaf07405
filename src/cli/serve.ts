import { loadScenario } from '../host/sim/index.js';
import { startSimServer } from '../serve/sim-server.js';
import { FatalError, UsageError } from '../ground/errors.js';
import { parseCommandLine } from './options.js';
import { positiveNumber } from '../ground/numbers.js';
import { resolveScenarioPath } from '../app/target.js';

const serveHelp = `usage: virtbalance serve SCENARIO --socket PATH [--tcp HOST:PORT] [--speed X] [--seed N]

Serves the simulated host of SCENARIO (a file or a shipped name) over libvirt's remote protocol,
so that any libvirt client (virsh, the C library, python3-libvirt) can run against it:
  virsh -c 'qemu+unix:///system?socket=PATH' list
Time runs in real time (X simulated seconds per second with --speed) until Ctrl-C.
  --socket PATH      UNIX socket to serve on
  --tcp HOST:PORT    also serve on TCP (loopback addresses only): qemu+tcp://HOST:PORT/system
  --speed X          simulated seconds per real second (default 1)
  --seed N           seed of the simulated host (default: the scenario's)`;

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
    help: { type: 'boolean', short: 'h' },
  }, 'serve');
  if (values.help) {
    console.log(serveHelp);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('serve: give exactly one scenario (try --help)');
  if (values.socket === undefined && values.tcp === undefined) throw new UsageError('serve: give --socket PATH (and/or --tcp HOST:PORT)');
  const scenario = loadScenario(resolveScenarioPath(positionals[0]!));
  const speed = values.speed === undefined ? 1 : positiveNumber(values.speed, '--speed');
  const seed = values.seed === undefined ? undefined : positiveNumber(values.seed, '--seed');
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
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await served.close();
  return 0;
}
