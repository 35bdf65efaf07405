import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plotCpu } from '../../src/plot/cpu.js';
import { plotMemory } from '../../src/plot/memory.js';
import { writePlots } from '../../src/plot/write.js';
import type { TraceLine } from '../../src/ground/trace-record.js';
import { cpuTrace, guest, header, memoryInterval } from '../score/fixtures.js';
import { parseSvg, withClass } from './svg-check.js';

const allOnPcpu0 = () =>
  cpuTrace(4, Array.from({ length: 8 }, (_, i) => ({ name: `vm${i + 1}`, demand: 1 })), 10, (n) =>
    n === 0 ? [0, 0, 0, 0, 0, 0, 0, 0] : n === 1 ? [0, 0, 1, 1, 2, 2, 0, 0] : [0, 0, 1, 1, 2, 2, 3, 3]);

function memoryTrace(): TraceLine[] {
  const truth = (n: number) => ({
    vcpus: [],
    memoryDemandKiB: { vm1: (n === 2 ? 480 : 300 + n * 10) * 1024, 'odd<&>"name': 150 * 1024 },
    oomEvents: n === 3 ? [{ domain: 'vm1', timeMs: 3200, demandKiB: 600 * 1024, actualKiB: 512 * 1024 }] : [],
  });
  return [
    header(4, false, true),
    ...[0, 1, 2, 3, 4, 5].map((n) => memoryInterval(n, [guest('vm1', 512, n === 2 ? 40 : 200), guest('odd<&>"name', 512, 300)], n === 4 ? 300 : 3000, truth(n))),
  ];
}

test('CPU plot: well-formed, one series per pCPU, band, balance and pin markers', () => {
  const svg = plotCpu(allOnPcpu0());
  const elements = parseSvg(svg);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  const series = withClass(elements, 'series');
  assert.deepEqual(series.map((s) => s.attrs['data-series']), ['pCPU 0', 'pCPU 1', 'pCPU 2', 'pCPU 3']);
  assert.equal(withClass(elements, 'balance-band').length, 1);
  assert.equal(withClass(elements, 'balanced-marker').length, 1);
  const pins = withClass(elements, 'pin-marker');
  assert.deepEqual(pins.map((p) => [p.attrs['data-interval'], p.attrs['data-count']]), [['0', '4'], ['1', '2']]);
  assert.match(svg, />time \(s\)</);
  assert.match(svg, />pCPU usage \(%\)</);
});

test('CPU plot: each series has a point per measured interval', () => {
  const svg = plotCpu(allOnPcpu0());
  const d = withClass(parseSvg(svg), 'series')[0]!.attrs.d!;
  assert.equal(d.match(/[ML]/g)!.length, 10);
});

test('memory plot: well-formed, series per guest and host, floor, maximum and reserve marked', () => {
  const svg = plotMemory(memoryTrace());
  const elements = parseSvg(svg);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  const series = withClass(elements, 'series').map((s) => s.attrs['data-series']);
  // actual, used, unused and truth demand per guest, and the host's free memory.
  assert.equal(series.length, 2 * 4 + 1);
  assert.ok(series.includes('vm1 actual') && series.includes('host free'));
  assert.ok(series.includes('odd<&>"name demand'), 'names are escaped, not dropped');
  assert.equal(withClass(elements, 'floor').length, 2);
  assert.equal(withClass(elements, 'maximum').length, 2);
  assert.equal(withClass(elements, 'reserve').length, 1);
  assert.match(svg, />floor 200</);
  assert.match(svg, />max 2048</);
  assert.match(svg, />reserve 512</);
  assert.equal(withClass(elements, 'oom-marker').length, 1);
  assert.equal(withClass(elements, 'starved').length, 1, 'vm1 starved at interval 2');
});

test('memory plot: with the simulator\'s page cache, hot and cold cache stack on the demand', () => {
  const lines = memoryTrace().map((l) =>
    l.type === 'interval' && l.truth
      ? { ...l, truth: { ...l.truth, cache: { vm1: { hotMiB: 100, coldMiB: 1000, coldMiBSeconds: 0, refaultMiB: 0, coordinatorRefaultMiB: 0, readStallSeconds: 0 } } } }
      : l,
  );
  const svg = plotMemory(lines);
  const elements = parseSvg(svg);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  const series = withClass(elements, 'series');
  const names = series.map((s) => s.attrs['data-series']);
  assert.ok(names.includes('vm1 + hot cache') && names.includes('vm1 + cold cache'));
  assert.ok(!names.includes('odd<&>"name + hot cache'), 'only guests with cache truth get the lines');
  const ys = (name: string) => [...series.find((s) => s.attrs['data-series'] === name)!.attrs.d!.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
  // Higher on the chart is a smaller y: demand < demand + hot < demand + hot + cold.
  ys('vm1 demand').forEach((y, i) => {
    assert.ok(ys('vm1 + hot cache')[i]! < y && ys('vm1 + cold cache')[i]! < ys('vm1 + hot cache')[i]!);
  });
  assert.match(svg, /\+ cold cache/);
});

test('memory plot: the floor line sits at the floor on the y axis', () => {
  const elements = parseSvg(plotMemory(memoryTrace()));
  // Find the y of tick labels 0 and 500 in the first panel, then check the floor path's y.
  const floorGroup = elements.findIndex((e) => e.attrs.class === 'floor');
  const floorPath = elements[floorGroup + 1]!.attrs.d!;
  const y = Number(/^M[\d.]+ ([\d.]+)/.exec(floorPath)![1]);
  const maxGroup = elements.findIndex((e) => e.attrs.class === 'maximum');
  const yMax = Number(/^M[\d.]+ ([\d.]+)/.exec(elements[maxGroup + 1]!.attrs.d!)![1]);
  const frame = elements.find((e) => e.name === 'path' && /^M[\d.]+ [\d.]+V[\d.]+H/.test(e.attrs.d ?? ''))!;
  const bottom = Number(/V([\d.]+)/.exec(frame.attrs.d!)![1]);
  // floor 200 and max 2048 above the axis at 0: (bottom - y) is proportional to the value.
  assert.ok(Math.abs((bottom - y) / (bottom - yMax) - 200 / 2048) < 0.01);
});

test('writePlots writes only the plots the trace has data for', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vb-plot-'));
  const cpuOnly = await writePlots(allOnPcpu0(), dir, 'cpu-run');
  assert.deepEqual(cpuOnly, [join(dir, 'cpu-run-cpu.svg')]);
  const memOnly = await writePlots(memoryTrace(), join(dir, 'sub'), 'mem-run');
  assert.deepEqual(memOnly, [join(dir, 'sub', 'mem-run-memory.svg')]);
  assert.deepEqual((await readdir(dir)).sort(), ['cpu-run-cpu.svg', 'sub']);
  parseSvg(await readFile(memOnly[0]!, 'utf8'));
  assert.deepEqual(await writePlots([header(2)], join(dir, 'none'), 'x'), []);
});

