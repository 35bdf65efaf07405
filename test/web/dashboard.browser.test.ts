import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openHeadlessPage, showDashboard } from './headless-page.js';
import { fixture, get, openEventStream, parsePrometheus, repoRoot, sampleValue } from './helpers.js';

// The dashboard in a real headless Chromium (Debian's `chromium` package; playwright-core never
// downloads a browser here) against a paced simulated run in which four guests boot at t=50 s,
// all on pCPU0, so the scheduler pins while the page watches.

const artifact = join(repoRoot, 'artifacts', 'dashboard.png');

interface PinSeen {
  interval: number;
  domain: string;
  vcpu: string;
  to: string;
  /** The page's newest interval when the row first showed. */
  shownAt: number;
}

test('live dashboard in headless Chromium: charts, a pin in the log and the map, /metrics, clean SIGINT', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));

  const { run, url } = await showDashboard(t, page, ['run', '--sim', fixture('late-pileup.yaml'), '--http', '127.0.0.1:0', '--pace', '5', '--intervals', '60', '--quiet']);

  // Charts render: a canvas with a real size for the pCPUs and for every memory panel.
  await page.waitForFunction(() => Number(document.body.dataset.lastInterval) >= 2 && document.querySelectorAll('.mem-chart canvas').length >= 5, undefined, { timeout: 10_000 });
  const startInterval = Number(await page.evaluate(() => document.body.dataset.lastInterval));
  const cpuCanvas = await page.locator('#cpu-chart canvas').first().boundingBox();
  assert.ok(cpuCanvas && cpuCanvas.width > 300 && cpuCanvas.height > 150, `pCPU chart canvas ${JSON.stringify(cpuCanvas)}`);
  for (const box of await Promise.all((await page.locator('.mem-chart canvas').all()).map((c) => c.boundingBox()))) {
    assert.ok(box && box.width > 100 && box.height > 60, `memory chart canvas ${JSON.stringify(box)}`);
  }
  // At 1400 px no card subtitle is cut off.
  await page.setViewportSize({ width: 1400, height: 1000 });
  const cut = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.tile .sub')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
  assert.deepEqual(cut, [], 'subtitles cut at 1400 px');
  await page.setViewportSize({ width: 1440, height: 1000 });
  assert.equal(await page.locator('#host-pill').getAttribute('data-state'), 'connected');
  assert.equal(await page.locator('#stream-pill').getAttribute('data-state'), 'live');
  const before = parsePrometheus((await get(`${url}metrics`)).body).samples;

  // A client that leaves mid-stream must not hurt the server or the page.
  const leaving = await openEventStream(`${url}events`);
  await leaving.next('interval', 5000);
  leaving.res.destroy();

  // The scheduler's first pin after the page loaded shows up in the log as it happens...
  const pin = await (
    await page.waitForFunction(
      (after) => {
        const li = [...document.querySelectorAll<HTMLElement>('#decision-log li[data-kind="pin"]')].find((e) => Number(e.dataset.interval) > after);
        if (!li) return false;
        const seen: PinSeen = { interval: Number(li.dataset.interval), domain: li.dataset.domain!, vcpu: li.dataset.vcpu!, to: li.dataset.to!, shownAt: Number(document.body.dataset.lastInterval) };
        return seen;
      },
      startInterval,
      { timeout: 20_000, polling: 'raf' },
    )
  ).jsonValue() as PinSeen;
  assert.ok(pin.shownAt <= pin.interval + 2, `pin of interval ${pin.interval} reached the log at interval ${pin.shownAt}`);
  assert.ok(pin.interval > startInterval, 'the pin happened while the page was watching');
  // ...and the map puts that vCPU on its new pCPU within two intervals.
  const mappedAt = await (
    await page.waitForFunction(
      (p: PinSeen) => {
        const chip = document.querySelector(`.pcpu[data-pcpu="${p.to}"] .chip[data-vcpu="${p.domain}:${p.vcpu}"]`);
        return chip ? Number(document.body.dataset.lastInterval) : false;
      },
      pin,
      { timeout: 10_000, polling: 'raf' },
    )
  ).jsonValue() as number;
  assert.ok(mappedAt <= pin.interval + 2, `the map showed ${pin.domain}:${pin.vcpu} on pCPU${pin.to} at interval ${mappedAt}, pinned at ${pin.interval}`);
  assert.match(await page.locator('#decision-log li[data-kind="pin"]').first().locator('.why').innerText(), /pCPU/);

  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: artifact, fullPage: true });

  // /metrics moved with the run.
  const after = parsePrometheus((await get(`${url}metrics`)).body);
  for (const name of [
    'virtbalance_pcpu_usage_ratio', 'virtbalance_vcpu_usage_ratio', 'virtbalance_pins_changed_total', 'virtbalance_balloon_actual_bytes',
    'virtbalance_balloon_unused_bytes', 'virtbalance_host_free_bytes', 'virtbalance_decisions_total', 'virtbalance_tick_duration_seconds',
    'virtbalance_hypervisor_call_errors_total',
  ]) {
    assert.ok(after.types.has(name), `/metrics has no ${name}`);
  }
  const pinsBefore = sampleValue(before, 'virtbalance_pins_changed_total')!;
  const pinsAfter = sampleValue(after.samples, 'virtbalance_pins_changed_total')!;
  assert.ok(pinsAfter > pinsBefore, `pins changed ${pinsBefore} → ${pinsAfter}`);
  assert.ok(sampleValue(after.samples, 'virtbalance_intervals_total')! > sampleValue(before, 'virtbalance_intervals_total')!);
  assert.ok(sampleValue(after.samples, 'virtbalance_vcpu_usage_ratio', { domain: pin.domain, vcpu: pin.vcpu }) !== undefined);
  assert.equal(sampleValue(after.samples, 'virtbalance_host_connected'), 1);
  assert.equal((await get(`${url}healthz`)).body, 'ok\n');

  // Nothing came from anywhere but the dashboard itself.
  const foreign = requested.filter((r) => !r.startsWith(url) && !r.startsWith('data:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);

  // Ctrl-C stops the run and the server; the page notices the stream is gone.
  const stopped = performance.now();
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 0, run.stderr());
  assert.ok(performance.now() - stopped < 5000, 'exited promptly');
  assert.doesNotMatch(run.stderr(), /^\s+at /m, 'no stack trace');
  await page.waitForFunction(() => document.getElementById('stream-pill')?.dataset.state !== 'live', undefined, { timeout: 10_000 });
});

