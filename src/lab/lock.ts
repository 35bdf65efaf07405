// One measurement on a daemon's lab guests at a time: the controllers under test (and `vcpu_scheduler`
// run as a grader runs it) manage every domain on the daemon, and CPU shares are measured, so two
// lab test files or a test and the lab benchmark must not overlap, even when `node --test` runs test
// files in parallel. A lock file under the lab directory holds the owner's pid; a lock whose owner
// is gone is taken over.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Progress } from './progress.js';

/** Whether a process with this PID exists (EPERM: it does, but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** Takes the lock (waiting up to `timeoutMs` while a live process holds it); returns the release. */
export async function labLock(root: string, progress: Progress, timeoutMs = 9 * 60_000): Promise<() => Promise<void>> {
  await fs.mkdir(root, { recursive: true });
  const file = path.join(root, 'measure.lock');
  const t0 = Date.now();
  let lastSay = 0;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      if (Date.now() - t0 > 1_000) progress.say(`lab lock taken after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return async () => {
        const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
        if (owner === process.pid) await fs.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (owner && !processAlive(owner)) {
      progress.say(`lab lock held by pid ${owner}, which is gone: taking it over`);
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`the lab lock ${file} is still held by pid ${owner} after ${timeoutMs / 1000} s`);
    if (Date.now() - lastSay > 15_000) {
      lastSay = Date.now();
      progress.say(`waiting for the lab lock (held by pid ${owner}: another lab test or benchmark on this daemon)`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
