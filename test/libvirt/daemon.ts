// Reaching the real libvirtd from tests: under CI=true an unreachable daemon fails the test;
// elsewhere the test is skipped with a visible message.
import type { TestContext } from 'node:test';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LibvirtConnectError } from '../../src/libvirt/errors.js';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Connects, or skips the test (outside CI) when the daemon is unreachable. Returns undefined when skipped. */
export async function connectOrSkip(t: TestContext, uri: string): Promise<LibvirtClient | undefined> {
  try {
    return await LibvirtClient.connect(uri, { timeoutMs: 3_000 });
  } catch (err) {
    if (err instanceof LibvirtConnectError && !IN_CI) {
      const msg = `SKIPPED: libvirtd unreachable (${err.message}); run scripts/libvirt-test-host.sh up`;
      console.error(msg);
      t.skip(msg);
      return undefined;
    }
    throw err;
  }
}
