// Shortfall: how much CPU and memory the host cannot give its guests, which guest moved elsewhere
// would relieve it most, and one notice when it has lasted minutes (src/control/shortfall.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestCpuDemand, measureShortfall, reliefCandidate, SHORTFALL_NOTICE_MS, type ShortfallState } from '../../src/control/shortfall.js';
import type { HostObservation } from '../../src/ground/hypervisor.js';
import type { TraceMemory } from '../../src/ground/trace-record.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../web/helpers.js';

const GiB = 1024 * 1024;

/** A host of `pcpus` pCPUs at `t` seconds; each guest one vCPU that has run `run` and waited `wait` seconds per second so far. */
function host(t: number, pcpus: number, guests: { name: string; run: number; wait: number }[]): HostObservation {
  return {
    timeNs: t * 1e9,
    host: { hostname: 'h', pcpus, memoryTotalKiB: 16 * GiB, memoryFreeKiB: 2 * GiB },
    domains: guests.map((g) => ({
      name: g.name,
      uuid: `uuid-${g.name}`,
      state: 'running',
      vcpus: [{ index: 0, timeNs: g.run * t * 1e9, delayNs: g.wait * t * 1e9, affinity: [0] }],
      balloon: { currentKiB: 4 * GiB, maximumKiB: 8 * GiB },
    })),
  };
}

const memory = (needs: [string, number][]): TraceMemory => ({
  guests: needs.map(([domain, usedGiB]) => ({ domain, actualKiB: 4 * GiB, maximumKiB: 8 * GiB, usedKiB: usedGiB * GiB, floorKiB: 0.25 * GiB, fresh: true })),
  hostFreeKiB: 2 * GiB,
  reserveKiB: 1 * GiB,
});

test("CPU demand is run + wait over the window, per guest, in pCPUs; nothing without a window of one connection", () => {
  const guests = [
    { name: 'a', run: 0.5, wait: 0.5 },
    { name: 'b', run: 0.25, wait: 0 },
  ];
  const d = guestCpuDemand(host(10, 2, guests), host(12, 2, guests));
  assert.ok(Math.abs(d.get('uuid-a')! - 1) < 1e-9 && Math.abs(d.get('uuid-b')! - 0.25) < 1e-9);
  assert.equal(guestCpuDemand(undefined, host(12, 2, guests)).size, 0);
  assert.equal(guestCpuDemand({ ...host(10, 2, guests), connection: 1 }, { ...host(12, 2, guests), connection: 2 }).size, 0);
});

test('the guest to move: the smallest that covers the whole shortfall, else the largest; none without a shortfall', () => {
  const demands = [
    { domain: 'big', uuid: 'u1', demand: 4 },
    { domain: 'mid', uuid: 'u2', demand: 2 },
    { domain: 'small', uuid: 'u3', demand: 0.5 },
  ];
  assert.deepEqual(reliefCandidate(1.5, demands), { domain: 'mid', uuid: 'u2', amount: 1.5 });
  assert.deepEqual(reliefCandidate(6, demands), { domain: 'big', uuid: 'u1', amount: 4 });
  assert.equal(reliefCandidate(0, demands), undefined);
});

