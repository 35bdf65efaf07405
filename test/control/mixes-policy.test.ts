// The vCPU scheduler on mixes nobody showed it (issue #17): the issue's 3 busy + 3 bursty case and a
// fixed set of small random mixes, each run under the host's scheduler alone, the drop-in, ours and
// the oracle (the best static placement found by search). The bench (`node dist/bench/mixes.js`) runs
// 200; this is the small set the suite runs every time, with its table printed. The oracle gets a budget
// it never reaches on these, so its answer does not depend on the machine's speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateMix, issueMix } from '../../src/host/sim/mixes.js';
import { compareMix, oursCpuOptions, type MixComparison } from '../../src/control/mix-compare.js';
import { simulateScenario } from '../../src/control/simulate.js';

const pct = (x: number | undefined): string => (x === undefined ? '–' : (x * 100).toFixed(1).padStart(5));

function row(c: MixComparison, steady: boolean): string {
  const oracle = c.oracle?.worstFraction;
  return `${c.name.padEnd(14)} host ${pct(c.host.worstFraction)}  drop-in ${pct(c.dropin.worstFraction)}  ours ${pct(c.ours.worstFraction)}  oracle ${pct(oracle)}  ours/oracle ${oracle ? pct(c.ours.worstFraction / oracle) : '  –'}  pin changes after 20: ${c.ours.pinChangesAfter}${steady ? '' : ' (phased)'}`;
}

test('the issue\'s 3 + 3 case and 8 small random mixes: ours never below the host\'s scheduler alone, near the oracle, quiet once settled', async (t) => {
  const mixes = [issueMix(), ...Array.from({ length: 8 }, (_, k) => generateMix(k + 1, { small: true }))];
  const results: { c: MixComparison; steady: boolean }[] = [];
  for (const m of mixes) results.push({ c: await compareMix(m, { oracle: { budgetMs: 30_000 } }), steady: m.steady });
  for (const { c, steady } of results) t.diagnostic(row(c, steady));

  const issue = results[0]!.c;
  // On real guests: nothing pinned 0.48, the best placement by hand 0.74; run tied the host before trials.
  assert.ok(issue.ours.worstFraction >= issue.host.worstFraction + 0.3, `the issue's case: ours ${pct(issue.ours.worstFraction)}, host ${pct(issue.host.worstFraction)}`);
  assert.ok(issue.ours.worstFraction >= 0.9 * issue.oracle!.worstFraction, `the issue's case: ours ${pct(issue.ours.worstFraction)}, oracle ${pct(issue.oracle!.worstFraction)}`);
  assert.equal(issue.ours.pinChangesAfter, 0);
  for (const { c, steady } of results) {
    assert.ok(c.ours.worstFraction >= c.host.worstFraction - 0.01, `${c.name}: ours ${pct(c.ours.worstFraction)} below the host alone ${pct(c.host.worstFraction)}`);
    // mix-3s (4 bursty + 3 noisy on 3 pCPUs) was the gap, 0.73 of the oracle's, until the time its first trial spent
    // measuring stopped closing the epoch's window on the grouping the model proposed after it (docs/cpu-scheduler.md).
    assert.ok(c.oracle === undefined || c.ours.worstFraction >= 0.85 * c.oracle.worstFraction, `${c.name}: ours ${pct(c.ours.worstFraction)}, oracle ${pct(c.oracle?.worstFraction)}`);
    if (steady) assert.equal(c.ours.pinChangesAfter, 0, `${c.name}: steady demands, yet pin changes after interval 20`);
  }
  const ratios = results.filter((r) => r.c.oracle).map((r) => r.c.ours.worstFraction / r.c.oracle!.worstFraction).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)]!;
  // The issue's target is 95 % on the bench's 73 small mixes (met there: docs/mixes.md); on these nine, 92.8 %.
  assert.ok(median >= 0.9, `median ours/oracle ${pct(median)}`);
});

