import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrace } from '../../src/score/read-trace.js';
import { scoreTrace } from '../../src/score/score.js';
import { formatScore } from '../../src/score/format.js';
import type { TraceLine } from '../../src/ground/trace-record.js';
import { join } from 'node:path';
import { scoreNeededGiBSeconds } from '../../src/score/held.js';
import { loadScenario } from '../../src/host/sim/index.js';
import { shippedScenariosDir } from '../../src/app/target.js';
import { runBaseline } from '../../bench/memory.js';
import { nothingController } from '../../bench/baselines/nothing.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { guest, header, memoryInterval } from './fixtures.js';

// Host memory held: the guests' resident set integrated over the trace, and its peaks.

const MIB = 1024;

test('held is Σ rss over time (each record until the next), with the total and per-guest peaks', () => {
  const rss = { a: [1024, 1024, 1024], b: [512, 1536, 512] };
  const lines: TraceLine[] = [
    header(1, false, true),
    ...[0, 1, 2].map((n) => memoryInterval(n, [
      guest('a', 2048, 500, { rssKiB: rss.a[n]! * MIB }),
      guest('b', 2048, 500, { rssKiB: rss.b[n]! * MIB }),
    ])),
  ];
  const held = scoreTrace(lines).memory!.held!;
  // a: 1 GiB for 3 s (the last record stands for the spacing before it); b: 0.5 + 1.5 + 0.5 GiB·s.
  assert.deepEqual(held.guests.map((g) => [g.domain, g.gibSeconds, g.peakKiB / MIB]), [['a', 3, 1024], ['b', 2.5, 1536]]);
  assert.equal(held.gibSeconds, 5.5);
  assert.equal(held.peakKiB, 2560 * MIB);
  const text = formatScore(scoreTrace(lines));
  assert.match(text, /host memory held\s+5\.5 GiB·s, peak 2560 MiB/);
  assert.match(text, /held GiB·s\s+peak RSS/);
});

test('records spaced unevenly weigh by their time', () => {
  const lines: TraceLine[] = [header(1, false, true), memoryInterval(0, [guest('a', 2048, 500, { rssKiB: 1024 * MIB })]), { ...memoryInterval(1, [guest('a', 2048, 500, { rssKiB: 2048 * MIB })]), timeMs: 3000 }];
  // 1 GiB for 3 s, then 2 GiB for the same 3 s.
  assert.equal(scoreTrace(lines).memory!.held!.gibSeconds, 9);
});

test('an old trace without rssKiB still reads and scores; it says nothing about memory held', () => {
  // Two lines as the trace writer wrote them before RSS was recorded.
  const old = [
    '{"type":"header","version":1,"target":"sim:cache-1-scan","scenario":"cache-1-scan","intervalSeconds":2,"controllers":{"cpu":false,"memory":true},"pcpus":4,"startedAt":"2026-11-20T10:00:00.000Z","options":{}}',
    '{"type":"interval","interval":0,"timeMs":0,"domains":["vm1"],"actions":[],"failures":[],"notices":[],"memory":{"guests":[{"domain":"vm1","actualKiB":524288,"maximumKiB":2097152,"unusedKiB":400000,"usedKiB":124288,"anonKiB":100000,"cacheKiB":24288,"hotKiB":0,"readKiBps":0,"floorKiB":204800,"fresh":true}],"hostFreeKiB":3670016,"reserveKiB":524288}}',
    '{"type":"interval","interval":1,"timeMs":2000,"domains":["vm1"],"actions":[],"failures":[],"notices":[],"memory":{"guests":[{"domain":"vm1","actualKiB":524288,"maximumKiB":2097152,"unusedKiB":400000,"usedKiB":124288,"floorKiB":204800,"fresh":true}],"hostFreeKiB":3670016,"reserveKiB":524288}}',
  ].join('\n');
  const score = scoreTrace(parseTrace(old, 'old.jsonl'));
  assert.equal(score.memory!.intervals, 2);
  assert.equal(score.memory!.held, undefined);
  const text = formatScore(score);
  assert.doesNotMatch(text, /host memory held|peak RSS/);
});

test('a bad rssKiB is one line naming the field', () => {
  const lines = [header(1), memoryInterval(0, [guest('a', 512, 100)])] as unknown as Record<string, any>[];
  lines[1]!.memory.guests[0].rssKiB = 'lots';
  const text = lines.map((l) => JSON.stringify(l)).join('\n');
  assert.throws(() => parseTrace(text, 'run.jsonl'), /^.*run\.jsonl:2: memory\.guests\[0\]\.rssKiB must be a number, got "lots"$/);
});

test('the least any policy could hold is ∫ Σ (anonymous demand + hot cache) from the truth; none on a trace without it', () => {
  const withTruth = (n: number, demandMiB: Record<string, number>, hotMiB: Record<string, number>): TraceLine => ({
    ...memoryInterval(n, [guest('a', 2048, 500), guest('b', 2048, 500)]),
    truth: {
      vcpus: [],
      memoryDemandKiB: Object.fromEntries(Object.entries(demandMiB).map(([d, m]) => [d, m * MIB])),
      oomEvents: [],
      cache: Object.fromEntries(Object.entries(hotMiB).map(([d, m]) => [d, { hotMiB: m, coldMiB: 0, coldMiBSeconds: 0, refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0, droppedMiB: 0, diskReadMiB: 0 }])),
    },
  }) as TraceLine;
  const lines = [withTruth(0, { a: 512, b: 256 }, { a: 256 }), withTruth(1, { a: 512, b: 768 }, {})].filter((l): l is TraceInterval => l.type === 'interval');
  // 1 s at 0.75 + 0.25 GiB, then 1 s at 1.25 GiB (the last record stands for the spacing before it).
  assert.equal(scoreNeededGiBSeconds(lines), 2.25);
  assert.equal(scoreNeededGiBSeconds([memoryInterval(0, [guest('a', 2048, 500)])]), undefined);
});

test('on simulated memory and cache scenarios, the run that takes nothing holds at least the least any policy could hold', async () => {
  for (const name of ['cache-4-hot-every-60s', 'cache-2-hot', 'memory-1-one-consumer']) {
    const s = loadScenario(join(shippedScenariosDir, `${name}.yaml`));
    const atMax = { ...s, domains: s.domains.map((d) => ({ ...d, memoryMiB: d.maxMemoryMiB, freePageReporting: true })) };
    const lines = await runBaseline(atMax, nothingController, { floorsKiB: {}, reserveKiB: 0, minKiB: {}, intervalSeconds: s.intervalSeconds });
    const needed = scoreNeededGiBSeconds(lines.filter((l): l is TraceInterval => l.type === 'interval'))!;
    const held = scoreTrace(lines).memory!.held!.gibSeconds;
    assert.ok(needed > 0, name);
    // RSS is at least the pages in use: anonymous use plus the page cache, of which the hot part is a share.
    assert.ok(held >= needed * 0.999, `${name}: held ${held.toFixed(1)} < needed ${needed.toFixed(1)} GiB·s`);
  }
});
