// The connection against a scripted fake daemon on local UNIX and TCP sockets: replies matched by serial,
// errors, keepalive, events, and every kind of bad input ending in a clear error and a closed connection.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { LibvirtClient, type LifecycleEvent } from '../../src/libvirt/client.js';
import { LibvirtClosedError, LibvirtConnectError, LibvirtError, LibvirtProtocolError } from '../../src/libvirt/errors.js';
import type { CloseInfo } from '../../src/libvirt/rpc.js';
import { cat, dom, i32, opaque, str, u32 } from './bytes.js';
import { FakeDaemon, handshake, KEEPALIVE, Peer, REMOTE, type Call } from './fake-daemon.js';

const T = { timeout: 5_000 };
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
before(() => process.on('unhandledRejection', onUnhandled));
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

const HOSTNAME = 59;

function closeEvent(c: LibvirtClient): Promise<CloseInfo> {
  return new Promise((r) => c.once('close', r));
}

for (const kind of ['unix', 'tcp'] as const) {
  describe(`rpc over ${kind}`, () => {
    let d: FakeDaemon;
    let clients: LibvirtClient[] = [];

    async function connect(): Promise<LibvirtClient> {
      const c = await LibvirtClient.connect(d.uri, { timeoutMs: 2_000 });
      clients.push(c);
      return c;
    }

    before(async () => {
      d = await FakeDaemon.start(kind);
    });
    afterEach(async () => {
      for (const c of clients) await c.close();
      clients = [];
      d.handler = (call, peer) => void handshake(call, peer);
    });
    after(async () => d.stop());

    test('handshake: auth list, keepalive feature, open with the URI minus transport and our params', T, async () => {
      const c = await connect();
      const calls = d.peers.at(-1)!.calls.map((x) => x.proc);
      assert.deepEqual(calls, [66, 60, 1]);
      const open = d.peers.at(-1)!.calls[2]!;
      assert.deepEqual(open.body, cat(u32(1), str('test:///default'), u32(0)));
      assert.equal(c.closed, false);
    });

    test('many calls in flight, replies out of order, each gets its own', T, async () => {
      const held: Call[] = [];
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        held.push(call);
        if (held.length === 100) for (const h of held.reverse()) peer.reply(h, str(`host-${h.serial}`));
      };
      const c = await connect();
      const serials: number[] = [];
      const results = await Promise.all(Array.from({ length: 100 }, () => c.call('connectGetHostname').then((r) => r.hostname)));
      for (const h of held) serials.push(h.serial);
      assert.equal(new Set(serials).size, 100, 'distinct serials');
      assert.deepEqual(results, [...serials].sort((a, b) => a - b).map((s) => `host-${s}`));
    });

    test('replies split across reads, and opaque results kept while later replies reuse the read buffer', T, async () => {
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        if (call.proc === 20) {
          const body = cat(u32(2), u32(0), i32(1), u32(0), u32(5), i32(1), u32(1), i32(1), u32(0), u32(6), i32(0), opaque([0x02, 0x01]));
          const f = Peer.frame(REMOTE, 20, 1, call.serial, 0, body);
          if (call.serial % 2 === 0) {
            peer.send(f); // whole, in one read: decoded straight from the read buffer
          } else {
            // Three writes, far enough apart to arrive as separate reads.
            peer.send(f.subarray(0, 3));
            setTimeout(() => peer.send(f.subarray(3, 40)), 15);
            setTimeout(() => peer.send(f.subarray(40)), 30);
          }
        } else {
          peer.reply(call, str('x'.repeat(5000)));
        }
      };
      const c = await connect();
      const args = { dom: { name: 'test', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f' }, maxinfo: 2, maplen: 1 };
      const whole = await c.rpc.call('domainGetVcpus', args); // serial 4
      const split = await c.rpc.call('domainGetVcpus', args); // serial 5
      for (let i = 0; i < 20; i++) assert.equal((await c.call('connectGetHostname').then((r) => r.hostname)).length, 5000);
      for (const r of [whole, split]) {
        assert.deepEqual([...r.cpumaps], [0x02, 0x01]);
        assert.deepEqual(r.info.map((v) => [v.number, v.cpu, v.cpuTime]), [[0, 1, 5], [1, 0, 6]]);
      }
    });

    test('a remote_error reply rejects that call with a typed LibvirtError; the connection stays open', T, async () => {
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        if (call.proc === 23) peer.fail(call, 42, 10, "Domain not found: no domain with matching name 'x'");
        else peer.reply(call, str('vm'));
      };
      const c = await connect();
      await assert.rejects(c.call('domainLookupByName', { name: 'x' }).then((r) => r.dom), (e: unknown) => {
        assert.ok(e instanceof LibvirtError);
        assert.equal(e.code, 42);
        assert.equal(e.domain, 10);
        assert.equal(e.procedure, 'domainLookupByName');
        assert.match(e.message, /no domain with matching name/);
        return true;
      });
      assert.equal(await c.call('connectGetHostname').then((r) => r.hostname), 'vm');
    });

    test('keepalive PING is answered with PONG', T, async () => {
      const c = await connect();
      const peer = d.peers.at(-1)!;
      const pong = new Promise<Call>((resolve) => {
        d.handler = (call, peer) => {
          if (call.program === KEEPALIVE) resolve(call);
          else handshake(call, peer);
        };
      });
      peer.send(Peer.frame(KEEPALIVE, 1, 2, 0, 0));
      const got = await pong;
      assert.deepEqual([got.program, got.version, got.proc, got.type, got.serial, got.status], [KEEPALIVE, 1, 2, 2, 0, 0]);
      assert.equal(c.rpc.pingsAnswered, 1);
    });

    test('lifecycle events reach the owner', T, async () => {
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        if (call.proc === 316) {
          peer.reply(call, i32(5));
          peer.send(Peer.frame(REMOTE, 318, 2, 0, 0, cat(i32(5), dom('test', 1), i32(5), i32(1))));
        }
      };
      const c = await connect();
      const ev = new Promise<LifecycleEvent>((r) => c.once('lifecycle', r));
      assert.equal(await c.registerLifecycleEvents(), 5);
      const e = await ev;
      assert.equal(e.callbackId, 5);
      assert.equal(e.domain.name, 'test');
      assert.equal(e.event, 'stopped');
      assert.equal(e.detail, 1);
    });

    test('connection loss: every pending call rejects, close event names the cause, later calls reject at once', T, async () => {
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        if (call.serial === 6) peer.socket.destroy(); // after three calls are in flight
      };
      const c = await connect();
      const closed = closeEvent(c);
      const calls = [c.call('connectGetHostname').then((r) => r.hostname), c.call('connectGetHostname').then((r) => r.hostname), c.call('connectGetHostname').then((r) => r.hostname)];
      for (const p of calls) await assert.rejects(p, LibvirtClosedError);
      const info = await closed;
      assert.ok(info.reason === 'eof' || info.reason === 'error');
      assert.equal(c.closed, true);
      const t0 = Date.now();
      await assert.rejects(c.call('connectGetHostname').then((r) => r.hostname), (e: unknown) => e instanceof LibvirtClosedError && /closed/.test(e.message));
      assert.ok(Date.now() - t0 < 50);
    });

    const badFrames: [string, () => Buffer, RegExp][] = [
      ['oversized (declared > 32 MiB)', () => u32(32 * 1024 * 1024 + 1), /exceeds the 33554432-byte limit/],
      ['shorter than a header', () => cat(u32(8), u32(0)), /shorter than a header/],
      ['wrong program', () => Peer.frame(0x12345678, 59, 1, 4, 0, str('x')), /unexpected program 0x12345678/],
      ['wrong version', () => Peer.frame(REMOTE, 59, 1, 4, 0, str('x')).fill(9, 8, 12), /version/],
      ['reply to an unknown serial', () => Peer.frame(REMOTE, 59, 1, 999, 0, str('x')), /unknown serial 999/],
      ['truncated payload', () => Peer.frame(REMOTE, 59, 1, 4, 0, u32(100)), /truncated/],
      ['trailing bytes after the reply', () => Peer.frame(REMOTE, 59, 1, 4, 0, cat(str('x'), u32(0))), /unexpected bytes/],
      ['unknown status', () => Peer.frame(REMOTE, 59, 1, 4, 7, str('x')), /status 7/],
      ['stream message', () => Peer.frame(REMOTE, 59, 3, 4, 0), /message type 3/],
    ];
    for (const [what, bytes, message] of badFrames) {
      test(`bad frame: ${what} → clear error, connection closed`, T, async () => {
        d.handler = (call, peer) => {
          if (handshake(call, peer)) return;
          if (call.proc === HOSTNAME && call.serial === 4) peer.send(bytes());
        };
        const c = await connect();
        const peer = d.peers.at(-1)!;
        const closed = closeEvent(c);
        const first = c.call('connectGetHostname').then((r) => r.hostname);
        const second = c.call('connectGetHostname').then((r) => r.hostname);
        await assert.rejects(first, (e: unknown) => e instanceof Error && message.test(e.message));
        await assert.rejects(second, (e: unknown) => e instanceof LibvirtClosedError && message.test(e.message));
        const info = await closed;
        assert.equal(info.reason, 'protocol');
        assert.ok(info.error instanceof LibvirtProtocolError);
        assert.match(info.error.message, message);
        await d.peerClosed(peer);
      });
    }

    test('truncated frame then EOF → calls reject, nothing hangs', T, async () => {
      d.handler = (call, peer) => {
        if (handshake(call, peer)) return;
        const f = Peer.frame(REMOTE, 59, 1, call.serial, 0, str('hostname'));
        peer.send(f.subarray(0, 20));
        peer.socket.end();
      };
      const c = await connect();
      await assert.rejects(c.call('connectGetHostname').then((r) => r.hostname), (e: unknown) => e instanceof LibvirtClosedError && /closed the connection|closed/.test(e.message));
    });

    test('bounded fuzz: random bytes, then EOF → a clear error, a closed connection, no hang', { timeout: 30_000 }, async () => {
      await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.boolean(), async (garbage, withHeader) => {
        d.handler = (call, peer) => {
          if (handshake(call, peer)) return;
          // Either raw garbage, or garbage behind a plausible length so it reaches the header parser.
          peer.send(withHeader ? cat(u32(28 + garbage.length), Buffer.from(garbage), Buffer.alloc(28)) : Buffer.from(garbage));
          peer.socket.end();
        };
        const c = await connect();
        const closed = closeEvent(c);
        const result = await c.call('connectGetHostname').then((r) => r.hostname).then(() => 'ok', (e: unknown) => e);
        await closed;
        assert.equal(c.closed, true);
        if (result !== 'ok') assert.ok(result instanceof LibvirtClosedError || result instanceof LibvirtProtocolError || result instanceof LibvirtError, String(result));
        await assert.rejects(c.call('connectGetHostname').then((r) => r.hostname), LibvirtClosedError);
      }), { numRuns: 60 });
    });
  });
}