test('steady bench mixes that kept moving, or stayed below the host alone, before the epoch settled (docs/mixes.md)', async () => {
  // mix-63 (19 bursty + 9 others on 7 pCPUs) and mix-129 (48 vCPUs on 13, weights) climbed a third step at
  // interval 18 and reverted it at 22; mix-121 (16 on 4) tried a first grouping at interval 26 on a low reading
  // of the released host and kept it below the host alone. mix-133 (15 bursty randomly pinned on 4) reverted
  // its first trial, judged against one interval, and stayed there, below the host alone.
  for (const seed of [63, 121, 129]) {
    const c = await compareMix(generateMix(seed), { oracle: false, policies: ['ours'] });
    assert.equal(c.ours.pinChangesAfter, 0, `mix-${seed}: pin changes after interval 20`);
  }
  const c = await compareMix(generateMix(133), { oracle: false, policies: ['host', 'ours'] });
  assert.ok(c.ours.worstFraction >= c.host.worstFraction - 0.01, `mix-133: ours ${pct(c.ours.worstFraction)} below the host alone ${pct(c.host.worstFraction)}`);
});

test('the drop-in, blind to other load, keeps a spread that serves its guests over one that starves them beside a host process (#17 item 4)', async () => {
  // mix-147 (9 vCPUs from pCPU0 onto 16, host processes on six): spread out, the vCPUs left beside the host process
  // on pCPU0 read 86 pts of usage spread against 61 piled up, and the trial went back: worst guest 9.1 %; kept,
  // 47.6 (two bursty vCPUs still beside the process on pCPU0, as balanced as on an empty pCPU); moved away from
  // it, 99.7 = the host alone. mix-146 (12 vCPUs on 3, a host process on pCPU1): 49.3 %, below the host
  // alone's 53.7, now 66.0.
  const c147 = await compareMix(generateMix(147), { oracle: false, policies: ['host', 'dropin'] });
  assert.ok(c147.dropin.worstFraction >= c147.host.worstFraction - 0.01, `mix-147: drop-in ${pct(c147.dropin.worstFraction)} below the host alone ${pct(c147.host.worstFraction)}`);
  assert.equal(c147.dropin.pinChangesAfter, 0, 'mix-147: the drop-in\'s pin changes after interval 20');
  const c146 = await compareMix(generateMix(146), { oracle: false, policies: ['host', 'dropin'] });
  assert.ok(c146.dropin.worstFraction >= c146.host.worstFraction - 0.01, `mix-146: drop-in ${pct(c146.dropin.worstFraction)} below the host alone ${pct(c146.host.worstFraction)}`);
  assert.equal(c146.dropin.pinChangesAfter, 0, 'mix-146: the drop-in\'s pin changes after interval 20');
});

test('the drop-in probes the host scheduler alone again after a demand step: the host alone measured under the earlier demands is no evidence for the new ones (#17 item 4)', async () => {
  // mix-75 (16 vCPUs on 5, four step at 28 s): the drop-in released every vCPU in epoch 1 (31 % against 17 %),
  // then balanced them; after the step (epoch 2, interval 20) its balanced placement delivered 32 %, and the
  // earlier epoch's 31 % for the host alone kept it from probing: 32.8 % over the second half against the
  // host alone's 37.0. Probed again, it is kept at 36 %.
  const c = await compareMix(generateMix(75), { oracle: false, policies: ['host', 'dropin'] });
  assert.ok(c.dropin.worstFraction >= c.host.worstFraction - 0.01, `mix-75: drop-in ${pct(c.dropin.worstFraction)} below the host alone ${pct(c.host.worstFraction)}`);
});

test('the drop-in\'s fairer step after a trial is not held as late, and its move for balance alone expected less fair is (#17 item 4)', async () => {
  // mix-127 (16 vCPUs on 4 from pCPU0): the drop-in's grouping, proposed at 13 after two trials that took 8 intervals
  // to measure, was held as past the epoch's window: 68.5 % against the host alone's 76.5. Tried, kept better at 17
  // (65 → 83 %). mix-84 (28 on 8): the same extra time given to a move for balance expected 50 → 33 % took its
  // worst guest from 94.8 to 83.7 % (the host alone 95.8).
  // (mix-84 reads 94.8 against 95.8 either side of that move's rule: one point, the bench's tolerance, up to rounding.)
  for (const [seed, tolerance] of [[127, 0.01], [84, 0.015]] as const) {
    const c = await compareMix(generateMix(seed), { oracle: false, policies: ['host', 'dropin'] });
    assert.ok(c.dropin.worstFraction >= c.host.worstFraction - tolerance, `mix-${seed}: drop-in ${pct(c.dropin.worstFraction)} below the host alone ${pct(c.host.worstFraction)}`);
  }
});

