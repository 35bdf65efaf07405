// Bad input everywhere, through the built CLI (node dist/src/cli/bin.js): each case must exit
// non-zero with exactly one line on stderr and no stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockPath, processStartTicks } from '../../src/control/lock.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, VIRTBALANCE_DEBUG: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertOneLine(o: Outcome, code: number, message: RegExp, what: string): void {
  assert.equal(o.code, code, `${what}: exit ${o.code}, stderr: ${o.stderr}`);
  const lines = o.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got:\n${o.stderr}`);
  assert.doesNotMatch(o.stderr, /^\s+at /m, `${what}: stack frame on stderr`);
  assert.match(lines[0]!, message, what);
}

const dir = mkdtempSync(join(tmpdir(), 'vb-badinput-'));
chmodSync(dir, 0o755);
const lockDir = join(dir, 'locks');
const env = { VIRTBALANCE_LOCK_DIR: lockDir };
writeFileSync(join(dir, 'syntax.yaml'), 'interval: 2\ncpu:\n  margin: [1\n');
writeFileSync(join(dir, 'unknown.yaml'), 'connect: qemu:///system\nmemory:\n  floor: 200\n');
writeFileSync(join(dir, 'range.yaml'), 'interval: -2\n');
writeFileSync(join(dir, 'not-a-trace.jsonl'), 'hello\n');
writeFileSync(join(dir, 'manage.yaml'), 'vms:\n  db1: { manage: 1 }\n');
// An ssh that fails the way a real one does for an unknown host (a fresh machine may have no ssh client).
const failingSsh = join(dir, 'ssh-unknown-host');
writeFileSync(failingSsh, '#!/bin/sh\necho "ssh: Could not resolve hostname nosuchhost.invalid: Name or service not known" >&2\nexit 255\n');
chmodSync(failingSsh, 0o755);
writeFileSync(join(dir, 'bad-scenario.yaml'), 'name: x\ninterval: 2\nintervals: 5\nhost: { pcpus: 0, memoryMiB: 1024 }\ndomains: [{ name: a, memoryMiB: 100 }]\n');

const CASES: Array<[string[], number, RegExp]> = [
  [['frobnicate'], 2, /^virtbalance: unknown command 'frobnicate'/],
  [['run', '--bogus'], 2, /^virtbalance: run: Unknown option '--bogus'/],
  [['run', '--connect'], 2, /^virtbalance: run: Option '--connect <value>' argument missing/],
  [['run', 'extra'], 2, /^virtbalance: run: unexpected argument 'extra'/],
  [['run', '--interval', 'abc', '--sim', 'cpu-1-balanced'], 2, /^virtbalance: --interval must be a positive number of seconds, got 'abc'/],
  [['run', '--interval', '0', '--sim', 'cpu-1-balanced'], 2, /got '0'/],
  [['run', '--interval=-1', '--sim', 'cpu-1-balanced'], 2, /got '-1'/],
  [['run', '--intervals', '1.5', '--sim', 'cpu-1-balanced'], 2, /--intervals must be a positive whole number/],
  [['run', '--seed', 'x', '--sim', 'cpu-1-balanced'], 2, /--seed must be a positive whole number/],
  [['run', '--cpu-margin', 'x', '--sim', 'cpu-1-balanced'], 2, /--cpu-margin must be a number ≥ 0/],
  [['run', '--cpu', '--memory-floor', '100', '--sim', 'cpu-1-balanced'], 2, /--memory-floor needs the memory coordinator/],
  [['run', '--sim', 'cpu-1-balanced', '--connect', 'qemu:///system'], 2, /give either --connect or --sim, not both/],
  [['run', '--sim', 'no-such-scenario'], 2, /^virtbalance: no scenario 'no-such-scenario'/],
  [['run', '--sim', join(dir, 'bad-scenario.yaml')], 2, /bad-scenario\.yaml:4: host\.pcpus: 0 is out of range/],
  [['run', '--connect', 'not a uri'], 2, /^virtbalance: invalid libvirt URI 'not a uri'/],
  [['run', '--connect', 'qemu://remote/system'], 2, /names a host but no transport/],
  [['run', '--connect', 'qemu+tls://remote/system'], 2, /transport 'tls' is not supported/],
  [['run', '--connect', 'qemu+tcp://127.0.0.1:1/system'], 1, /^virtbalance: cannot connect to qemu\+tcp:\/\/127\.0\.0\.1:1\/system via tcp 127\.0\.0\.1:1: connection refused/],
  [['run', '--connect', `qemu:///system?socket=${dir}/no-such-sock`], 1, /no such socket \(ENOENT\); is libvirtd running\?/],
  [['run', '--config', join(dir, 'missing.yaml')], 2, /cannot read config .*missing\.yaml: no such file$/],
  [['run', '--config', dir], 2, /cannot read config .*: is a directory$/],
  [['run', '--config', join(dir, 'syntax.yaml')], 2, /syntax\.yaml:\d+: YAML syntax:/],
  [['run', '--config', join(dir, 'unknown.yaml')], 2, /unknown\.yaml:3: memory\.floor: unknown field 'floor'/],
  [['run', '--config', join(dir, 'range.yaml')], 2, /range\.yaml:1: interval: -2 is out of range/],
  [['run', '--sim', 'cpu-1-balanced', '--trace', dir], 2, /--trace .*: is a directory$/],
  [['run', '--sim', 'cpu-1-balanced', '--trace', '/proc/virtbalance-nope/t.jsonl'], 2, /cannot create directory \/proc\/virtbalance-nope/],
  [['vcpu_scheduler'], 2, /^virtbalance: usage: vcpu_scheduler <interval seconds> \(try --help\)$/],
  [['vcpu_scheduler', '2', '3'], 2, /usage: vcpu_scheduler/],
  [['vcpu_scheduler', '0'], 2, /interval must be a positive number of seconds, got '0'/],
  [['memory_coordinator', 'abc'], 2, /interval must be a positive number of seconds, got 'abc'/],
  [['memory_coordinator', '1', '--connect', 'foo'], 2, /invalid libvirt URI 'foo'/],
  [['memory_coordinator', '1', '--connect', `qemu:///system?socket=${dir}/no-such-sock`], 1, /cannot connect/],
  [['score', join(dir, 'missing.jsonl')], 2, /cannot read trace .*: no such file/],
  [['score', join(dir, 'not-a-trace.jsonl')], 2, /not-a-trace\.jsonl:1: not valid JSON/],
  [['sim', 'no-such-scenario'], 2, /no scenario 'no-such-scenario'/],
  [['info', '--connect', 'bad'], 2, /invalid libvirt URI 'bad'/],
  // Negative numbers are values, checked as such (parseArgs would call them ambiguous options).
  [['run', '--interval', '-1'], 2, /^virtbalance: --interval must be a positive number of seconds, got '-1'$/],
  [['run', '--sim', 'cpu-1-balanced', '--intervals', '-3'], 2, /^virtbalance: --intervals must be a positive whole number, got '-3'$/],
  [['vcpu_scheduler', '-1'], 2, /^virtbalance: interval must be a positive number of seconds, got '-1'$/],
  [['memory_coordinator', '-.5'], 2, /^virtbalance: interval must be a positive number of seconds, got '-\.5'$/],
  [['sim', 'demo-grader', '--out', '/proc/nope'], 2, /^virtbalance: --out \/proc\/nope: cannot create directory \/proc\/nope: ENOENT$/],
  [['run', '--sim', 'cpu-1-balanced', '--only', ','], 2, /^virtbalance: --only: give a domain name, glob or UUID$/],
  [['vcpu_scheduler', '1', '--exclude', ''], 2, /^virtbalance: --exclude: give a domain name, glob or UUID$/],
  [['run', '--config', join(dir, 'manage.yaml')], 2, /manage\.yaml:2: vms\.db1\.manage: expected true or false/],
  [['info', '--connect', `qemu+ssh://nosuchhost.invalid/system?command=${failingSsh}`], 1, /ssh failed: ssh: Could not resolve hostname nosuchhost\.invalid: Name or service not known; check that plain `ssh` to that host works/],
];

