// The shipped CLI run as a child process (benches and end-to-end tests): its output collected by
// line, stderr lines marked "! ", and a stop that asks politely (SIGINT, so it can restore what it
// changed) before it insists (SIGKILL after a grace period).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));

export interface CliChild {
  process: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved by line. */
  output: string[];
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** SIGINT, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<number | string>;
}

/** Runs `virtbalance ARGS`; `onLine` sees each line as it is collected. */
export function startCliChild(args: readonly string[], onLine?: (line: string) => void): CliChild {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const [stream, mark] of [[child.stdout!, ''], [child.stderr!, '! ']] as const) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = `${mark}${rest.slice(0, nl)}`;
        rest = rest.slice(nl + 1);
        output.push(line);
        onLine?.(line);
      }
    });
  }
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    process: child,
    output,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
}
