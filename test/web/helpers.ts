import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
export const fixture = (name: string) => `${repoRoot}test/web/fixtures/${name}`;

export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[]): CliRun {
  return startProgram(process.execPath, [cliPath, ...args], repoRoot);
}

/** Any program (e.g. an installed `virtbalance`), its output collected as startCli's. */
export function startProgram(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(command, args, { cwd, env: { ...process.env, VIRTBALANCE_DEBUG: '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Waits for the `dashboard at URL` line on stderr. */
export async function dashboardUrlOf(run: CliRun, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /dashboard at (http:\/\/\S+\/)/.exec(run.stderr());
    if (m) return m[1]!;
    if (run.child.exitCode !== null) throw new Error(`the CLI exited (${run.child.exitCode}) before serving: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no dashboard URL within ${timeoutMs} ms; stderr: ${run.stderr()}`);
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the subset prom-client writes): samples, HELP and TYPE. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const raw = m[4]!;
    samples.push({ name: m[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return { samples, types };
}

export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** A raw SSE client: collects events; `res` lets a test cut it off mid-stream. */
export function openEventStream(url: string): Promise<{ res: IncomingMessage; events: SseEvent[]; next: (event: string, timeoutMs?: number) => Promise<SseEvent> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const events: SseEvent[] = [];
      const taken = new Set<SseEvent>();
      let wake: (() => void) | undefined;
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const e: SseEvent = { event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) e.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              e.data += line.slice(6);
              hasData = true;
            } else if (line.startsWith('id: ')) e.id = line.slice(4);
          }
          if (hasData) events.push(e);
        }
        wake?.();
      });
      res.on('error', () => {});
      /** The first event of this kind not yet taken, waiting for it if need be. */
      const next = async (event: string, timeoutMs = 5000): Promise<SseEvent> => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = events.find((e) => e.event === event && !taken.has(e));
          if (found) {
            taken.add(found);
            return found;
          }
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`no '${event}' event within ${timeoutMs} ms`);
          await new Promise<void>((r) => {
            const timer = setTimeout(r, left);
            wake = () => {
              clearTimeout(timer);
              r();
            };
          });
        }
      };
      resolve({ res, events, next });
    });
    req.on('error', reject);
    req.end();
  });
}