test('dashboard in headless Chromium: each guest\'s CPU weight, prediction error and dedicated pCPUs (held since when, or refused), also in /metrics', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems, work } = browser;
  const config = join(work, 'virtbalance.yaml');
  await writeFile(config, 'vms:\n  vm1: { cpuWeight: 3 }\n  db: { dedicated: true }\n  big: { dedicated: true }\n');
  const { run, url } = await showDashboard(t, page, ['run', '--cpu', '--sim', fixture('dedicated-weights.yaml'), '--config', config, '--http', '127.0.0.1:0', '--pace', '5', '--intervals', '40', '--quiet']);

  // big (2 vCPUs, the busier) holds two pCPUs of its own; db's request cannot be met; vm1 runs at weight 3.
  const rows = await (
    await page.waitForFunction(
      () => {
        const cell = (d: string, key: string) => document.querySelector<HTMLElement>(`#guest-rows tr[data-domain="${d}"] td[data-${key}]`);
        const big = cell('big', 'dedicated');
        const db = cell('db', 'refused');
        const w = cell('vm1', 'weight');
        // Every guest's share is predicted, a dedicated one's also while it holds its pCPUs.
        const errors = ['big', 'db', 'vm1', 'vm2'].map((d) => cell(d, 'prediction-error')?.dataset.predictionError ?? '');
        if (big?.dataset.held !== 'yes' || db?.dataset.refused !== 'yes' || w?.dataset.weight !== '3' || errors.some((e) => e === '')) return false;
        return { big: big.dataset.dedicated, bigText: big.innerText, dbText: db.innerText, errors: errors.map(Number), tile: document.querySelector<HTMLElement>('[data-tile="dedicated"]')?.innerText ?? '', prediction: document.querySelector<HTMLElement>('[data-tile="prediction"]')?.innerText ?? '' };
      },
      undefined,
      { timeout: 30_000 },
    )
  ).jsonValue() as { big: string; bigText: string; dbText: string; errors: number[]; tile: string; prediction: string };
  assert.equal(rows.big, '0,1');
  assert.match(rows.bigText, /^pCPUs 0,1 since #\d+ \(/);
  assert.match(rows.dbText, /cannot be met/);
  for (const e of rows.errors) assert.ok(e >= 0 && e <= 1, `prediction error ${e}`);
  assert.match(rows.tile, /2\s*pCPUs[\s\S]*big: 0,1[\s\S]*db: cannot be met/);
  assert.match(rows.prediction, /pts/);
  // The weight set is a decision in the log, with its reason.
  assert.match(await page.locator('#decision-log li[data-kind="weight"][data-domain="vm1"] .why').first().innerText(), /cpu_shares 1024 → 3072\), vms\.vm1\.cpuWeight; first seen in scope/);

  const m = parsePrometheus((await get(`${url}metrics`)).body).samples;
  assert.equal(sampleValue(m, 'virtbalance_dedicated_pcpus', { domain: 'big' }), 2);
  assert.equal(sampleValue(m, 'virtbalance_dedicated_pcpus', { domain: 'db' }), 0);
  assert.equal(sampleValue(m, 'virtbalance_dedicated_refused', { domain: 'db' }), 1);
  assert.equal(sampleValue(m, 'virtbalance_cpu_weight', { domain: 'vm1' }), 3);
  assert.equal(sampleValue(m, 'virtbalance_cpu_weight_changes_total'), 1);
  for (const d of ['big', 'db', 'vm1', 'vm2']) assert.ok(sampleValue(m, 'virtbalance_vcpu_prediction_error_ratio', { domain: d }) !== undefined, d);
  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'artifacts', 'dashboard-guests.png'), fullPage: true });
  assert.deepEqual(problems, []);
  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});