test('CPU plot: pCPU demand is drawn only when it differs from usage', () => {
  const lines = allOnPcpu0();
  assert.equal(withClass(parseSvg(plotCpu(lines)), 'demand-series').length, 0);
  for (const l of lines) if (l.type === 'interval') l.cpu!.pcpuDemand = l.cpu!.pcpuUsage.map((u) => u * 1.5);
  const elements = parseSvg(plotCpu(lines));
  assert.equal(withClass(elements, 'demand-series').length, 4);
  assert.equal(withClass(elements, 'series').length, 4);
});

test('CPU plot: a first-interval spike (eight busy vCPUs on one pCPU) does not flatten the rest: its excess is clipped and said', () => {
  const lines = allOnPcpu0();
  const measured = lines.filter((l) => l.type === 'interval' && l.cpu && l.cpu.elapsedNs > 0);
  measured.forEach((l, k) => {
    if (l.type !== 'interval') return;
    l.cpu!.pcpuDemand = k === 0 ? [7.92, 0, 0, 0] : l.cpu!.pcpuUsage.map((u) => Math.min(1.5, u * 1.5));
  });
  const svg = plotCpu(lines);
  parseSvg(svg);
  const labels = [...svg.matchAll(/>([^<>]*)<\/text>/g)].map((m) => m[1]!);
  assert.ok(!labels.includes('800') && !labels.includes('700'), `the axis follows the rest of the run: ${labels.join(' | ')}`);
  assert.ok(labels.includes('140') && !labels.includes('200'), `the rest of the run (up to 150 %) decides the top: ${labels.join(' | ')}`);
  assert.match(svg, /first interval off the scale: demand up to 792 %/);
  // Without the spike, no note.
  assert.doesNotMatch(plotCpu(allOnPcpu0()), /off the scale/);
});

test('memory plot: on a real host, the coordinator\'s measured anon and anon + hot cache, under used', () => {
  // used = actual − unused = anon + cache, as a guest reporting MemAvailable gives it.
  const measured = (n: number) => guest('vm1', 850 + n, 100, { anonKiB: 150 * 1024, cacheKiB: (600 + n) * 1024, hotKiB: n === 2 ? 900 * 1024 : 400 * 1024 });
  const real: TraceLine[] = [header(4, false, true), ...[0, 1, 2, 3].map((n) => memoryInterval(n, [measured(n), guest('old-driver', 512, 300)]))];
  const svg = plotMemory(real);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  const series = withClass(parseSvg(svg), 'series');
  const names = series.map((s) => s.attrs['data-series']);
  assert.ok(names.includes('vm1 anon (measured)') && names.includes('vm1 anon + hot cache (measured)'), names.join(', '));
  assert.ok(!names.some((n) => n?.startsWith('old-driver anon')), 'a guest without MemAvailable has no measured cache lines');
  assert.match(svg, /anon \+ hot cache \(measured\)/);
  const ys = (name: string) => [...series.find((s) => s.attrs['data-series'] === name)!.attrs.d!.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
  const anon = ys('vm1 anon (measured)');
  const withHot = ys('vm1 anon + hot cache (measured)');
  const used = ys('vm1 used');
  // Higher on the chart is a smaller y: anon < anon + hot ≤ used (= anon + all cache); a remembered
  // hot size above the cache held (interval 2) draws at the cache, not above used.
  anon.forEach((y, i) => assert.ok(withHot[i]! < y && (i === 2 || used[i]! < withHot[i]!), `interval ${i}`));
  assert.ok(Math.abs(withHot[2]! - used[2]!) < 0.01, `clamped to the cache held: ${withHot[2]} vs used ${used[2]}`);
  // With the simulator's truth the truth is drawn instead.
  const simulated = real.map((l) => (l.type === 'interval' ? { ...l, truth: { vcpus: [], memoryDemandKiB: { vm1: 150 * 1024, 'old-driver': 100 * 1024 }, oomEvents: [] } } : l));
  const simNames = withClass(parseSvg(plotMemory(simulated)), 'series').map((s) => s.attrs['data-series']);
  assert.ok(simNames.includes('vm1 demand') && !simNames.includes('vm1 anon (measured)'));
});
