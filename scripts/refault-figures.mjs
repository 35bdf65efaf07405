// Prints, for the scenarios with a hot set re-read on a long period, the coordinator's refaults per
// minute after the first two passes (issue #18's target: ≤ 10 % of the hot set), and whether the
// neighbours were fed. Usage: npm run build && node scripts/refault-figures.mjs [scenario ...]
// INTERVAL=1 runs them at another control interval (same duration). REPORTING=on turns free page
// reporting on for every guest (what the lab boots, and the bench's "ours + reporting" column);
// REPORTING=off turns it off for every guest; unset, the scenario's own setting.
import { join } from 'node:path';
import { loadScenario } from '../dist/src/host/sim/index.js';
import { simulateScenario } from '../dist/src/control/simulate.js';
import { scoreTrace } from '../dist/src/score/index.js';
import { shippedScenariosDir } from '../dist/src/app/target.js';

const names = process.argv.slice(2);
const list = names.length > 0 ? names : ['cache-4-hot-every-60s', 'cache-5-hot-every-120s', 'cache-6-hot-roomy-host'];
console.log('| scenario | hot set (MiB) | pass every (s) | coordinator refaults after 2 passes (MiB) | worst minute (% of hot set) | from the 4th pass (MiB) | cold cache held (MiB·s) | starved intervals | OOM | host free, lowest |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const name of list) {
  const shipped = loadScenario(join(shippedScenariosDir, `${name}.yaml`));
  const interval = Number(process.env.INTERVAL ?? shipped.intervalSeconds);
  const reporting = process.env.REPORTING;
  if (reporting !== undefined && reporting !== 'on' && reporting !== 'off') throw new Error(`REPORTING must be on or off, not ${reporting}`);
  const domains = reporting === undefined ? shipped.domains : shipped.domains.map((d) => ({ ...d, freePageReporting: reporting === 'on' }));
  const scenario = { ...shipped, domains, intervalSeconds: interval, intervals: Math.round((shipped.intervals * shipped.intervalSeconds) / interval) };
  const lines = await simulateScenario(scenario);
  const intervals = lines.filter((l) => l.type === 'interval');
  const score = scoreTrace(lines);
  const hotDomain = scenario.domains.find((d) => d.reads.some((r) => r.kind === 'hot'));
  const read = hotDomain.reads.find((r) => r.kind === 'hot');
  const after = read.atSeconds + 2 * read.everySeconds;
  const perMinute = 60 / scenario.intervalSeconds;
  const settled = intervals.filter((e) => e.interval * scenario.intervalSeconds >= after);
  const refaultAt = (e) => e.truth?.cache?.[hotDomain.name]?.coordinatorRefaultMiB ?? 0;
  let worst = 0;
  for (let i = 0; i + perMinute <= settled.length; i++) worst = Math.max(worst, settled.slice(i, i + perMinute).reduce((s, e) => s + refaultAt(e), 0));
  const total = settled.reduce((s, e) => s + refaultAt(e), 0);
  const fromFourth = intervals.filter((e) => e.interval * scenario.intervalSeconds >= after + read.everySeconds).reduce((s, e) => s + refaultAt(e), 0);
  const m = score.memory;
  console.log(`| ${name}${process.env.INTERVAL ? ` (interval ${interval} s)` : ''}${reporting ? ` (reporting ${reporting})` : ''} | ${read.sizeMiB} | ${read.everySeconds} | ${total.toFixed(0)} | ${(100 * worst / read.sizeMiB).toFixed(1)} % | ${fromFourth.toFixed(0)} | ${(m.cache?.coldMiBSeconds ?? 0).toFixed(0)} | ${m.starvedIntervals} / ${m.intervals} | ${m.oom.total} | ${(m.host.minFreeKiB / 1024).toFixed(0)} MiB |`);
}
