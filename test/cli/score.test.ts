import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTrace } from '../score/fixtures.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/bin.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'score', ...args], { encoding: 'utf8' });

async function traceFile(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vb-score-cli-'));
  const path = join(dir, 'run1.jsonl');
  const vms = Array.from({ length: 8 }, (_, i) => ({ name: `vm${i + 1}`, demand: 1 }));
  const lines = cpuTrace(4, vms, 8, (n) => (n < 2 ? [0, 0, 0, 0, 0, 0, 0, 0] : [0, 0, 1, 1, 2, 2, 3, 3]));
  await writeFile(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { dir, path };
}

test('score prints a table, --json the numbers, --plots the SVGs', async () => {
  const { dir, path } = await traceFile();
  const text = run(path);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /from interval 2: 2 intervals/);

  const json = run(path, '--json', '--plots', join(dir, 'plots'));
  assert.equal(json.status, 0, json.stderr);
  const score = JSON.parse(json.stdout);
  assert.equal(score.cpu.balancedAtInterval, 2);
  assert.equal(score.cpu.pinChanges.total, 6);
  assert.deepEqual(score.plots, [join(dir, 'plots', 'run1-cpu.svg')]);
  assert.ok(existsSync(join(dir, 'plots', 'run1-cpu.svg')));
  assert.ok(!existsSync(join(dir, 'plots', 'run1-memory.svg')), 'no memory data, no memory plot');
});

test('bad input: one line naming file and line, exit 2, no stack trace', async () => {
  const { dir, path } = await traceFile();
  const missing = run(join(dir, 'missing.jsonl'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^virtbalance: cannot read trace .*missing\.jsonl: no such file\n$/);

  const broken = join(dir, 'broken.jsonl');
  const { readFile } = await import('node:fs/promises');
  const good = (await readFile(path, 'utf8')).split('\n');
  good[5] = good[5]!.replace('"timeMs"', '"timeMS"');
  await writeFile(broken, good.join('\n'));
  const bad = run(broken);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: timeMs must be a number`));
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/);

  assert.equal(run().status, 2);
  assert.equal(run(path, '--bogus').status, 2);
});
