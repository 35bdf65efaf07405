// ReconnectingHost: loss reported once, calls fail fast while down, backoff with jitter, a new
// connection number after every reconnect; once with a scripted connector, once over a real
// socket to a fake daemon that drops the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, defaultBackoff, libvirtConnector, ReconnectingHost, type HostLink } from '../../src/host/reconnecting-host.js';
import { HostUnavailableError } from '../../src/ground/errors.js';
import type { HostObservation, Hypervisor } from '../../src/ground/hypervisor.js';
import { FakeDaemon, handshake } from '../libvirt/fake-daemon.js';

const VM = { name: 'vm1', uuid: '00000000-0000-0000-0000-000000000001' };

/** A link whose loss the test triggers, over a hypervisor that counts calls. */
class ScriptedLink implements HostLink {
  private listener: ((cause: string) => void) | undefined;
  closed = false;
  calls = 0;
  readonly hypervisor: Hypervisor;
  constructor(readonly id: number) {
    const self = this;
    this.hypervisor = {
      uri: 'fake://',
      async observe(): Promise<HostObservation> {
        self.calls++;
        if (self.closed) throw new Error('closed under the call');
        return { timeNs: 1, host: { hostname: `link${id}`, pcpus: 1, memoryTotalKiB: 1, memoryFreeKiB: 1 }, domains: [] };
      },
      async pinVcpu() { self.calls++; },
      async setMemory() { self.calls++; },
      async setMemoryStatsPeriod() { self.calls++; },
      async close() { self.closed = true; },
    };
  }
  onLost(listener: (cause: string) => void): void {
    this.listener = listener;
  }
  isClosed(): boolean {
    return this.closed;
  }
  drop(cause: string): void {
    this.closed = true;
    this.listener?.(cause);
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('backoff: doubles from the initial delay, stops at the maximum, jitter stays within its band', () => {
  const mid = () => 0.5;
  assert.equal(backoffDelayMs(1, defaultBackoff, mid), 500);
  assert.equal(backoffDelayMs(2, defaultBackoff, mid), 1000);
  assert.equal(backoffDelayMs(7, defaultBackoff, mid), 30_000);
  assert.equal(backoffDelayMs(50, defaultBackoff, mid), 30_000);
  for (let attempt = 1; attempt < 12; attempt++) {
    const base = Math.min(30_000, 500 * 2 ** (attempt - 1));
    for (const r of [0, 0.25, 0.999]) {
      const d = backoffDelayMs(attempt, defaultBackoff, () => r);
      assert.ok(d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9, `attempt ${attempt} r ${r}: ${d}`);
    }
  }
});

test('loss: one log line, calls fail fast while down, retries back off, reconnect gives a new connection number', async () => {
  const logs: string[] = [];
  const links: ScriptedLink[] = [new ScriptedLink(0)];
  let refuse = 3;
  const attemptsAt: number[] = [];
  const host = new ReconnectingHost(
    'fake:///x',
    async () => {
      attemptsAt.push(Date.now());
      if (refuse-- > 0) throw new Error('ECONNREFUSED');
      const link = new ScriptedLink(links.length);
      links.push(link);
      return link;
    },
    links[0]!,
    { backoff: { initialMs: 20, maxMs: 200, jitter: 0 }, log: (m) => logs.push(m) },
  );
  const before = await host.observe();
  assert.equal(before.connection, 0);

  links[0]!.drop('libvirtd closed the connection');
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /^lost connection to fake:\/\/\/x: libvirtd closed the connection; reconnecting/);
  const t0 = Date.now();
  await assert.rejects(host.observe(), (e: unknown) => e instanceof HostUnavailableError && /no connection to fake:\/\/\/x/.test(e.message));
  await assert.rejects(host.setMemory(VM, 1024), HostUnavailableError);
  assert.ok(Date.now() - t0 < 50, 'calls while down fail at once');

  await until('reconnection', () => host.connected);
  assert.equal(logs.length, 2, logs.join('\n'));
  assert.match(logs[1]!, /^reconnected to fake:\/\/\/x after 4 attempts/);
  // Delays 20, 40, 80, 160 ms between attempts (no jitter): each gap at least the scheduled delay.
  const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
  [40, 80, 160].forEach((want, i) => assert.ok(gaps[i]! >= want - 5, `gap ${i} ${gaps[i]} < ${want}`));

  const after = await host.observe();
  assert.equal(after.connection, 1);
  assert.equal(after.host.hostname, 'link1');
  assert.equal(host.reconnections, 1);
  await host.close();
  assert.equal(links[1]!.closed, true);
});

test('a call under way when the connection drops fails as HostUnavailableError and the loss is reported once', async () => {
  const logs: string[] = [];
  const first = new ScriptedLink(0);
  const host = new ReconnectingHost('fake:///y', async () => new ScriptedLink(1), first, { backoff: { initialMs: 10_000, maxMs: 10_000, jitter: 0 }, log: (m) => logs.push(m) });
  // No close event: the loss shows only as a closed link under the call.
  first.closed = true;
  await assert.rejects(host.observe(), HostUnavailableError);
  first.drop('late event');
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0]!, /closed under the call/);
  await host.close();
});

test('close() while reconnecting stops the attempts and closes a connection that arrives late', async () => {
  let resolveConnect: ((l: HostLink) => void) | undefined;
  let attempts = 0;
  const first = new ScriptedLink(0);
  const late = new ScriptedLink(1);
  const host = new ReconnectingHost(
    'fake:///z',
    () => {
      attempts++;
      return new Promise<HostLink>((r) => { resolveConnect = r; });
    },
    first,
    { backoff: { initialMs: 5, maxMs: 5, jitter: 0 } },
  );
  first.drop('gone');
  await until('an attempt', () => attempts === 1);
  await host.close();
  resolveConnect!(late);
  await until('the late link closed', () => late.closed);
  await sleep(30);
  assert.equal(attempts, 1);
  await assert.rejects(host.observe(), /closed/);
});

test('over a socket: the daemon drops the connection, pending call fails, the host reconnects and goes on', { timeout: 10_000 }, async () => {
  const daemon = await FakeDaemon.start('unix');
  let silent = false;
  daemon.handler = (call, peer) => {
    if (handshake(call, peer)) return;
    if (call.proc === 204 && !silent) peer.reply(call);
  };
  const logs: string[] = [];
  try {
    const connector = libvirtConnector(daemon.uri, 2_000);
    const host = new ReconnectingHost(daemon.uri, connector, await connector(), { backoff: { initialMs: 20, maxMs: 100, jitter: 0.2 }, log: (m) => logs.push(m) });
    await host.setMemory(VM, 524_288);
    assert.equal(daemon.peers.length, 1);

    silent = true;
    const pending = host.setMemory(VM, 600_000);
    await until('the call to reach the daemon', () => daemon.peers[0]!.calls.filter((c) => c.proc === 204).length === 2);
    daemon.peers[0]!.socket.destroy();
    await assert.rejects(pending, (e: unknown) => e instanceof HostUnavailableError);
    assert.equal(logs.filter((l) => l.startsWith('lost connection')).length, 1, logs.join('\n'));

    silent = false;
    await until('reconnection', () => host.connected);
    await host.setMemory(VM, 524_288);
    assert.equal(daemon.peers.length, 2);
    assert.ok(daemon.peers[1]!.calls.some((c) => c.proc === 204));
    assert.equal(logs.filter((l) => l.startsWith('reconnected')).length, 1, logs.join('\n'));
    await host.close();
  } finally {
    await daemon.stop();
  }
});