test('dashboard in headless Chromium: guests learned clock-bound are marked bursty, with what that means, also in /metrics', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;
  const { run, url } = await showDashboard(t, page, ['run', '--cpu', '--sim', fixture('bursty-mix.yaml'), '--http', '127.0.0.1:0', '--pace', '5', '--intervals', '30', '--quiet']);

  // The bursty guests get a mark once learned; the busy ones never do.
  const seen = await (
    await page.waitForFunction(
      () => {
        const cell = (d: string) => document.querySelector<HTMLElement>(`#guest-rows tr[data-domain="${d}"] td[data-clock-bound]`);
        const cells = ['burst1', 'burst2', 'busy1', 'busy2'].map(cell);
        if (cells.some((c) => !c) || cells.slice(0, 2).some((c) => c!.dataset.clockBound !== '0')) return false;
        const tag = cells[0]!.querySelector<HTMLElement>('.tag.clock-bound');
        const box = tag?.getBoundingClientRect();
        return {
          marks: cells.map((c) => c!.dataset.clockBound),
          tags: cells.map((c) => c!.querySelectorAll('.tag.clock-bound').length),
          text: tag?.innerText ?? '',
          title: tag?.title ?? '',
          visible: !!box && box.width > 20 && box.height > 8 && box.right <= cells[0]!.getBoundingClientRect().right + 1,
        };
      },
      undefined,
      { timeout: 30_000 },
    )
  ).jsonValue() as { marks: string[]; tags: number[]; text: string; title: string; visible: boolean };
  assert.deepEqual(seen.marks, ['0', '0', '', '']);
  assert.deepEqual(seen.tags, [1, 1, 0, 0]);
  assert.equal(seen.text, 'bursty (clock-bound)');
  assert.match(seen.title, /learned clock-bound/i);
  assert.match(seen.title, /prediction errors/);
  assert.match(seen.title, /by the clock/);
  assert.ok(seen.visible, 'the mark is drawn inside the guest cell');

  const m = parsePrometheus((await get(`${url}metrics`)).body).samples;
  for (const d of ['burst1', 'burst2']) assert.equal(sampleValue(m, 'virtbalance_vcpu_clock_bound', { domain: d, vcpu: '0' }), 1, d);
  for (const d of ['busy1', 'busy2']) assert.equal(sampleValue(m, 'virtbalance_vcpu_clock_bound', { domain: d, vcpu: '0' }), 0, d);
  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'artifacts', 'dashboard-clock-bound.png'), fullPage: true });
  assert.deepEqual(problems, []);
  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});

