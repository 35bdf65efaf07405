// Shared by the end-to-end lab tests: reaching libvirtd (a failure under CI=true, a skip with the
// reason elsewhere), running beside domains not started by a test (someone's VMs: named once, and
// left alone, since every controller a test starts is scoped to the test's own guests;
// foreign-domain-e2e proves it), one lab test at a time per daemon (a lock file: CPU shares are measured, so two lab test files must not overlap even when
// `node --test` runs files in parallel), removing guests left by killed runs, running the
// shipped CLI as a child process that is always stopped, and tearing a test's lab down.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { findLabGuests, removeGuest } from '../../src/lab/guests.js';
import { labLock, processAlive } from '../../src/lab/lock.js';
import { labRoot } from '../../src/lab/paths.js';
import { startCliChild, type CliChild } from '../../src/lab/cli-child.js';
import { ListDomainsFlags, type Domain } from '../../src/libvirt/protocol.js';
import { labRemove, labUp, type LabGuestRequest, type LabUpResult } from '../../src/lab/lab.js';
import { consoleProgress } from '../../src/lab/progress.js';

export const URI = process.env.VIRTBALANCE_TEST_URI ?? 'qemu:///system';
export const CI = process.env.CI === 'true';
export const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
/** Every e2e guest name starts with `vblt<pid>`; a guest whose process is gone is stale. */
export const STALE = /^vblt(\d+)/;
/** A foreign guest a test starts on purpose (test/lab/foreign-domain-e2e.test.ts); stale when its process is gone. */
export const FOREIGN_STALE = /^vbforeign(\d+)/;
/** The glob that scopes a controller under test to the guests of this test run. */
export const OUR_GUESTS = `vblt${process.pid}*`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const say = (tag: string, line: string) => process.stderr.write(`[${tag}] ${line}\n`);

export { processAlive as alive };

/**
 * A client, or the reason there is none (thrown under CI=true): no daemon. Domains no test started
 * do not stop the tests; they are named, and the scoped controllers leave them alone.
 */
export async function connectOrSkip(tag: string): Promise<{ client?: LibvirtClient; skip?: string }> {
  let client: LibvirtClient;
  try {
    client = await LibvirtClient.connect(URI, { timeoutMs: 5_000 });
  } catch (err) {
    const why = `no libvirtd at ${URI}: ${(err as Error).message}`;
    if (CI) throw new Error(`${why} (CI=true: the lab tests must run; start it with scripts/libvirt-test-host.sh up)`);
    say(tag, `skipping: ${why}`);
    return { skip: why };
  }
  const foreign = await foreignDomains(client);
  if (foreign.length > 0) say(tag, `${URI} also runs ${foreign.join(', ')} (no test started them): running beside them, every controller scoped to ${OUR_GUESTS}, so they are left alone`);
  return { client };
}

/** Running domains that no test run started (test guests are named vblt<pid>...). */
export async function foreignDomains(client: LibvirtClient): Promise<string[]> {
  const stale = (n: string) => { const pid = Number(FOREIGN_STALE.exec(n)?.[1]); return pid > 0 && !processAlive(pid); };
  return (await client.listAllDomains(ListDomainsFlags.Active)).map((d) => d.name).filter((n) => !STALE.test(n) && !stale(n)).sort();
}

/** Removes lab guests left by test runs whose process is gone. */
export async function removeStaleGuests(client: LibvirtClient, tag: string): Promise<void> {
  for (const g of await findLabGuests(client)) {
    const pid = Number((STALE.exec(g.domain.name) ?? FOREIGN_STALE.exec(g.domain.name))?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) {
      say(tag, `removing ${g.domain.name}, left by an interrupted test run (pid ${pid})`);
      await removeGuest(client, g.domain, g.marker.dir);
    }
  }
}

/** The daemon-wide lab lock (src/lab/lock.ts), with this test's progress lines. */
export function labTestLock(root: string, tag: string): Promise<() => Promise<void>> {
  return labLock(root, { say: (m) => say(tag, m), step: (_l, fn) => fn() });
}

/**
 * What every lab test does first: a client (or the reason there is none, connectOrSkip), the
 * daemon-wide lab lock, and the guests killed runs left removed.
 */
export async function claimLabDaemon(tag: string): Promise<{ client?: LibvirtClient; skip?: string; unlock?: () => Promise<void> }> {
  const { client, skip } = await connectOrSkip(tag);
  if (!client) return { skip };
  const unlock = await labTestLock(labRoot(), tag);
  await removeStaleGuests(client, tag);
  return { client, unlock };
}

export type Child = CliChild;

/** What a lab test leaves behind, for `releaseLabDaemon`. */
export interface LabLeftovers {
  client?: LibvirtClient;
  unlock?: () => Promise<void>;
  /** CLI children to stop first (a controller must not act on guests being removed). */
  children?: readonly Child[];
  /** Lab guests, removed with their disks and consoles (labRemove). */
  labGuests?: readonly string[];
  /** Bare domains the test defined itself: destroyed and undefined. */
  domains?: readonly Domain[];
  /** A scratch directory. */
  dir?: string;
}

/**
 * A lab test's teardown, the mirror of claimLabDaemon: children stopped, guests and domains
 * removed, the scratch directory deleted, then the lock released and the client closed. Every step
 * runs even when one before it threw; the first error is thrown at the end.
 */
export async function releaseLabDaemon(tag: string, left: LabLeftovers): Promise<void> {
  const { client } = left;
  const steps: (() => Promise<unknown>)[] = [
    ...(left.children ?? []).map((c) => () => c.stop()),
    async () => { if (client && left.labGuests && left.labGuests.length > 0) await labRemove(client, [...left.labGuests], consoleProgress(tag)); },
    ...(left.domains ?? []).map((dom) => async () => {
      await client?.call('domainDestroy', { dom }).catch(() => undefined);
      await client?.call('domainUndefine', { dom }).catch(() => undefined);
    }),
    async () => { if (left.dir) await rm(left.dir, { recursive: true, force: true }); },
    async () => left.unlock?.(),
    async () => client?.close(),
  ];
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}


/** Runs `virtbalance <args>` (the shipped bin) as a child process; `echo` also prints its lines with the test's tag. */
export function runBin(args: string[], tag: string, echo = false): Child {
  return startCliChild(args, echo ? (line) => say(tag, line) : undefined);
}

/** Polls `probe` every `everyMs` until it gives a value, or throws after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

/** A lab test's own guests, booted as every lab test boots them: up to 120 s to answer, 30 s for the balloons to settle. */
export function upTestGuests(client: LibvirtClient, tag: string, guests: LabGuestRequest[]): Promise<LabUpResult> {
  return labUp(client, { uri: URI, root: labRoot(), progress: consoleProgress(tag), bootTimeoutSeconds: 120, balloonSettleSeconds: 30, guests });
}
