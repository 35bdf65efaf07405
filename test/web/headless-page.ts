import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { dashboardUrlOf, startCli, type CliRun } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface HeadlessPage {
  page: Page;
  /** Page errors and console errors seen so far: a test ends by asserting there were none. */
  problems: string[];
  /** A scratch folder removed after the test (the browser profile lives in it). */
  work: string;
}

/**
 * A page in headless Chromium with a throw-away profile, closed and removed after the test.
 * Chromium missing: the test fails under CI=true (CI installs it, so that is a broken set-up) and is skipped elsewhere (undefined).
 */
export async function openHeadlessPage(t: TestContext): Promise<HeadlessPage | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)`);
    t.skip(`${CHROMIUM} not installed`);
    return undefined;
  }
  const work = await mkdtemp(join(tmpdir(), 'vb-chromium-'));
  let context: BrowserContext | undefined;
  // One hook, browser first: node runs a test's after-hooks in the order they were added and skips
  // the rest when one throws, so removing the profile first raced Chromium still writing it
  // (ENOTEMPTY), and the close never ran: the browser kept the test file alive until CI's timeout.
  t.after(async () => {
    try {
      await context?.close();
    } finally {
      await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    }
  });
  context = await chromium.launchPersistentContext(join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 1000 } });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  return { page, problems, work };
}

/** Starts `virtbalance ARGS` (a run with `--http 127.0.0.1:0`), killed after the test if still running, and opens its dashboard in `page`. */
export async function showDashboard(t: TestContext, page: Page, args: string[]): Promise<{ run: CliRun; url: string }> {
  const run = startCli(args);
  t.after(() => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  const url = await dashboardUrlOf(run);
  await page.goto(url);
  return { run, url };
}
