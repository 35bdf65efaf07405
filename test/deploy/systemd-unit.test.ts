// The host service's unit and account: what a sysadmin's tools say about them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../web/helpers.js';
import { IN_CI, requireTool } from './tools.js';

const run = promisify(execFile);
const unitPath = join(repoRoot, 'systemd/virtbalance.service');
const unitText = readFileSync(unitPath, 'utf8');

/** Every value of a directive in the unit, in order (continuation lines are not used in ours). */
function directive(name: string): string[] {
  return [...unitText.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

test('systemd-analyze security rates the unit 2.5 or better, and understands every line', async (t) => {
  const analyze = requireTool(t, '/usr/bin/systemd-analyze', 'systemd');
  if (!analyze) return;
  const { stdout, stderr } = await run(analyze, ['security', '--offline=true', '--no-pager', unitPath]);
  const level = /Overall exposure level for virtbalance\.service: (\d+(?:\.\d+)?) (\S+)/.exec(stdout);
  assert.ok(level, stdout.slice(-500));
  t.diagnostic(`exposure ${level[1]} ${level[2]}`);
  assert.ok(Number(level[1]) <= 2.5, `exposure ${level[1]} ${level[2]}`);
  // A misspelt directive is ignored by systemd, and only stderr says so.
  assert.equal(stderr.trim(), '', `systemd-analyze complained:\n${stderr}`);
  for (const check of ['CapabilityBoundingSet=~CAP_SYS_ADMIN', 'SystemCallFilter=~@privileged', 'PrivateDevices=', 'ProtectKernelTunables=', 'ProtectKernelModules=', 'ProtectClock=', 'ProtectHostname=', 'RestrictNamespaces=~user', 'RestrictRealtime=', 'RestrictSUIDSGID=', 'LockPersonality=', 'MemoryDenyWriteExecute=', 'UMask=', 'User=/DynamicUser=']) {
    const line = stdout.split('\n').find((l) => l.slice(2).startsWith(check));
    assert.ok(line, `no line for ${check}`);
    assert.ok(line.startsWith('✓'), `not satisfied: ${line}`);
  }
});

test('the unit runs as the virtbalance user with no capabilities', () => {
  assert.deepEqual(directive('User'), ['virtbalance']);
  assert.deepEqual(directive('CapabilityBoundingSet'), ['']);
  assert.deepEqual(directive('AmbientCapabilities'), ['']);
  assert.deepEqual(directive('MemoryDenyWriteExecute'), ['yes']);
  assert.deepEqual(directive('Environment'), ['VIRTBALANCE_LOCK_DIR=/run/virtbalance']);
});

test('ordered after both libvirtd and the modular virtqemud/virtproxyd, pulling in neither', () => {
  const after = directive('After').flatMap((v) => v.split(/\s+/));
  for (const unit of ['libvirtd.service', 'libvirtd.socket', 'virtqemud.socket', 'virtqemud.service', 'virtproxyd.socket']) assert.ok(after.includes(unit), `After= ${unit}`);
  for (const pull of ['Wants', 'Requires', 'Requisite', 'BindsTo', 'PartOf', 'Upholds']) {
    const named = directive(pull).flatMap((v) => v.split(/\s+/)).filter((u) => /^virt|^libvirt/.test(u));
    assert.deepEqual(named, [], `${pull}= must not name a libvirt unit`);
  }
});

test('the sysusers file creates the virtbalance user, without login, in group libvirt', async (t) => {
  const sysusers = requireTool(t, '/usr/bin/systemd-sysusers', 'systemd');
  if (!sysusers) return;
  const root = mkdtempSync(join(tmpdir(), 'vb-sysusers-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await run(sysusers, [`--root=${root}`, join(repoRoot, 'systemd/virtbalance.sysusers')]);
  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('virtbalance:'));
  assert.ok(passwd);
  const [, , uid, , , home, shell] = passwd.split(':');
  assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid, got ${uid}`);
  assert.equal(home, '/var/lib/virtbalance');
  assert.equal(shell, '/usr/sbin/nologin');
  const libvirt = readFileSync(join(root, 'etc/group'), 'utf8').split('\n').find((l) => l.startsWith('libvirt:'));
  assert.ok(libvirt, 'group libvirt exists');
  assert.deepEqual(libvirt.split(':')[3]!.split(','), ['virtbalance']);
});

// The kernel's own write-xor-execute switch (Linux 6.3+), what MemoryDenyWriteExecute= applies:
// set it, then exec the program; it holds across exec.
const MDWE = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print("prctl(PR_SET_MDWE): " + os.strerror(ctypes.get_errno()), file=sys.stderr)
    sys.exit(77)
os.execvp(sys.argv[1], sys.argv[1:])
`;

test("MemoryDenyWriteExecute: the unit's node command line runs under it; node with its JIT does not", { timeout: 60_000 }, (t) => {
  const [execStart] = directive('ExecStart');
  assert.ok(execStart);
  const argv = execStart.split(/\s+/);
  // /usr/bin/env node --jitless … /usr/local/lib/node_modules/virtbalance/dist/src/cli/bin.js run --config FILE --quiet
  const script = argv.findIndex((a) => a.endsWith('/dist/src/cli/bin.js'));
  assert.ok(script > 0, execStart);
  assert.ok(argv[script]!.startsWith('/usr/local/lib/node_modules/virtbalance/'));
  const nodeFlags = argv.slice(argv.indexOf('node') + 1, script);
  assert.ok(nodeFlags.includes('--jitless'), execStart);
  const config = join(mkdtempSync(join(tmpdir(), 'vb-mdwe-')), 'config.yaml');
  t.after(() => rmSync(join(config, '..'), { recursive: true, force: true }));
  writeFileSync(config, readFileSync(join(repoRoot, 'systemd/config.yaml')));
  const args = argv.slice(script + 1).map((a) => (a === '/etc/virtbalance/config.yaml' ? config : a));
  const ours = spawnSync('python3', ['-c', MDWE, process.execPath, ...nodeFlags, join(repoRoot, 'dist/src/cli/bin.js'), ...args, '--sim', 'cpu-1-balanced', '--intervals', '20'], {
    encoding: 'utf8',
    timeout: 50_000,
  });
  if (ours.status === 77) {
    if (IN_CI) assert.fail(ours.stderr);
    t.skip(ours.stderr.trim());
    return;
  }
  assert.equal(ours.status, 0, ours.stderr);
  assert.doesNotMatch(ours.stderr, /Warning|Check failed|V8/, 'no warnings from V8');
  const jit = spawnSync('python3', ['-c', MDWE, process.execPath, join(repoRoot, 'dist/src/cli/bin.js'), 'sim', 'cpu-1-balanced', '--quiet', '--out', join(config, '..')], { encoding: 'utf8', timeout: 50_000 });
  assert.notEqual(jit.status, 0, 'node with its JIT must not survive write-xor-execute (else the --jitless cost buys nothing)');
  assert.match(jit.stderr, /SetPermissions|Check failed/);
});
