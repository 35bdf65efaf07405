// `--objective fairness|balance` on `run` and the drop-in `vcpu_scheduler`, and `cpu.objective` in the config file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const out = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VIRTBALANCE_DEBUG: '' }, timeout: 60_000 });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

function assertOneLineError(args: string[], message: RegExp): void {
  const o = cli(args);
  assert.equal(o.code, 2, `${args.join(' ')}: exit ${o.code}, stderr ${o.stderr}`);
  const lines = o.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, o.stderr);
  assert.match(lines[0]!, message);
}

test('a bad --objective is one line and exit 2, on run and on the drop-in', () => {
  assertOneLineError(['run', '--objective', 'speed', '--sim', 'cpu-1-balanced'], /^virtbalance: run: --objective: expected fairness or balance, got "speed"$/);
  assertOneLineError(['run', '--memory', '--objective', 'balance', '--sim', 'memory-1-one-consumer'], /--objective needs the vCPU scheduler/);
  assertOneLineError(['vcpu_scheduler', '1', '--objective', 'fair'], /^virtbalance: vcpu_scheduler: --objective: expected fairness or balance, got "fair"$/);
});

test('the objective reaches the scheduler: flag, config file, and the flag over the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vb-objective-'));
  try {
    const headerOptions = (args: string[]): { objective?: string } => {
      const trace = join(dir, `t${Math.random()}.jsonl`);
      const o = cli(['run', '--cpu', '--sim', 'cpu-1-balanced', '--intervals', '2', '--quiet', '--trace', trace, ...args]);
      assert.equal(o.code, 0, o.stderr);
      const header = JSON.parse(readFileSync(trace, 'utf8').split('\n')[0]!) as { options: { cpu: { objective?: string } } };
      return header.options.cpu;
    };
    assert.equal(headerOptions(['--objective', 'balance']).objective, 'balance');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'cpu:\n  objective: balance\n');
    assert.equal(headerOptions(['--config', config]).objective, 'balance');
    assert.equal(headerOptions(['--config', config, '--objective', 'fairness']).objective, 'fairness');
    writeFileSync(config, 'cpu:\n  objective: speed\n');
    assertOneLineError(['run', '--config', config, '--sim', 'cpu-1-balanced'], /cpu\.objective: expected fairness or balance, got "?speed"?/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the help texts name the objectives and their defaults', () => {
  assert.match(cli(['run', '--help']).stdout, /--objective O .*fairness \(default/s);
  assert.match(cli(['vcpu_scheduler', '--help']).stdout, /--objective O .*balance \(default/s);
});