test('CPU shortfall: demand beyond the pCPUs, with the guest to move; a notice once it has lasted 3 minutes, and once when it ends', () => {
  const busy = [
    { name: 'vm1', run: 0.5, wait: 0.5 },
    { name: 'vm2', run: 0.5, wait: 0.5 },
    { name: 'vm3', run: 0.5, wait: 0.3 },
  ];
  let state: ShortfallState = {};
  let previous: HostObservation | undefined;
  const notices: string[] = [];
  let last;
  for (let t = 0; t <= 200; t += 2) {
    const current = host(t, 1, busy);
    last = measureShortfall(previous, current, undefined, 0, state, t * 1000);
    state = last.state;
    notices.push(...last.notices.map((n) => `${t}: ${n.message}`));
    previous = current;
  }
  const s = last!.shortfall;
  assert.ok(Math.abs(s.cpuDemand! - 2.8) < 1e-9 && Math.abs(s.cpuShort - 1.8) < 1e-9, JSON.stringify(s));
  // No guest covers 1.8 pCPUs alone: the largest (vm1 and vm2 want 1 each; by name) relieves 1.
  assert.deepEqual(s.cpuRelief, { domain: 'vm1', uuid: 'uuid-vm1', amount: 1 });
  assert.equal(s.cpuSinceMs, 2000, 'from the first interval that could measure');
  assert.equal(notices.length, 1, notices.join('\n'));
  assert.match(notices[0]!, new RegExp(`^${(2000 + SHORTFALL_NOTICE_MS) / 1000}: CPU shortfall for 3 min 0 s: guests want 2\\.80 pCPUs of 1 \\(1\\.80 unmet\\); moving vm1 \\(uuid-vm1, 1\\.00 pCPUs\\) to another host would relieve 1\\.00`));
  assert.match(notices[0]!, /virtbalance moves no guest between hosts/);
  // Demand drops below the pCPUs: the episode ends, said once.
  const before = host(202, 1, busy);
  const after = { ...before, timeNs: 204e9, domains: before.domains.map((d) => ({ ...d, vcpus: d.vcpus.map((v) => ({ ...v, timeNs: v.timeNs + 0.2e9 })) })) };
  const end = measureShortfall(before, after, undefined, 0, state, 204_000);
  assert.equal(end.shortfall.cpuShort, 0);
  assert.deepEqual(end.notices.map((n) => n.message.split(':')[0]), ['cpu shortfall over after 3 min 22 s']);
  assert.equal(end.state.cpuSinceMs, undefined);
});

test("memory shortfall: guests' need (used + floor) beyond what they can have (held + free − reserve)", () => {
  const obs = host(10, 8, [
    { name: 'vm1', run: 0.1, wait: 0 },
    { name: 'vm2', run: 0.1, wait: 0 },
    { name: 'vm3', run: 0.1, wait: 0 },
  ]);
  // Held 12 GiB + free 2 − reserve 1 = 13 GiB to have; need 5.25 + 4.25 + 5.25 = 14.75 GiB.
  const r = measureShortfall(undefined, obs, memory([['vm1', 5], ['vm2', 4], ['vm3', 5]]), 0, {}, 10_000);
  assert.equal(r.shortfall.memoryCapacityKiB, 13 * GiB);
  assert.equal(r.shortfall.memoryNeedKiB, 14.75 * GiB);
  assert.equal(r.shortfall.memoryShortKiB, 1.75 * GiB);
  // Every guest covers 1.75 GiB; the smallest is vm2.
  assert.deepEqual(r.shortfall.memoryRelief, { domain: 'vm2', uuid: 'uuid-vm2', amount: 1.75 * GiB });
  assert.equal(r.shortfall.cpuDemand, undefined, 'no CPU window on a first observation');
  assert.equal(r.shortfall.memorySinceMs, 10_000);
  assert.deepEqual(r.notices, []);
  const later = measureShortfall(undefined, obs, memory([['vm1', 5], ['vm2', 4], ['vm3', 5]]), 0, r.state, 10_000 + SHORTFALL_NOTICE_MS);
  assert.equal(later.notices.length, 1);
  assert.match(later.notices[0]!.message, /^memory shortfall for 3 min 0 s: guests need 15104 MiB, they can have 13312 MiB \(1792 MiB unmet\); moving vm2 \(uuid-vm2, needs 4352 MiB\) to another host would relieve 1792 MiB/);
});

test('a whole run says it once: sim cpu-5-overcommit (12-16 pCPUs wanted of 8 for 200 s) logs the CPU shortfall at 3 minutes, in the trace too', async () => {
  const out = mkdtempSync(join(tmpdir(), 'vb-short-'));
  try {
    const run = await runCli(['sim', 'cpu-5-overcommit', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    const said = run.stdout.split('\n').filter((l) => /CPU shortfall/.test(l));
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0]!, /CPU shortfall for 3 min 0 s: guests want \d+\.\d\d pCPUs of 8 \(\d+\.\d\d unmet\); moving \S+ \([0-9a-f-]{36}, \d+\.\d\d pCPUs\) to another host would relieve \d+\.\d\d/);
    const lines = readFileSync(join(out, 'cpu-5-overcommit', 'trace.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; shortfall?: { cpuShort: number }; notices?: { message: string }[] });
    const intervals = lines.filter((l) => l.type === 'interval');
    assert.equal(intervals.flatMap((i) => i.notices ?? []).filter((n) => /shortfall/.test(n.message)).length, 1);
    assert.ok(intervals.slice(1).every((i) => i.shortfall && i.shortfall.cpuShort > 3), 'short by more than 3 pCPUs throughout');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
