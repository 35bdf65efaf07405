import { accessSync, constants } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';

// Real tools the deployment tests use (systemd-analyze, prometheus, promtool). Missing, a test
// skips with the package to install, except under CI=true, where it fails.

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** The tool's path, or undefined after marking the test skipped (a failure under CI). */
export function requireTool(t: TestContext, path: string, aptPackage: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    const why = `${path} is missing (apt-get install -y --no-install-recommends ${aptPackage})`;
    if (IN_CI) assert.fail(why);
    t.skip(why);
    return undefined;
  }
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` every `everyMs` until it returns a value; throws, with the last error, after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One series of a Prometheus instant-query answer. */
export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** Stops each child with SIGTERM and waits for it to exit (those already gone at once). */
export async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}
