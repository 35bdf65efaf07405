// What a newcomer meets first, through the built CLI: `npm start`'s first line, the sim's opening
// lines, files and hints, help for every command, a run with nothing to manage, and a paced run
// stopped by SIGTERM or by its reader going away (the trace must still be whole).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TraceLine } from '../../src/ground/trace-record.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../../package.json', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vb-newcomer-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VIRTBALANCE_DEBUG: '' } });

function traceLines(file: string): TraceLine[] {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), 'the trace ends with a whole line');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceLine);
}

test('npm start says what it builds before the build, then runs the demo as its own process', () => {
  const start = (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  const steps = start.split('&&').map((s) => s.trim());
  assert.match(steps[0]!, /^echo .*build/, `a line before the build: ${start}`);
  assert.equal(steps[1], 'npm run -s build');
  assert.match(steps[2]!, /^exec node dist\/src\/cli\/bin\.js sim demo-grader$/, 'exec: a signal to npm reaches the demo itself');
});

test('sim: the scenario described first, simulated time said as such, score.txt written, report and --http hinted, a rerun says it replaces', () => {
  const out = join(dir, 'out');
  const first = cli('sim', 'demo-grader', '--out', out);
  assert.equal(first.status, 0, first.stderr);
  const lines = first.stdout.split('\n');
  assert.match(lines[0]!, /^scenario demo-grader: The quick-start demo/);
  assert.doesNotMatch(first.stdout, /every 2 s/);
  assert.match(first.stdout, /on sim:demo-grader, interval 2 s simulated \(no waiting/);
  assert.doesNotMatch(first.stdout, /replacing/);
  const scoreFile = join(out, 'demo-grader', 'score.txt');
  assert.ok(existsSync(scoreFile), 'score.txt as the help promises');
  const score = readFileSync(scoreFile, 'utf8');
  assert.ok(first.stdout.includes(score.trimEnd()), 'the file holds the score printed');
  assert.match(score, /short while demand grew\s+never: vm1 \d+ MiB → 2048 MiB grew and got memory before running short$/m, 'the guest that grew is named, only it');
  assert.match(first.stdout, /^score: .*score\.txt$/m);
  assert.match(first.stdout, /^next: {2}(npx )?virtbalance report .*trace\.jsonl/m);
  assert.match(first.stdout, /virtbalance sim demo-grader --http 8080/);
  const again = cli('sim', 'demo-grader', '--out', out, '--intervals', '3');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^replacing the earlier run in ${join(out, 'demo-grader')}/$`, 'm'));
  assert.match(again.stdout, /=== score of demo-grader \(3 intervals of 2 s, simulated\)/);
});

test('sim --help describes every option it takes', () => {
  const help = cli('sim', '--help');
  assert.equal(help.status, 0);
  for (const flag of ['SCENARIO', '--intervals N', '--seed N', '--out DIR', '--json', '--quiet', '--http [HOST:]PORT', '--http-public', '--pace N', '-h, --help']) {
    const line = help.stdout.split('\n').find((l) => l.startsWith(`  ${flag} `));
    assert.match(line ?? '', /^ {2}\S.*? {2,}\S.{8,}$/, `${flag} described`);
  }
  assert.doesNotMatch(help.stdout, /score \(default DIR/, 'no file promised that is not written');
});

test('every command (and lab subcommand) takes -h and --help', () => {
  const list = cli('--help').stdout;
  const commands = [...list.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 8, list);
  for (const c of [...commands.map((c) => [c]), ...['up', 'run', 'status', 'down', 'image', 'workload'].map((s) => ['lab', s])]) {
    for (const h of ['-h', '--help']) {
      const r = cli(...c, h);
      assert.equal(r.status, 0, `${c.join(' ')} ${h}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: /, `${c.join(' ')} ${h}`);
    }
  }
  const lab = cli('lab', '--help').stdout;
  assert.match(lab, /lab run cpu\|memory N +the same for the shipped grader case N/);
});

test('a run with no domain to manage says so once', () => {
  const r = cli('run', '--sim', 'cpu-1-balanced', '--intervals', '3', '--only', 'nobody-here');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stderr.match(/no running domains to manage on sim:cpu-1-balanced/g) ?? []).length, 1, r.stderr);
  const some = cli('run', '--sim', 'cpu-1-balanced', '--intervals', '3');
  assert.doesNotMatch(some.stderr, /no running domains/);
});

/** A paced sim as a child; resolves once it printed `intervals` interval headers, with a way to stop it. */
function pacedSim(out: string) {
  const child = spawn(process.execPath, [BIN, 'sim', 'demo-grader', '--pace', '20', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIRTBALANCE_DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const printed = () => (stdout.match(/^--- interval \d+/gm) ?? []).length;
  const after = async (n: number) => {
    while (printed() < n) {
      assert.equal(child.exitCode, null, `ended early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, exited, after, printed, output: () => ({ stdout, stderr }) };
}

test('a paced sim stopped with SIGTERM: the trace holds every interval printed, flushed, then the score', { timeout: 60_000 }, async () => {
  const out = join(dir, 'term');
  const run = pacedSim(out);
  await run.after(6);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.output().stderr);
  const lines = traceLines(join(out, 'demo-grader', 'trace.jsonl'));
  assert.equal(lines[0]!.type, 'header');
  assert.equal(lines.length - 1, run.printed(), 'one trace line per interval printed');
  assert.ok(lines.length - 1 < 50, 'stopped before the end');
  assert.match(readFileSync(join(out, 'demo-grader', 'score.txt'), 'utf8'), new RegExp(`${lines.length - 1} intervals of 2 s`));
});

test('a paced sim whose reader goes away (EPIPE) stops as on SIGTERM: exit 0, whole trace, no stack trace', { timeout: 60_000 }, async () => {
  const out = join(dir, 'epipe');
  const run = pacedSim(out);
  await run.after(5);
  const seen = run.printed();
  run.child.stdout.destroy();
  assert.equal(await run.exited, 0, run.output().stderr);
  assert.doesNotMatch(run.output().stderr, /^\s+at |EPIPE/m);
  const lines = traceLines(join(out, 'demo-grader', 'trace.jsonl'));
  assert.ok(lines.length - 1 >= seen && lines.length - 1 < 50, `${lines.length - 1} intervals in the trace, ${seen} seen`);
  assert.ok(lines.slice(1).every((l, i) => l.type === 'interval' && l.interval === i), 'intervals 0..n in order, none missing');
});
