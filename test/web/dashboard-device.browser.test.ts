import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openHeadlessPage, showDashboard } from './headless-page.js';
import type { TraceInterval } from '../../src/ground/trace-record.js';
import { get, repoRoot } from './helpers.js';

// The dashboard's virtio-mem view in a real headless Chromium, on vmem-2-partial-unplug: vm1 boots
// at 512 MiB with its 2 GiB device plugged; at t=30 s an operator asks for 0 and the guest unplugs
// what it can. vm1's memory card says plugged (of the device's size), boot and, while they differ,
// the request; its chart draws boot + plugged; vm2, balloon-only, has no such line. The run stops at
// interval 16 (t=32 s), while the unplug is under way: the coordinator has held the request at
// vm1's anonymous use + floor (1188 MiB plugged), which vm1 reaches at interval 17.

const INTERVALS = 17;

interface DeviceFigures { bootKib: number; sizeKib: number; requestedKib: number; pluggedKib: number; text: string; hidden: boolean }

test('dashboard in headless Chromium: plugged virtio-mem memory per guest, drawn and in figures; none for a balloon-only guest', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;

  const { run, url } = await showDashboard(t, page, ['run', '--sim', 'vmem-2-partial-unplug', '--http', '127.0.0.1:0', '--pace', '8', '--intervals', String(INTERVALS), '--quiet']);
  await page.waitForFunction((last) => Number(document.body.dataset.lastInterval) === last, INTERVALS - 1, { timeout: 20_000 });
  const state = JSON.parse((await get(`${url}api/state`)).body) as { intervals: TraceInterval[] };
  const last = state.intervals.at(-1)!;
  assert.equal(last.interval, INTERVALS - 1);
  const dev = last.memoryDevices?.vm1;
  assert.ok(dev, 'the record has vm1\'s device');
  assert.ok(dev.requestedKiB < dev.pluggedKiB, `the unplug is under way or stopped short at interval ${last.interval}: ${JSON.stringify(dev)}`);
  assert.equal(last.memoryDevices?.vm2, undefined);

  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'artifacts', 'dashboard-device.png'), fullPage: true });
  const figures = (domain: string) => page.locator(`.mem-card[data-domain="${domain}"] .device-vals`).evaluate((el: HTMLElement) => ({
    bootKib: Number(el.dataset.bootKib), sizeKib: Number(el.dataset.sizeKib), requestedKib: Number(el.dataset.requestedKib), pluggedKib: Number(el.dataset.pluggedKib),
    text: el.innerText, hidden: el.hidden,
  })) as Promise<DeviceFigures>;
  const vm1 = await figures('vm1');
  assert.deepEqual([vm1.bootKib, vm1.sizeKib, vm1.requestedKib, vm1.pluggedKib, vm1.hidden], [dev.bootKiB, dev.sizeKiB, dev.requestedKiB, dev.pluggedKiB, false]);
  const m = (kib: number) => Math.round(kib / 1024);
  assert.equal(vm1.text, `plugged ${m(dev.pluggedKiB)}/${m(dev.sizeKiB)} · boot ${m(dev.bootKiB)} · asked ${m(dev.requestedKiB)} MiB`);
  assert.equal(await page.locator('.mem-card[data-domain="vm1"] .device-vals .requested').getAttribute('data-moving'), 'unplugging');
  assert.equal((await figures('vm2')).hidden, true, 'a balloon-only guest has no virtio-mem line');
  assert.equal(await page.locator('#device-key').isVisible(), true, 'the key names the boot + plugged line');

  // The boot + plugged line is drawn on vm1's chart and not on vm2's: count its colour's pixels.
  const linePixels = (domain: string) => page.locator(`.mem-card[data-domain="${domain}"] .mem-chart canvas`).evaluate((canvas: HTMLCanvasElement) => {
    const hex = getComputedStyle(document.documentElement).getPropertyValue('--plugged').trim().slice(1);
    const c = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - c[0]!) <= 6 && Math.abs(data[i + 1]! - c[1]!) <= 6 && Math.abs(data[i + 2]! - c[2]!) <= 6 && data[i + 3]! > 200) n++;
    return n;
  });
  assert.ok((await linePixels('vm1')) > 50, `vm1's boot + plugged line: ${await linePixels('vm1')} px`);
  assert.equal(await linePixels('vm2'), 0);

  const cut = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.device-vals')].filter((e) => !e.hidden && e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
  assert.deepEqual(cut, [], 'virtio-mem figures cut at 1440 px');
  const height = await page.locator('.mem-card[data-domain="vm1"] .device-vals').evaluate((e) => e.getBoundingClientRect().height);
  assert.ok(height > 0 && height < 20, `vm1's virtio-mem line is ${height} px high: one line`);
  assert.deepEqual(problems, []);

  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});