test('the climb for the worst guest may predict a vCPU lower than now: the trade it is for, measured per guest (#17)', async () => {
  // mix-12s (8 vCPUs on 2 from pCPU0): the climb moved g4's busy vCPU beside its 0.2 clock-bound one, predicted 65 → 50 %
  // for that vCPU and 65 → 78 % for the worst guest; it was held for the vCPU figure (64.8 %). Tried, 77.8 %, the oracle's.
  // mix-46s: 85.1 %, below the host alone's 86.4, now 95.2. mix-35s: the climb is not given the trial window's extra time
  // (a lost climb at 15 and its backoff took it from 70.8 to 38.3 %).
  const c12 = await compareMix(generateMix(12, { small: true }), { oracle: { budgetMs: 30_000 }, policies: ['host', 'ours'] });
  assert.ok(c12.ours.worstFraction >= 0.95 * c12.oracle!.worstFraction, `mix-12s: ours ${pct(c12.ours.worstFraction)}, oracle ${pct(c12.oracle!.worstFraction)}`);
  assert.equal(c12.ours.pinChangesAfter, 0, 'mix-12s: pin changes after interval 20');
  for (const seed of [46, 35]) {
    const c = await compareMix(generateMix(seed, { small: true }), { oracle: false, policies: ['host', 'ours'] });
    assert.ok(c.ours.worstFraction >= c.host.worstFraction + 0.05, `mix-${seed}s: ours ${pct(c.ours.worstFraction)}, the host alone ${pct(c.host.worstFraction)}`);
  }
});

test('a step the model overrated by more than its next step promises is followed by the host alone, not that step (mix-31s, #17)', async () => {
  // mix-31s after its demand step at 14: a re-pin predicted 100 % measured 81, kept against 50; the model's next step,
  // promising 75 → 85 %, measured 50 % and lost before the host alone was tried: 84.6 % against the host alone's 85.8,
  // 13 pin changes after interval 20. Now the host alone is measured first and kept.
  const c = await compareMix(generateMix(31, { small: true }), { oracle: false, policies: ['host', 'ours'] });
  assert.ok(c.ours.worstFraction >= c.host.worstFraction - 0.01, `mix-31s: ours ${pct(c.ours.worstFraction)}, the host alone ${pct(c.host.worstFraction)}`);
  // One release of its 7 vCPUs at 21, and nothing after.
  assert.ok(c.ours.pinChangesAfter <= 7, `mix-31s: ${c.ours.pinChangesAfter} pin changes after interval 20`);
});

test('a trial judges both placements against the same demands: the host alone does not win on a backlog the pins caused (mix-21s, #17)', async () => {
  // mix-21s after its demand step: a rate-bound vCPU (0.69 of a pCPU) beside a noisy one read 0.95 (time + delay) under
  // the kept segregation and 0.77 with nothing pinned. Judged each by its own readings, the probe of the host alone read
  // 68 % against the pins' 65 % and was kept: 67.5 %, 83 % of the oracle's 80.9. Against the same demands the pins read 82 %.
  const c = await compareMix(generateMix(21, { small: true }), { oracle: { budgetMs: 30_000 }, policies: ['host', 'ours'] });
  assert.ok(c.ours.worstFraction >= 0.95 * c.oracle!.worstFraction, `mix-21s: ours ${pct(c.ours.worstFraction)}, oracle ${pct(c.oracle!.worstFraction)}`);
});

test('a climb for the worst guest says in its decision what it does for that guest, beside the vCPU figure it trades (mix-12s)', async () => {
  const lines = await simulateScenario({ ...generateMix(12, { small: true }), controllers: ['cpu'] }, { cpu: oursCpuOptions });
  const climbs = lines.flatMap((l) => (l.type === 'interval' && l.cpu?.decision?.startsWith('re-pinned') && l.cpu.decision.includes(' by guests:') ? [l.cpu.decision] : []));
  assert.ok(climbs.length >= 1, 'no climb for the guests was made');
  for (const text of climbs) {
    const m = /worst-served vCPU at (\d+) % of its fair share, (\d+) % after; worst-served guest at (\d+) % of its fair share, (\d+) % after \(the climb for it\)/.exec(text);
    assert.ok(m, text);
    assert.ok(Number(m[4]) > Number(m[3]), `the guest figure rises: ${text}`);
  }
});
