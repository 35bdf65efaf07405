// A scripted stand-in for libvirtd on a local UNIX or TCP socket, for protocol and robustness tests.
// It parses frames with its own simple code (not the client's), answers the handshake, and lets a test
// decide what every other call gets back: a reply, an error, garbage, or silence.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cat, i32, str, u32 } from './bytes.js';

export const REMOTE = 0x20008086;
export const KEEPALIVE = 0x6b656570;

export interface Call {
  program: number;
  version: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
  body: Buffer;
}

export type Handler = (call: Call, peer: Peer) => void;

export class Peer {
  readonly calls: Call[] = [];
  constructor(readonly socket: net.Socket) {}

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  static frame(program: number, proc: number, type: number, serial: number, status: number, body: Buffer = Buffer.alloc(0)): Buffer {
    return cat(u32(28 + body.length), u32(program), u32(1), i32(proc), i32(type), u32(serial), i32(status), body);
  }

  reply(call: Call, body: Buffer = Buffer.alloc(0)): void {
    this.send(Peer.frame(REMOTE, call.proc, 1, call.serial, 0, body));
  }

  /** A remote_error reply. */
  fail(call: Call, code: number, domain: number, message: string): void {
    const err = cat(i32(code), i32(domain), u32(1), str(message), i32(2), u32(0), u32(0), u32(0), u32(0), i32(0), i32(0), u32(0));
    this.send(Peer.frame(REMOTE, call.proc, 1, call.serial, 1, err));
  }
}

/** Default answers for the handshake a client performs before anything else. */
export function handshake(call: Call, peer: Peer, keepalive = false): boolean {
  if (call.program !== REMOTE) return false;
  switch (call.proc) {
    case 66: // auth list: [none]
      peer.reply(call, cat(u32(1), i32(0)));
      return true;
    case 60: // supports feature
      peer.reply(call, i32(keepalive ? 1 : 0));
      return true;
    case 1: // connect open
    case 2: // connect close
      peer.reply(call);
      return true;
    default:
      return false;
  }
}

export class FakeDaemon {
  readonly peers: Peer[] = [];
  private dir?: string;
  handler: Handler = (call, peer) => {
    handshake(call, peer);
  };

  private constructor(private readonly server: net.Server, readonly uri: string, readonly target: string) {}

  static async start(kind: 'unix' | 'tcp'): Promise<FakeDaemon> {
    const server = net.createServer();
    let daemon!: FakeDaemon;
    server.on('connection', (socket) => daemon.accept(socket));
    if (kind === 'unix') {
      const dir = mkdtempSync(join(tmpdir(), 'vb-fake-'));
      const path = join(dir, 'sock');
      await new Promise<void>((r) => server.listen(path, r));
      daemon = new FakeDaemon(server, `test+unix:///default?socket=${path}`, path);
      daemon.dir = dir;
    } else {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as net.AddressInfo).port;
      daemon = new FakeDaemon(server, `test+tcp://127.0.0.1:${port}/default`, `127.0.0.1:${port}`);
    }
    return daemon;
  }

  private accept(socket: net.Socket): void {
    const peer = new Peer(socket);
    this.peers.push(peer);
    let buf = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < len) break;
        const f = buf.subarray(0, len);
        buf = buf.subarray(len);
        const call: Call = {
          program: f.readUInt32BE(4), version: f.readUInt32BE(8), proc: f.readInt32BE(12), type: f.readInt32BE(16),
          serial: f.readUInt32BE(20), status: f.readInt32BE(24), body: Buffer.from(f.subarray(28)),
        };
        peer.calls.push(call);
        this.handler(call, peer);
      }
    });
  }

  /** Resolves when the client side of the newest connection has gone away. */
  peerClosed(peer: Peer): Promise<void> {
    return new Promise((r) => (peer.socket.destroyed || peer.socket.readableEnded ? r() : peer.socket.once('close', () => r())));
  }

  async stop(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