test('dashboard in headless Chromium: a trial in progress, then measured worse and reverted, stands out on the CPU card and in the log, also in /metrics', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;
  // Busy with busy, bursty with bursty: the model's busy + bursty pairing is tried and measured worse (fairness objective);
  // the host's scheduler alone is tried instead of going back (trials.ts releaseInstead), measured worse too, and reverted.
  const { run, url } = await showDashboard(t, page, ['run', '--cpu', '--sim', fixture('bursty-paired.yaml'), '--objective', 'fairness', '--http', '127.0.0.1:0', '--pace', '1', '--intervals', '12', '--quiet']);

  // Every state the card shows, until the revert.
  const seen = await (
    await page.waitForFunction(
      () => {
        const w = window as unknown as { trialStates?: string[] };
        const card = document.getElementById('cpu-trial')!;
        const line = `${card.dataset.state}|${document.getElementById('trial-text')!.textContent}`;
        w.trialStates ??= [];
        if (!card.hidden && w.trialStates.at(-1) !== line) w.trialStates.push(line);
        return card.dataset.state === 'reverted' ? w.trialStates : false;
      },
      undefined,
      { timeout: 30_000, polling: 'raf' },
    )
  ).jsonValue() as string[];
  const progress = seen.filter((s) => s.startsWith('in-progress|'));
  assert.ok(progress.length > 0, `no trial in progress seen: ${seen.join(' / ')}`);
  for (const p of progress) assert.match(p, /^in-progress\|trial in progress \((settling|\d of 3 measured)\), before: worst 8\d % of fair share$/);
  assert.ok(progress.some((p) => /\(2 of 3 measured\)/.test(p)), progress.join(' / '));
  assert.match(seen.at(-1)!, /^reverted\|reverted: 6\d % vs 8\d %$/);

  const card = await page.evaluate(() => {
    const el = document.getElementById('cpu-trial')!;
    const style = getComputedStyle(el);
    return {
      badge: document.getElementById('trial-badge')!.textContent,
      when: document.getElementById('trial-when')!.textContent,
      meta: document.getElementById('trial-meta')!.textContent,
      decision: document.getElementById('trial-decision')!.textContent,
      border: style.borderLeftColor,
      background: style.backgroundColor,
      text: getComputedStyle(document.getElementById('trial-text')!).color,
    };
  });
  assert.equal(card.badge, 'REVERTED');
  assert.match(card.when, /^worst fraction of fair share, tried vs before · #\d+$/);
  assert.match(card.meta, /^demand epoch 1 · trials: 2 started, 0 kept, 2 reverted$/);
  assert.match(card.decision, /^#\d+ decision: /);
  // A reverted trial stands out: red edge (--bad #f85149), a red-tinted card, a light red text.
  assert.equal(card.border, 'rgb(248, 81, 73)');
  assert.notEqual(card.background, 'rgb(27, 35, 48)', 'not the plain card background');
  assert.equal(card.text, 'rgb(255, 161, 152)');

  // The log, newest first: the trial started with its pins and lost; the host alone, tried instead, reverted with the pins back.
  const log = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#decision-log li[data-kind="trial"]')].map((li) => ({
    outcome: li.dataset.outcome, interval: Number(li.dataset.interval), badge: li.querySelector('.badge')!.textContent, what: li.querySelector('.what')!.textContent, why: li.querySelector('.why')!.textContent,
  })));
  assert.deepEqual(log.map((l) => [l.outcome, l.interval, l.badge]), [['reverted', 9, 'REVERTED'], ['reverted', 5, 'REVERTED'], ['started', 5, 'TRIAL'], ['started', 1, 'TRIAL']]);
  assert.match(log[0]!.what!, /^trial reverted: 6\d % vs 8\d %$/);
  assert.match(log[0]!.why!, /^trial reverted \(measured worse\): worst 6\d % of fair share/);
  assert.match(log[1]!.what!, /^trial measured worse: 5\d % vs 8\d %$/);
  assert.match(log[1]!.why!, /^another placement tried instead of going back$/);
  assert.match(log[3]!.what!, /^trial started, epoch 1 · before 8\d %$/);
  const revertRow = page.locator('#decision-log li[data-kind="trial"][data-outcome="reverted"]').first();
  const next = revertRow.locator('xpath=following-sibling::li[1]');
  assert.deepEqual([await next.getAttribute('data-kind'), await next.getAttribute('data-interval')], ['pin', '9'], 'the revert\'s pins follow it');
  assert.match(await next.locator('.why').innerText(), /\(trial reverted\)/);

  const m = parsePrometheus((await get(`${url}metrics`)).body).samples;
  assert.equal(sampleValue(m, 'virtbalance_cpu_trials_total', { outcome: 'reverted' }), 2);
  assert.equal(sampleValue(m, 'virtbalance_cpu_demand_epoch'), 1);
  await mkdir(join(repoRoot, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'artifacts', 'dashboard-trials.png'), fullPage: true });
  assert.deepEqual(problems, []);
  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});

