// Something other than libvirtd on the socket or port (issue #20, friction 9): the error names what
// answered instead of a length read from its first four bytes ("HTTP" is 1213486160).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LibvirtConnectError } from '../../src/libvirt/errors.js';
import { ForeignPeerError } from '../../src/libvirt/foreign-peer.js';
import { FrameAssembler } from '../../src/libvirt/packet.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vb-foreign-peer-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function listening(server: net.Server, where: number | string): Promise<void> {
  await new Promise<void>((resolve) => (typeof where === 'string' ? server.listen(where, resolve) : server.listen(where, '127.0.0.1', resolve)));
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** A server that writes `banner` to whoever connects (as ssh and TLS servers answer), then waits. */
function bannerServer(banner: Buffer): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write(banner);
  });
}

async function connectError(uri: string): Promise<LibvirtConnectError> {
  try {
    const client = await LibvirtClient.connect(uri, { timeoutMs: 5_000 });
    await client.close();
  } catch (err) {
    assert.ok(err instanceof LibvirtConnectError, `a connect error: ${String(err)}`);
    return err;
  }
  assert.fail(`${uri}: connected to something that is not libvirtd`);
}

test('an HTTP server on the TCP port: named as such, with its status line', async () => {
  const server = http.createServer((_req, res) => res.end('hello'));
  await listening(server, 0);
  try {
    const err = await connectError(`qemu+tcp://127.0.0.1:${portOf(server)}/system`);
    assert.match(err.message, /the peer there answered in HTTP, not libvirt's protocol \(it said 'HTTP\/1\.1 400 Bad Request'\); is that libvirtd's port/);
    assert.match(err.message, new RegExp(`via tcp 127\\.0\\.0\\.1:${portOf(server)}:`), 'where it answered');
    assert.doesNotMatch(err.message, /declared length/);
  } finally {
    server.close();
  }
});

test('an HTTP server on the UNIX socket path: named as such', async () => {
  const server = http.createServer((_req, res) => res.end('hello'));
  const path = join(dir, 'http.sock');
  await listening(server, path);
  try {
    const err = await connectError(`qemu:///system?socket=${path}`);
    assert.match(err.message, /answered in HTTP, not libvirt's protocol .*is that libvirtd's socket\?/);
  } finally {
    server.close();
  }
});

test('an ssh server and a TLS server on the port: named as such', async () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'), /answered in SSH, not libvirt's protocol \(it said 'SSH-2\.0-OpenSSH_9\.2p1 Debian-2'\)/],
    // A TLS alert record (protocol version 3.3), as a TLS server sends to a client that is not TLS.
    [Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]), /answered in TLS, not libvirt's protocol;/],
  ];
  for (const [banner, expected] of cases) {
    const server = bannerServer(banner);
    await listening(server, 0);
    try {
      const err = await connectError(`qemu+tcp://127.0.0.1:${portOf(server)}/system`);
      assert.match(err.message, expected);
    } finally {
      server.close();
    }
  }
});

test('the CLI says it in one line, exit 1', async () => {
  const server = http.createServer((_req, res) => res.end('hello'));
  await listening(server, 0);
  try {
    const uri = `qemu+tcp://127.0.0.1:${portOf(server)}/system`;
    // Asynchronous: the server lives in this process's event loop.
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'info', '--connect', uri], { env: { ...process.env, VIRTBALANCE_DEBUG: '' } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.once('close', (status: number | null) => resolve({ status, stderr }));
    });
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^virtbalance: cannot connect to .*: the peer there answered in HTTP, not libvirt's protocol/);
  } finally {
    server.close();
  }
});

test('the frame assembler names what a peer sent instead of a length: an HTTP request too (a browser at our server)', () => {
  const cases: Array<[string | Buffer, string, string]> = [
    ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'HTTP', 'GET / HTTP/1.1'],
    ['HTTP/1.0 200 OK\r\n', 'HTTP', 'HTTP/1.0 200 OK'],
    ['SSH-2.0-x\r\n', 'SSH', 'SSH-2.0-x'],
    ['hello there\n', 'text', 'hello there'],
    [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'TLS', ''],
  ];
  for (const [bytes, protocol, said] of cases) {
    const chunk = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    // Whole, and cut after the length word (the assembler's other path).
    for (const parts of [[chunk], [chunk.subarray(0, 2), chunk.subarray(2)]]) {
      const assembler = new FrameAssembler();
      assert.throws(() => { for (const p of parts) assembler.push(p, () => assert.fail('no frame')); },
        (err: unknown) => err instanceof ForeignPeerError && err.protocol === protocol && err.said === said, `${JSON.stringify(String(bytes))} in ${parts.length}`);
    }
  }
  // A real oversized libvirt length (first byte 0x10, not text) keeps the plain message.
  assert.throws(() => new FrameAssembler().push(Buffer.from([0x10, 0, 0, 0, 0, 0]), () => {}), /declared length 268435456 exceeds/);
});
