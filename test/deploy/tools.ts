import { accessSync, constants } from 'node:fs';
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