test('dashboard in headless Chromium: vCPUs that share a pCPU set count on the pCPUs of the set, and every column adds up', { timeout: 60_000 }, async (t) => {
  const browser = await openHeadlessPage(t);
  if (!browser) return;
  const { page, problems } = browser;
  // A dry run keeps the fixture's pins: vm1 busy on pCPUs {0,1}, vm4 idle on {0,1,2}.
  const { run } = await showDashboard(t, page, ['run', '--cpu', '--dry-run', '--sim', fixture('shared-sets.yaml'), '--http', '127.0.0.1:0', '--pace', '5', '--intervals', '30', '--quiet']);
  await page.waitForFunction(() => document.querySelectorAll('#vcpu-map .pcpu[data-usage]').length === 3, undefined, { timeout: 15_000 });
  const columns = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#vcpu-map .pcpu[data-usage]')].map((c) => ({
    pcpu: c.dataset.pcpu,
    usage: Number(c.dataset.usage),
    chips: [...c.querySelectorAll<HTMLElement>('.chip')].map((chip) => ({ vcpu: chip.dataset.vcpu, usage: Number(chip.dataset.usage), shared: chip.dataset.shared })),
  })));
  for (const c of columns) {
    const sum = c.chips.reduce((s, chip) => s + chip.usage, 0);
    assert.ok(Math.abs(sum - c.usage) < 1e-6, `pCPU${c.pcpu}: chips ${sum.toFixed(3)}, column ${c.usage.toFixed(3)}: ${JSON.stringify(c.chips)}`);
    if (c.usage > 0.01) assert.ok(c.chips.length > 0, `pCPU${c.pcpu} runs ${c.usage} and shows no vCPU`);
  }
  const vm1 = columns.flatMap((c) => c.chips.filter((chip) => chip.vcpu === 'vm1:0').map((chip) => ({ pcpu: c.pcpu, ...chip })));
  assert.deepEqual(vm1.map((c) => [c.pcpu, c.shared]), [['0', '0,1'], ['1', '0,1']], 'vm1 on both pCPUs of its set');
  assert.deepEqual(problems, []);
  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.stderr());
});
