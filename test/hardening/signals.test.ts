// SIGINT/SIGTERM: the current interval finishes (or is abandoned when the host hangs), the trace is
// flushed, --restore puts back what was found at start, and the exit status is 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runControlLoop } from '../../src/control/loop.js';
import { realClock } from '../../src/host/real-clock.js';
import type { HostObservation, Hypervisor } from '../../src/ground/hypervisor.js';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { defaultMemoryOptions } from '../../src/memory/coordinator.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

async function runUntilSignal(args: string[], signal: NodeJS.Signals, afterIntervals: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIRTBALANCE_DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (stdout.split('\n').filter((l) => l.startsWith('{')).length < afterIntervals && Date.now() < deadline && child.exitCode === null) await sleep(20);
  child.kill(signal);
  const code = await exited;
  return { code, stdout, stderr };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} mid-run: exit 0, the trace holds every interval printed, --restore puts the start pins back`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-signal-'));
    try {
      const trace = join(dir, 'trace.jsonl');
      const r = await runUntilSignal(['run', '--cpu', '--sim', 'cpu-2-all-on-pcpu0', '--pace', '20', '--intervals', '100000', '--json', '--restore', '--trace', trace], signal, 8);
      assert.equal(r.code, 0, r.stderr);
      const printed = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as TraceInterval);
      assert.ok(printed.length >= 8 && printed.length < 1000, `${printed.length} intervals`);
      const lines = readFileSync(trace, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceLine);
      assert.equal(lines[0]!.type, 'header');
      assert.equal(lines.length - 1, printed.length, 'the trace is flushed up to the last interval');
      const pins = printed.flatMap((e) => e.actions).filter((a) => a.kind === 'pin').length;
      assert.ok(pins >= 6, `the scheduler re-pinned ${pins} vCPUs`);
      const restored = /virtbalance: restore: (\d+) changes? put back/.exec(r.stderr);
      assert.ok(restored, r.stderr);
      assert.equal(Number(restored[1]), pins, r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a stop requested while the host does not answer: the interval is abandoned after the grace period and recorded as such', { timeout: 10_000 }, async () => {
  let observing = 0;
  const hung: Hypervisor = {
    uri: 'hung://',
    observe: () => {
      observing++;
      return new Promise<HostObservation>(() => {});
    },
    pinVcpu: async () => {},
    setMemory: async () => {},
    setMemoryStatsPeriod: async () => {},
    close: async () => {},
  };
  const abort = new AbortController();
  const entries: TraceInterval[] = [];
  const logs: string[] = [];
  setTimeout(() => abort.abort(), 100);
  const started = Date.now();
  const n = await runControlLoop(hung, realClock, { intervalSeconds: 1, memory: defaultMemoryOptions, signal: abort.signal, abandonAfterMs: 300 }, { record: (e) => void entries.push(e), log: (m) => void logs.push(m) });
  const took = Date.now() - started;
  assert.ok(took >= 350 && took < 2000, `stopped after ${took} ms`);
  assert.equal(n, 1);
  assert.equal(observing, 1);
  assert.equal(entries.length, 1);
  assert.match(entries[0]!.notices[0]!.message, /^stop requested: interval abandoned/);
  assert.equal(logs.length, 1);
});

test('a stop requested during a normal interval lets it finish (nothing abandoned)', { timeout: 10_000 }, async () => {
  const abort = new AbortController();
  const slow: Hypervisor = {
    uri: 'slow://',
    observe: async () => {
      abort.abort();
      await sleep(100);
      return { timeNs: 1, host: { hostname: 'h', pcpus: 1, memoryTotalKiB: 1, memoryFreeKiB: 1 }, domains: [] };
    },
    pinVcpu: async () => {},
    setMemory: async () => {},
    setMemoryStatsPeriod: async () => {},
    close: async () => {},
  };
  const entries: TraceInterval[] = [];
  await runControlLoop(slow, realClock, { intervalSeconds: 1, memory: defaultMemoryOptions, signal: abort.signal, abandonAfterMs: 2000 }, { record: (e) => void entries.push(e) });
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0]!.notices, []);
});
