// virtbalance judge with programs no one here wrote the way we would: a small vCPU scheduler and memory
// coordinator in C on libvirt-dev (test/serve/c/), which hard-code qemu:///system, run on grader CPU
// case 2 and memory case 1 and are scored; virsh inside the judge sees the simulated host, never the
// real daemon's domains.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test, type TestContext } from 'node:test';
import type { Score } from '../../src/score/index.js';
import { resolveScenarioPath } from '../../src/app/target.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { namespaceAvailable } from '../../src/serve/judged-program.js';
import { IN_CI } from '../libvirt/daemon.js';
import { buildC, need, run } from './tools.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/bin.js');
const out = mkdtempSync(join(tmpdir(), 'vb-judge-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** Programs that hard-code qemu:///system reach the judge only through the mount namespace (root). */
function needNamespace(t: TestContext): boolean {
  if (namespaceAvailable()) return true;
  const msg = 'judging a program that opens qemu:///system needs root and unshare(1)';
  if (IN_CI) throw new Error(msg);
  console.error(`SKIPPED: ${msg}`);
  t.skip(msg);
  return false;
}

async function judge(scenario: string, speed: number, command: string[]): Promise<{ score: Score; stderr: string; trace: string }> {
  const { stdout, stderr } = await run(process.execPath, [BIN, 'judge', scenario, '--speed', String(speed), '--out', out, '--json', '--', ...command], { timeout: 120_000, maxBuffer: 64 << 20 });
  const scoreLine = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; score?: Score }).find((l) => l.type === 'score');
  assert.ok(scoreLine?.score, 'a score line');
  return { score: scoreLine.score, stderr, trace: readFileSync(join(out, scenario, 'trace.jsonl'), 'utf8') };
}

describe('virtbalance judge', { timeout: 180_000 }, () => {
  test('a C vCPU scheduler on grader CPU case 2 (all on pCPU0): scored balanced and fair', async (t) => {
    if (!need(t, 'cc') || !needNamespace(t)) return;
    const bin = await buildC('vcpu_scheduler');
    const { score, stderr, trace } = await judge('cpu-2-all-on-pcpu0', 8, [bin, '0.25']);
    assert.match(stderr, /\[vcpu_scheduler\] pinned vm\d vCPU0 to pCPU[1-3]/, 'its own output, prefixed');
    const cpu = score.cpu!;
    assert.ok(cpu.balancedAtInterval !== undefined && cpu.balancedAtInterval <= 5, `balanced from interval ${cpu.balancedAtInterval}`);
    assert.ok(cpu.pinChanges.total >= 6, `${cpu.pinChanges.total} pin changes`);
    const worst = cpu.fairness!.worstFractionOfFairShare!;
    assert.ok(worst.fraction > 0.9, `worst share of fair share ${worst.fraction} (${worst.domain})`);
    assert.match(trace, /"reason":"by the judged program"/);
  });

  test('a C memory coordinator on grader memory case 1: no starvation, no OOM, the host above its reserve', async (t) => {
    if (!need(t, 'cc') || !needNamespace(t)) return;
    const bin = await buildC('memory_coordinator');
    const { score } = await judge('memory-1-one-consumer', 8, [bin, '0.25']);
    const memory = score.memory!;
    assert.equal(memory.starvedIntervals, 0);
    assert.equal(memory.oom.total, 0);
    assert.equal(memory.host!.belowReserve, false);
    const vm1 = memory.guests.find((g) => g.domain === 'vm1')!;
    assert.ok(vm1.maxActualKiB >= 1800 * 1024, `vm1 was given up to ${vm1.maxActualKiB / 1024} MiB as it grew`);
  });

  test('inside the judge, qemu:///system is the simulated host and the default URI too', async (t) => {
    if (!need(t, 'virsh') || !needNamespace(t)) return;
    const { stderr } = await judge('cpu-1-balanced', 30, ['sh', '-c', 'virsh -c qemu:///system list --name; virsh list --name']);
    const listed = [...stderr.matchAll(/^\[sh\] (\S+)$/gm)].map((m) => m[1]);
    const names = loadScenario(resolveScenarioPath('cpu-1-balanced')).domains.map((d) => d.name);
    assert.deepEqual(listed, [...names, ...names], 'the same domains through qemu:///system (namespace) and the default URI');
  });

  test('bad input (judge: no program, unknown scenario; serve: no socket, a public TCP address): one line, exit 2', async () => {
    for (const args of [['judge', 'cpu-2-all-on-pcpu0'], ['judge', 'no-such-scenario', '--', 'true'], ['judge', 'cpu-1-balanced', '--', '/nonexistent/controller', '2'], ['serve', 'cpu-1-balanced'], ['serve', 'cpu-1-balanced', '--tcp', '0.0.0.0:16599'], ['serve', 'cpu-1-balanced', '--socket', '/tmp/x', '--speed', '-1']]) {
      const r = await run(process.execPath, [BIN, ...args]).then(() => undefined, (e: { code: number; stderr: string }) => e);
      assert.ok(r, `${args.join(' ')} fails`);
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
