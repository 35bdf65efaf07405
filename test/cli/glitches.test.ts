// Small glitches a newcomer met (issue #20, friction 10), through the built CLI where they showed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labRunScenario } from '../../src/cli/lab.js';
import { UsageError } from '../../src/ground/errors.js';
import { labRunDirName } from '../../src/lab/plan.js';
import { connectOrSkip } from '../libvirt/daemon.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const DROP_INS = {
  vcpu_scheduler: fileURLToPath(new URL('../../src/cli/vcpu-scheduler-bin.js', import.meta.url)),
  memory_coordinator: fileURLToPath(new URL('../../src/cli/memory-coordinator-bin.js', import.meta.url)),
};
const SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url));
const VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

const run = (bin: string, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, VIRTBALANCE_DEBUG: '' } });
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

for (const [prog, bin] of Object.entries(DROP_INS)) {
  test(`${prog} --version prints the version; a bad option names the program once`, () => {
    const version = run(bin, '--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), `${prog} (virtbalance ${VERSION})`);
    const bad = run(bin, '--bogus');
    assert.equal(bad.status, 2);
    assert.deepEqual(lines(bad.stderr), [`${prog}: Unknown option '--bogus' (try --help)`]);
  });
}

test('virtbalance --version is the package version', () => {
  const r = run(BIN, '--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), `virtbalance ${VERSION}`);
});

test('sim with a bad flag value: one line on stderr, nothing on stdout (no description first), exit 2', () => {
  for (const flag of ['--intervals', '--seed']) {
    const r = run(BIN, 'sim', 'demo-grader', flag, '-3');
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '', `${flag}: nothing printed before the error`);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^virtbalance: ${flag} must be a positive whole number, got '-3'$`, 'm'));
  }
});

test('lab run with no such case lists every shipped case of each kind', () => {
  let message = '';
  assert.throws(() => labRunScenario(['cpu', '99']), (e: unknown) => e instanceof UsageError && !!(message = e.message));
  for (const file of readdirSync(SCENARIOS)) {
    const m = /^(cpu|memory|mixed)-(\d+)-/.exec(file);
    if (!m) continue;
    const [, kind, n] = m;
    const ranges = new RegExp(`shipped: .*\\b${kind} ([\\d,-]*\\d)`).exec(message)?.[1] ?? '';
    const covered = ranges.split(',').some((r) => {
      const [lo, hi = lo] = r.split('-').map(Number);
      return Number(n) >= lo! && Number(n) <= hi!;
    });
    assert.ok(covered, `${file} is offered in: ${message}`);
    // A noisy variant (simulated measurement noise) is offered under its grader case's number, never played on real guests.
    if (file.endsWith('-noisy.yaml')) assert.equal(labRunScenario([kind!, n!]), `${SCENARIOS}${file.replace(/-noisy\.yaml$/, '.yaml')}`);
    else assert.equal(labRunScenario([kind!, n!]), `${SCENARIOS}${file}`, `${kind} ${n} is what it offers`);
  }
});

test('a lab run\'s results folder does not double the lab- of a lab scenario', () => {
  assert.equal(labRunDirName('lab-cpu-4-on-pcpu0'), 'lab-cpu-4-on-pcpu0');
  assert.equal(labRunDirName('cpu-2-all-on-pcpu0'), 'lab-cpu-2-all-on-pcpu0');
});

test('lab down with no lab guests says so once', async (t) => {
  // The daemon's test driver: it has domains but never lab guests, so nothing can be removed.
  const uri = 'test+unix:///default';
  const client = await connectOrSkip(t, uri);
  if (!client) return;
  await client.close();
  const r = run(BIN, 'lab', 'down', '--connect', uri, '--prefix', `vbnone${process.pid}_`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((`${r.stdout}${r.stderr}`.match(/no lab guests/g) ?? []).length, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
});
