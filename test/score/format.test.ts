import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScore } from '../../src/score/format.js';
import { scoreTrace } from '../../src/score/score.js';
import { cpuTrace, guest, header, memoryInterval } from './fixtures.js';

test('the text score names the balance point, pin changes and the worst-served VM', () => {
  const vms = Array.from({ length: 4 }, (_, i) => ({ name: `vm${i + 1}`, demand: 0.4 }));
  const text = formatScore(scoreTrace(cpuTrace(2, vms, 6, (n) => (n < 3 ? [0, 0, 0, 1] : [0, 0, 1, 1]))));
  assert.match(text, /balanced \(spread <= 5\)\s+from interval 3: 3 intervals, 3\.0 s/);
  assert.match(text, /pin changes\s+1 total, 0 after balance/);
  // The whole run has vm1-vm3 sharing pCPU0 for three intervals.
  assert.match(text, /fairness \(whole run\)/);
  assert.match(text, /^\s+vm4\s+40\.0 %\s+40\.0 %/m);
  assert.doesNotMatch(text, /NaN|undefined/);
});

test('a real trace that watched for guest OOM kills shows their count, and a partial watch says so', () => {
  const kills = [{ domain: 'b', process: 'consume', pid: 7 }];
  const watched = [header(4, false, true), { ...memoryInterval(0, [guest('a', 512, 300), guest('b', 512, 300)]), oomKills: [] }, { ...memoryInterval(1, [guest('a', 512, 300), guest('b', 512, 300)]), oomKills: kills }];
  const text = formatScore(scoreTrace(watched));
  assert.match(text, /OOM events\s+1 \(b\), OOM kills seen in the guests$/m);
  assert.doesNotMatch(text, /unknown/);
  const partial = formatScore(scoreTrace([watched[0]!, memoryInterval(0, [guest('a', 512, 300)]), watched[2]!]));
  assert.match(partial, /OOM events\s+1 \(b\), OOM kills seen in the guests \(watched 1 of 2 intervals\)/);
});

test('the text score shows memory verdicts and says when OOM is unknown', () => {
  const lines = [header(4, false, true), memoryInterval(0, [guest('a', 512, 50)], 3000), memoryInterval(1, [guest('a', 700, 250)], 400)];
  const text = formatScore(scoreTrace(lines));
  assert.match(text, /starved \(< 100 MiB spare\)\s+1 of 2 intervals \(a 1\)/);
  assert.match(text, /OOM events\s+unknown \(no simulator truth, no guest OOM watch\)/);
  assert.match(text, /host free, lowest\s+400 MiB at interval 1 \(reserve 512 MiB\): BELOW RESERVE in 1 interval/);
  assert.match(text, /short while demand grew\s+1 episode, mean 1\.0 \/ max 1 intervals \(mean 1\.0 s\) \(grew: a 512 MiB → 700 MiB\)/);
  // No starved run is not "nothing grew": the guest that grew is named.
  const met = formatScore(scoreTrace([header(4, false, true), memoryInterval(0, [guest('a', 310, 200)], 3000), memoryInterval(1, [guest('a', 2048, 1500)], 3000)]));
  assert.match(met, /short while demand grew\s+never: a 310 MiB → 2048 MiB grew and got memory before running short/);
  const flat = formatScore(scoreTrace([header(4, false, true), memoryInterval(0, [guest('a', 512, 300)], 3000), memoryInterval(1, [guest('a', 512, 300)], 3000)]));
  assert.match(flat, /short while demand grew\s+never \(no balloon grew\)/);
  assert.doesNotMatch(text, /^CPU$/m);
});
