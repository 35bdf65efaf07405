// libvirtd killed and restarted under a running virtbalance, for real: a private libvirtd (run as
// nobody with its own runtime directory, so the shared test daemon is never touched) serves the
// test driver; the built CLI runs against it; the daemon is killed (SIGKILL), then stopped
// (SIGTERM), and started again each time. virtbalance must say so once per loss and once per
// reconnection, record the outage in its trace, resynchronise, go on, and exit 0 on SIGTERM.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { LibvirtClient } from '../../src/libvirt/client.js';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';
import { IN_CI } from '../libvirt/daemon.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const NOBODY = 65534;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to run a private libvirtd as nobody)';
  for (const tool of ['libvirtd', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (scripts/libvirt-test-host.sh up installs libvirt)`;
  }
  return undefined;
}

class PrivateDaemon {
  private child: ChildProcess | undefined;
  readonly socket: string;

  constructor(readonly dir: string) {
    this.socket = join(dir, 'run', 'libvirt', 'libvirt-sock');
  }

  static create(): PrivateDaemon {
    const dir = mkdtempSync(join(tmpdir(), 'vb-private-libvirtd-'));
    for (const sub of ['run', 'home', 'config']) mkdirSync(join(dir, sub));
    for (const p of [dir, join(dir, 'run'), join(dir, 'home'), join(dir, 'config')]) chownSync(p, NOBODY, NOBODY);
    return new PrivateDaemon(dir);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const env = {
      HOME: join(this.dir, 'home'),
      XDG_RUNTIME_DIR: join(this.dir, 'run'),
      XDG_CONFIG_HOME: join(this.dir, 'config'),
      XDG_CACHE_HOME: join(this.dir, 'home', '.cache'),
      XDG_DATA_HOME: join(this.dir, 'home', '.local'),
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    };
    const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'libvirtd', '--timeout', '0'], { env, stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`private libvirtd exited with ${child.exitCode}`);
      if (existsSync(this.socket)) {
        try {
          const c = await LibvirtClient.connect(this.uri, { timeoutMs: 2_000 });
          await c.close();
          return;
        } catch {
          // not ready yet
        }
      }
      await sleep(100);
    }
    throw new Error('private libvirtd did not answer within 20 s');
  }

  get uri(): string {
    return `test+unix:///default?socket=${this.socket}`;
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function prerequisitesOrSkip(t: TestContext): boolean {
  const missing = missingPrerequisite();
  if (!missing) return true;
  if (IN_CI) assert.fail(`daemon restart test cannot run: ${missing}`);
  const msg = `SKIPPED: ${missing}`;
  console.error(msg);
  t.skip(msg);
  return false;
}

test('libvirtd killed and restarted while virtbalance runs: one line per loss and per reconnection, outage in the trace, resync, exit 0', { timeout: 120_000 }, async (t) => {
  if (!prerequisitesOrSkip(t)) return;
  const daemon = PrivateDaemon.create();
  const tracePath = join(daemon.dir, 'trace.jsonl');
  let cli: ChildProcess | undefined;
  try {
    await daemon.start();
    cli = spawn(process.execPath, [BIN, 'run', '--connect', daemon.uri, '--interval', '0.25', '--json', '--trace', tracePath], {
      env: { ...process.env, VIRTBALANCE_LOCK_DIR: join(daemon.dir, 'locks'), VIRTBALANCE_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    cli.stdout!.on('data', (d: Buffer) => (stdout += d));
    cli.stderr!.on('data', (d: Buffer) => (stderr += d));
    const entries = (): TraceInterval[] => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as TraceInterval);
    const observed = (): number => entries().filter((e) => !e.notices.some((n) => n.message.startsWith('observe failed'))).length;

    await until('a few intervals', () => observed() >= 4, 20_000);
    // 1. Killed outright.
    await daemon.stop('SIGKILL');
    await until('the loss to be reported', () => /lost connection to/.test(stderr), 10_000);
    await sleep(1_000);
    await daemon.start();
    await until('reconnection', () => /reconnected to/.test(stderr), 40_000);
    const afterFirst = observed();
    await until('intervals after reconnecting', () => observed() >= afterFirst + 3, 20_000);
    // 2. Stopped cleanly (as `systemctl restart libvirtd` does).
    await daemon.stop('SIGTERM');
    await until('the second loss', () => (stderr.match(/lost connection to/g) ?? []).length === 2, 10_000);
    await daemon.start();
    await until('the second reconnection', () => (stderr.match(/reconnected to/g) ?? []).length === 2, 40_000);
    await until('measuring again after the second reconnection', () => entries().slice(-2).every((e) => e.cpu !== undefined), 20_000);

    const exited = new Promise<number | null>((r) => cli!.once('exit', (code) => r(code)));
    cli.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, stderr);

    // The operator saw one line per loss and one per reconnection, and nothing else went wrong.
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(lines.filter((l) => l.startsWith('virtbalance: lost connection to')).length, 2, stderr);
    assert.equal(lines.filter((l) => l.startsWith('virtbalance: reconnected to')).length, 2, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m);

    // Trace: intervals numbered without a gap, the outage recorded, a resync after each reconnection.
    const trace = readFileSync(tracePath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TraceLine);
    assert.equal(trace[0]!.type, 'header');
    const recorded = trace.filter((l): l is TraceInterval => l.type === 'interval');
    recorded.forEach((e, i) => assert.equal(e.interval, i));
    assert.equal(recorded.length, entries().length, 'every interval printed is in the flushed trace');
    const outage = recorded.filter((e) => e.notices.some((n) => /^observe failed: no connection to /.test(n.message)));
    assert.ok(outage.length >= 2, 'the outage is in the trace');
    const resyncs = recorded.filter((e) => e.notices.some((n) => n.message.startsWith('new connection to the host: resynchronised') || n.message.startsWith('observing again after')));
    assert.ok(resyncs.length >= 2, 'a resync after each reconnection');
    // The first observation after each outage measures no CPU (no delta across connections).
    for (const e of resyncs) assert.equal(e.cpu, undefined, `interval ${e.interval} measured CPU across the outage`);
    assert.ok(recorded.at(-1)!.cpu !== undefined, 'measuring again at the end');
  } finally {
    cli?.kill('SIGKILL');
    await daemon.destroy();
  }
});
