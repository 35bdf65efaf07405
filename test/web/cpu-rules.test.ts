// The dashboard page's CPU rules (src/web/page/cpu-rules.js, a plain browser script) evaluated as
// the page does: the balance band is the score's and the report plot's, and "crowded" means more
// than a pCPU's fair part of the demand, not merely overcommitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { defaultCpuScoreOptions } from '../../src/score/cpu.js';
import { plotCpu } from '../../src/plot/cpu.js';
import { cpuTrace } from '../score/fixtures.js';

const PAGE = fileURLToPath(new URL('../../../src/web/page/', import.meta.url));

interface Rules {
  BALANCE_BAND_POINTS: number;
  crowdedPcpus(usage: number[], demand: number[]): { crowded: boolean; demand: number; fair: number }[];
}

function rules(): Rules {
  const sandbox: { virtbalanceRules?: Rules } = {};
  vm.runInNewContext(readFileSync(`${PAGE}cpu-rules.js`, 'utf8'), sandbox);
  return sandbox.virtbalanceRules!;
}

test('one balance band: the dashboard, the score and the report plot agree', () => {
  const { BALANCE_BAND_POINTS } = rules();
  assert.equal(BALANCE_BAND_POINTS, defaultCpuScoreOptions.balanceThresholdPoints);
  const svg = plotCpu(cpuTrace(2, [{ name: 'vm1', demand: 1 }, { name: 'vm2', demand: 1 }], 4, () => [0, 1]));
  assert.match(svg, new RegExp(`balance band \\(±${BALANCE_BAND_POINTS / 2}\\)`));
  const page = readFileSync(`${PAGE}dashboard.js`, 'utf8');
  assert.doesNotMatch(page, /marginPoints\(\) \/ 2/, 'the dashboard band is not the scheduler margin');
  assert.match(page, /const half = BALANCE_BAND_POINTS \/ 2;/);
});

test('crowded: only a pCPU that carries more than its fair part of the demand', () => {
  const { crowdedPcpus } = rules();
  const flags = (u: number[], d: number[]) => Array.from(crowdedPcpus(u, d), (c) => c.crowded);
  // Eight busy vCPUs on four pCPUs, two each: overcommitted alike, nobody singled out.
  assert.deepEqual(flags([1, 1, 1, 1], [1.99, 1.98, 1.98, 1.97]), [false, false, false, false]);
  // All eight on pCPU0: that one.
  assert.deepEqual(flags([1, 0, 0, 0], [7.92, 0, 0, 0]), [true, false, false, false]);
  // Three on one, one on the other.
  assert.deepEqual(flags([1, 1], [3, 1]), [true, false]);
  assert.equal(crowdedPcpus([1, 1], [3, 1])[0]!.fair, 2);
  // Wanting more than its fair part but getting it (not saturated) is not crowding.
  assert.deepEqual(flags([0.6, 0.2], [0.6, 0.2]), [false, false]);
});

test('the page loads the rules before itself (server.test.ts checks every script is served); card subtitles wrap instead of being cut', () => {
  const html = readFileSync(`${PAGE}index.html`, 'utf8');
  assert.ok(html.indexOf('assets/cpu-rules.js') > 0 && html.indexOf('assets/cpu-rules.js') < html.indexOf('assets/dashboard.js'));
  const css = readFileSync(`${PAGE}dashboard.css`, 'utf8');
  const sub = /\.tile \.sub \{([^}]*)\}/.exec(css)?.[1] ?? '';
  assert.doesNotMatch(sub, /nowrap|ellipsis/, `.tile .sub: ${sub}`);
});