test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const [args, code, message] of CASES) {
  test(`bad input: virtbalance ${args.join(' ')} → exit ${code}, one line`, async () => {
    const o = await runCli(args, { env });
    assertOneLine(o, code, message, args.join(' '));
    assert.equal((o.stderr.match(/'/g) ?? []).length % 2, 0, `quotes left open: ${o.stderr}`);
    assert.ok((o.stderr.match(/ssh said/g) ?? []).length <= 1, `ssh quoted twice: ${o.stderr}`);
    if (/ssh failed/.test(o.stderr)) assert.doesNotMatch(o.stderr, /is libvirtd running/, 'an ssh failure is not blamed on libvirtd');
    if (args[0] === 'sim') assert.doesNotMatch(o.stderr, /--trace/, 'sim has no --trace flag to blame');
  });
}

test('a second controller of the same kind on one URI: exit 1, one line naming the holder PID; the other kind may start', async () => {
  const uri = `qemu:///system?socket=${dir}/no-such-sock`;
  const path = lockPath(uri, 'cpu', lockDir);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(lockDir, { recursive: true });
  // This test process holds the vCPU scheduler's lock.
  writeFileSync(path, JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid), uri, controller: 'cpu', since: '2026-01-01T00:00:00Z' }));
  try {
    assertOneLine(await runCli(['vcpu_scheduler', '1', '--connect', uri], { env }), 1, new RegExp(`the vCPU scheduler already runs on .* as PID ${process.pid} .*stop it first$`), 'lock held');
    assertOneLine(await runCli(['run', '--cpu', '--connect', 'qemu+unix:///system?socket=' + `${dir}/no-such-sock`], { env }), 1, new RegExp(`as PID ${process.pid}`), 'lock held, other spelling');
    // The memory coordinator locks separately: it gets past the lock and fails only on the missing socket.
    assertOneLine(await runCli(['memory_coordinator', '1', '--connect', uri], { env }), 1, /cannot connect/, 'other controller');
  } finally {
    rmSync(path, { force: true });
  }
});

test('permission denied on the libvirt socket: exit 1, one line saying so', async () => {
  const sockDir = mkdtempSync(join(tmpdir(), 'vb-sock-'));
  chmodSync(sockDir, 0o755);
  const sock = join(sockDir, 'libvirt-sock');
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(sock, r));
  const asRoot = process.getuid?.() === 0;
  // Root ignores file modes: run the CLI as nobody against a root-only socket; otherwise a socket nobody may use.
  chmodSync(sock, asRoot ? 0o600 : 0o000);
  const userLocks = mkdtempSync(join(tmpdir(), 'vb-locks-'));
  chmodSync(userLocks, 0o777);
  try {
    const o = await runCli(['vcpu_scheduler', '1', '--connect', `qemu:///system?socket=${sock}`], {
      env: { VIRTBALANCE_LOCK_DIR: userLocks },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assertOneLine(o, 1, /cannot connect to .* via socket .*libvirt-sock: .*EACCES.*permission denied: run as root or as a member of the group that owns the socket/i, 'permission denied');
  } finally {
    server.close();
    rmSync(sockDir, { recursive: true, force: true });
    rmSync(userLocks, { recursive: true, force: true });
  }
});