describe('keepalive watchdog', () => {
  test('a daemon that pinged once and then went silent is declared gone; one that never pings is not', T, async () => {
    const d = await FakeDaemon.start('unix');
    d.handler = (call, peer) => void handshake(call, peer, true);
    const silent = await LibvirtClient.connect(d.uri, { deadAfterMs: 300 });
    const pinging = await LibvirtClient.connect(d.uri, { deadAfterMs: 300 });
    const closed = closeEvent(pinging);
    d.peers[1]!.send(Peer.frame(KEEPALIVE, 1, 2, 0, 0));
    const pending = pinging.call('connectGetHostname').then((r) => r.hostname); // never answered
    const info = await closed;
    assert.match(info.error?.message ?? '', /no data from the daemon .*keepalive/);
    await assert.rejects(pending, LibvirtClosedError);
    assert.equal(silent.closed, false, 'no PING seen: keepalive not proven, so silence is not death');
    await silent.close();
    await d.stop();
  });
});

describe('connecting', () => {
  test('missing socket: one line naming the URI, the socket path and the cause', T, async () => {
    const uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock';
    await assert.rejects(LibvirtClient.connect(uri), (e: unknown) => {
      assert.ok(e instanceof LibvirtConnectError);
      assert.match(e.message, /qemu\+unix:\/\/\/system/);
      assert.match(e.message, /\/nonexistent\/libvirt-sock/);
      assert.match(e.message, /ENOENT/);
      assert.match(e.message, /is libvirtd running\?/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });

  test('a daemon that accepts but never answers: connect gives up within its timeout', T, async () => {
    const d = await FakeDaemon.start('unix');
    d.handler = () => {};
    const t0 = Date.now();
    await assert.rejects(LibvirtClient.connect(d.uri, { timeoutMs: 300 }), (e: unknown) => e instanceof LibvirtConnectError && /no answer within 300 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 2_000);
    await d.stop();
  });

  test('a daemon that closes during the handshake: connect error, not a hang', T, async () => {
    const d = await FakeDaemon.start('tcp');
    d.handler = (_call, peer) => peer.socket.destroy();
    await assert.rejects(LibvirtClient.connect(d.uri, { timeoutMs: 2_000 }), (e: unknown) => e instanceof LibvirtConnectError && e.message.includes(d.target));
    await d.stop();
  });

  test('SASL-only daemon: refused with a clear reason', T, async () => {
    const d = await FakeDaemon.start('unix');
    d.handler = (call, peer) => peer.reply(call, cat(u32(1), i32(1)));
    await assert.rejects(LibvirtClient.connect(d.uri, { timeoutMs: 2_000 }), /requires authentication this client does not support/);
    await d.stop();
  });
});
