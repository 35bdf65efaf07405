import { FatalError, UsageError } from '../ground/errors.js';
import { stopRequests } from '../app/stop-requests.js';
import { packageVersion } from '../app/version.js';

/** A subcommand: takes its own argv (after the command name), returns the exit code. */
export type Command = (argv: string[]) => Promise<number>;

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

// Each command lives in its own module, loaded only when used, so start-up stays fast.
const commands: Record<string, CommandEntry> = {
  sim: { summary: 'run a scenario on the simulated host: monitor output, trace, plots, score', load: async () => (await import('./sim.js')).simCommand },
  run: { summary: 'run the controllers on a libvirt host (or --sim SCENARIO)', load: async () => (await import('./run.js')).runCommand },
  vcpu_scheduler: { summary: 'the assignment\'s vCPU scheduler: vcpu_scheduler <interval>', load: async () => (await import('./run.js')).assignmentCommand('cpu', 'vcpu_scheduler') },
  memory_coordinator: { summary: 'the assignment\'s memory coordinator: memory_coordinator <interval>', load: async () => (await import('./run.js')).assignmentCommand('memory', 'memory_coordinator') },
  score: { summary: 'score a trace file: balance, fairness, starvation, reclaim (--plots DIR for SVGs)', load: async () => (await import('./score.js')).scoreCommand },
  report: { summary: 'one self-contained HTML report of a trace: plots, score, decision log', load: async () => (await import('./report.js')).reportCommand },
  serve: { summary: 'serve a scenario\'s simulated host over libvirt\'s remote protocol (virsh, C, Python clients)', load: async () => (await import('./serve.js')).serveCommand },
  judge: { summary: 'score any controller program on a scenario: judge SCENARIO -- CMD ARGS...', load: async () => (await import('./judge.js')).judgeCommand },
  info: { summary: 'show the host and every domain as libvirt sees them', load: async () => (await import('./info.js')).infoCommand },
  lab: { summary: 'real QEMU guests for trying the coordinators (up, run SCENARIO, status, down)', load: async () => (await import('./lab.js')).labCommand },
};

function usage(): string {
  const lines = ['usage: virtbalance <command> [options]', '', 'commands:'];
  for (const [name, entry] of Object.entries(commands)) lines.push(`  ${name.padEnd(20)} ${entry.summary}`);
  lines.push('', 'Run `virtbalance <command> --help` for its options.');
  return lines.join('\n');
}

/** Maps any thrown value to one line on stderr and an exit code; never a stack trace unless VIRTBALANCE_DEBUG is set. */
export function reportError(err: unknown, prog = 'virtbalance'): number {
  if (process.env.VIRTBALANCE_DEBUG && err instanceof Error) console.error(err.stack);
  const say = (message: string) => console.error(`${prog}: ${withoutPrefix(message.split('\n')[0]!, prog)}`);
  if (err instanceof UsageError || err instanceof FatalError) {
    say(err.message);
    return err.exitCode;
  }
  // parseArgs reports unknown options and missing values with these codes.
  const code = (err as { code?: string } | null)?.code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    say((err as Error).message);
    return 2;
  }
  say(err instanceof Error ? err.message : String(err));
  return 1;
}

/** A drop-in's own name is both the program and the command: `vcpu_scheduler: Unknown option`, not the name twice. */
function withoutPrefix(message: string, prog: string): string {
  return message.startsWith(`${prog}: `) ? message.slice(prog.length + 2) : message;
}

/**
 * When whoever reads our output goes away (EPIPE), printing stops and a running control loop is
 * asked to stop as on SIGTERM, so the trace still ends with the last finished interval, instead of
 * the process dying on an unhandled write error halfway through the trace.
 */
function surviveClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stopRequests.emit('stop');
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  surviveClosedOutput();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log(`virtbalance ${packageVersion()}`);
    return 0;
  }
  const entry = commands[name];
  if (!entry) throw new UsageError(`unknown command '${name}' (try --help)`);
  const command = await entry.load();
  return command(rest);
}

