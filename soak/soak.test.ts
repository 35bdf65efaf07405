// Soak: 1,000 simulated guests with faults injected (observe and action calls failing, guests
// vanishing between observe and act and coming back, partial statistics, missing balloons, paused
// guests, slow calls). Every interval must be recorded, no safety invariant broken, and the heap
// flat. Runs in a child process with --expose-gc so heap samples follow a full collection.
// Length: VIRTBALANCE_SOAK_INTERVALS (default the full 10,000 intervals, about 5 minutes on 2 cores
// at ~31 ms per 1,000-guest interval; set it lower for a quick run). Not part of `npm test`: run it
// with `npm run soak` (CI runs it from .ci/run after the suite); a progress line every 1,000 intervals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SoakResult } from './soak-run.js';

const INTERVALS = Number(process.env.VIRTBALANCE_SOAK_INTERVALS ?? 10_000);
const DOMAINS = 1000;

function runSoakChild(): Promise<SoakResult> {
  const script = fileURLToPath(new URL('./soak-run.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, '--soak', String(INTERVALS), String(DOMAINS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      process.stderr.write(d);
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`soak child exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as SoakResult);
      } catch (e) {
        reject(new Error(`soak child printed no result: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}

test(`soak: ${DOMAINS} guests × ${INTERVALS} intervals with random faults: every interval recorded, no invariant broken, heap flat`, { timeout: 60 * 60_000 }, async () => {
  const r = await runSoakChild();
  process.stderr.write(
    `soak: ${r.intervals} intervals of ${r.domains} guests in ${r.seconds.toFixed(0)} s (${r.msPerInterval.toFixed(1)} ms/interval); ` +
      `${r.actions} actions, ${r.failures} failed; faults ${JSON.stringify(r.faults)}; heap median ${r.heapSecondQuarterMedianMB.toFixed(1)} → ${r.heapLastQuarterMedianMB.toFixed(1)} MB; ` +
      `pin changes ${r.pinChangesPerHour.toFixed(0)}/h, busiest vCPU ${r.maxPinChangesPerVcpuHour.toFixed(0)}/h\n`,
  );
  assert.equal(r.recorded, INTERVALS, 'every interval is recorded');
  assert.deepEqual(r.violations, []);
  assert.equal(r.oomEvents, 0, 'no guest ran out of memory');
  // The faults really happened.
  assert.ok(r.faults.observeFailed > 0 && r.faults.actionFailed > 0 && r.faults.vanished > 0 && r.faults.callsOnVanished > 0 && r.faults.paused > 0 && r.faults.partialStats > 0);
  assert.ok(r.failures >= r.faults.actionFailed, 'failed actions are recorded');
  // Heap flat: the last quarter's median within +20 % of the second quarter's.
  assert.ok(r.heapLastQuarterMedianMB <= r.heapSecondQuarterMedianMB * 1.2, `heap grew: ${r.heapSamplesMB.join(' ')}`);
  // No vCPU is re-pinned more often than its load changes phase (the fastest on/off guest flips 120 times an hour).
  assert.ok(r.maxPinChangesPerVcpuHour <= 120, `a vCPU was re-pinned ${r.maxPinChangesPerVcpuHour.toFixed(0)} times an hour`);
});
