import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openHeadlessPage, showDashboard } from './headless-page.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { get, repoRoot } from './helpers.js';

// The dashboard's page-cache view in a real headless Chromium, on cache-2-hot: vm1 re-reads a
// 600 MiB set (hot once the coordinator has learned it from a refault), vm2 scans 2 GiB and keeps
// the rest as cold cache. Every guest panel stacks anon, hot and cold cache, with a line of figures.

const INTERVALS = 24;

interface CacheFigures {
  anonKib: number;
  hotKib: number;
  coldKib: number;
  text: string;
}

test('dashboard in headless Chromium: anon, hot and cold cache per guest, drawn and in figures', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;

  const { run, url } = await showDashboard(t, page, ['run', '--sim', 'cache-2-hot', '--http', '127.0.0.1:0', '--pace', '8', '--intervals', String(INTERVALS), '--quiet']);

  // The run ends by itself; the page then shows its last interval, the one /api/state ends with.
  await page.waitForFunction((last) => Number(document.body.dataset.lastInterval) === last, INTERVALS - 1, { timeout: 20_000 });
  const state = JSON.parse((await get(`${url}api/state?last=1`)).body) as { intervals: TraceInterval[] };
  const last = state.intervals.at(-1)!;
  assert.equal(last.interval, INTERVALS - 1);

  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'artifacts', 'dashboard-cache.png'), fullPage: true });
  assert.equal(await page.locator('#cache-key').isVisible(), true, 'the memory key names anon, hot and cold cache');
  for (const g of last.memory!.guests) {
    assert.ok(g.anonKiB !== undefined && g.cacheKiB !== undefined, `${g.domain} reports MemAvailable in the simulator`);
    const figures = (await page.locator(`.mem-card[data-domain="${g.domain}"] .cache-vals`).evaluate((el: HTMLElement) => ({
      anonKib: Number(el.dataset.anonKib),
      hotKib: Number(el.dataset.hotKib),
      coldKib: Number(el.dataset.coldKib),
      text: el.innerText,
    }))) as CacheFigures;
    const hot = Math.min(g.hotKiB ?? 0, g.cacheKiB!);
    assert.deepEqual([figures.anonKib, figures.hotKib, figures.coldKib], [g.anonKiB, hot, g.cacheKiB! - hot], g.domain);
    assert.match(figures.text, new RegExp(`^anon ${Math.round(g.anonKiB! / 1024)} · hot ${Math.round(hot / 1024)} · cold ${Math.round((g.cacheKiB! - hot) / 1024)} MiB · reads [\\d.]+ MiB/s$`), g.domain);
  }
  // The scenario's point, as the page shows it: vm1's set is hot, vm2's scan is cold.
  const vm1 = last.memory!.guests.find((g) => g.domain === 'vm1')!;
  const vm2 = last.memory!.guests.find((g) => g.domain === 'vm2')!;
  assert.ok(vm1.hotKiB! >= 500 * 1024, `vm1 hot ${vm1.hotKiB} KiB`);
  assert.ok(vm2.cacheKiB! - (vm2.hotKiB ?? 0) >= 100 * 1024, `vm2 cold ${vm2.cacheKiB} KiB`);

  // The bands are drawn: count each guest canvas's pixels in the hot and the cold fill.
  const bandPixels = async (domain: string) =>
    page.locator(`.mem-card[data-domain="${domain}"] .mem-chart canvas`).evaluate((canvas: HTMLCanvasElement) => {
      const css = getComputedStyle(document.documentElement);
      const rgb = (name: string) => {
        const hex = css.getPropertyValue(name).trim().slice(1);
        return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
      };
      const fills = { hot: rgb('--hot'), cold: rgb('--cold') };
      const counts = { hot: 0, cold: 0 };
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 4) {
        for (const kind of ['hot', 'cold'] as const) {
          const c = fills[kind];
          if (Math.abs(data[i]! - c[0]!) <= 4 && Math.abs(data[i + 1]! - c[1]!) <= 4 && Math.abs(data[i + 2]! - c[2]!) <= 4 && Math.abs(data[i + 3]! - 0x66) <= 4) counts[kind]++;
        }
      }
      return counts;
    });
  const vm1Pixels = await bandPixels('vm1');
  const vm2Pixels = await bandPixels('vm2');
  assert.ok(vm1Pixels.hot > 1000, `vm1 hot band ${JSON.stringify(vm1Pixels)}`);
  // 200 MiB on the common scale (2 GiB maxima) is a thin band: some hundreds of pixels.
  assert.ok(vm2Pixels.cold > 250, `vm2 cold band ${JSON.stringify(vm2Pixels)}`);
  assert.ok(vm2Pixels.hot < vm2Pixels.cold / 20, `vm2 has no hot cache to draw ${JSON.stringify(vm2Pixels)}`);

  // Readable at 1440 px: no figures line cut off, and it fits on one line.
  const cut = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.cache-vals')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
  assert.deepEqual(cut, [], 'cache figures cut at 1440 px');
  const heights = await page.locator('.mem-card[data-domain] .cache-vals').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
  assert.ok(heights.every((px) => px > 0 && px < 20), `figure lines ${heights.join(', ')} px high`);

  // The decision log carries the coordinator's reasons with the cache figures.
  const reasons = await page.locator('#decision-log li[data-kind="balloon"] .why').allInnerTexts();
  assert.ok(reasons.some((r) => /anon \d+ MiB, cache \d+ MiB \(hot \d+, cold \d+\)/.test(r)), `reasons: ${reasons.slice(0, 3).join(' | ')}`);

  assert.deepEqual(problems, []);

  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});
