// The server side of libvirt's remote protocol: listens on a UNIX socket (and/or loopback TCP), cuts
// frames with the same FrameAssembler, decodes each call's arguments with the procedure table in
// protocol.ts, hands them to a handler and encodes its result (or an error) back. Keepalive both ways.
// What the procedures mean is the handler's business (e.g. src/serve/ over the simulated host).
// A peer that breaks the protocol gets one error reply where one can be addressed, then is closed.
import { EventEmitter } from 'node:events';
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { Codec } from './codec.js';
import { LibvirtError, LibvirtProtocolError } from './errors.js';
import { beginPacket, endPacket, FrameAssembler, HEADER_BYTES, LENGTH_BYTES, MAX_PACKET_BYTES, readHeader } from './packet.js';
import {
  ErrorCode, ErrorDomain, ErrorLevel, KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, MessageStatus,
  MessageType, procedures, remoteError, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, type ArgsOf, type ProcedureName, type RetOf,
} from './protocol.js';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

const BODY = LENGTH_BYTES + HEADER_BYTES;
/** Calls allowed before CONNECT_OPEN, as libvirtd allows them. */
const BEFORE_OPEN = new Set<string>(['authList', 'authPolkit', 'connectSupportsFeature', 'connectOpen', 'connectClose']);

/** A reply encoded with another codec than the table's (same wire layout, e.g. typed parameters with chosen types). */
export class RawReply<T> {
  constructor(readonly codec: Codec<T>, readonly value: T) {}
}

export type Handler<N extends ProcedureName> = (args: ArgsOf<N>, session: ServerSession) => RetOf<N> | RawReply<unknown> | Promise<RetOf<N> | RawReply<unknown>>;
export type Handlers = { [N in ProcedureName]?: Handler<N> };

export interface ServerOptions {
  /** The procedures this server answers; every other call gets VIR_ERR_NO_SUPPORT. */
  handlers: Handlers;
  maxPacketBytes?: number;
  /** Seconds between our PINGs to an idle client that agreed to keepalive (libvirtd's keepalive_interval; default 5). */
  keepaliveIntervalSeconds?: number;
  /** Unanswered PINGs before the client is declared dead and closed (libvirtd's keepalive_count; default 5). */
  keepaliveCount?: number;
  /** Most clients served at once; more are refused (closed at once). */
  maxClients?: number;
}

export interface ServerEvents {
  /** Something a peer did wrong, or a handler failure worth a line in a log. */
  warning: [message: string];
  /** A call answered: procedure name (or number), and the error code when it failed. */
  call: [name: string, errorCode: number | undefined];
}

/** One client connection, as handlers see it. */
export class ServerSession {
  /** Set by CONNECT_OPEN: the name the client opened (e.g. `qemu:///system`). */
  openedName: string | null | undefined;
  readOnly = false;
  /** Whether the client asked whether we do keepalive (then it expects PINGs and may send them). */
  keepalive = false;
  readonly id: number;
  constructor(id: number) {
    this.id = id;
  }
}

/** Builds a libvirt error for an error reply: `code` is a virErrorNumber. */
export function serverError(code: number, message: string, domain: number = ErrorDomain.Remote): LibvirtError {
  return new LibvirtError(message, code, domain, ErrorLevel.Error, '');
}

const byNumber = new Map<number, { name: ProcedureName; args: Codec<unknown>; ret: Codec<unknown> }>();
for (const [name, p] of Object.entries(procedures)) byNumber.set(p.number, { name: name as ProcedureName, args: p.args as Codec<unknown>, ret: p.ret as Codec<unknown> });

export class LibvirtServer extends EventEmitter<ServerEvents> {
  private readonly servers: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  private nextSession = 1;
  private unixPath: string | undefined;

  constructor(readonly options: ServerOptions) {
    super();
  }

  get clientCount(): number {
    return this.connections.size;
  }

  /** Listens on a UNIX socket path (replacing a stale socket file); mode 0666 like libvirtd's read-write socket under a test. */
  async listenUnix(path: string): Promise<void> {
    rmSync(path, { force: true });
    await this.listen((s) => s.listen(path));
    this.unixPath = path;
    chmodSync(path, 0o666);
  }

  /** Listens on TCP; only loopback addresses are accepted. Returns the port (useful with port 0). */
  async listenTcp(host: string, port: number): Promise<number> {
    if (!isLoopback(host)) throw new Error(`--tcp ${host}:${port}: only a loopback address (127.0.0.1, ::1, localhost) may be served`);
    const server = await this.listen((s) => s.listen(port, host));
    return (server.address() as net.AddressInfo).port;
  }

  private listen(start: (s: net.Server) => void): Promise<net.Server> {
    const server = net.createServer((socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', (err) => this.emit('warning', `listener: ${err.message}`));
        resolve(server);
      });
      start(server);
    });
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= (this.options.maxClients ?? 1024)) {
      this.emit('warning', `refused a client: already serving ${this.connections.size}`);
      socket.destroy();
      return;
    }
    const c = new Connection(socket, new ServerSession(this.nextSession++), this);
    this.connections.add(c);
    socket.once('close', () => {
      c.stop();
      this.connections.delete(c);
    });
  }

  /** Stops listening and closes every client. */
  async close(): Promise<void> {
    for (const c of this.connections) c.end();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
    if (this.unixPath) rmSync(this.unixPath, { force: true });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

class Connection {
  private readonly assembler: FrameAssembler;
  private readonly out = new XdrWriter(16 * 1024);
  private lastInboundMs = Date.now();
  private unansweredPings = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly socket: net.Socket, private readonly session: ServerSession, private readonly server: LibvirtServer) {
    this.assembler = new FrameAssembler(server.options.maxPacketBytes ?? MAX_PACKET_BYTES);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Ends the connection after what was written has left; a peer that does not close its side is cut off. */
  end(): void {
    if (this.closed && this.socket.destroyed) return;
    this.stop();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastInboundMs = Date.now();
    this.unansweredPings = 0;
    try {
      this.assembler.push(chunk, (frame) => this.onFrame(frame));
    } catch (err) {
      this.protocolFailure(err);
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.closed) return;
    const { program, version, procedure, type, serial, status } = readHeader(frame);
    if (program === KEEPALIVE_PROGRAM) {
      if (version !== KEEPALIVE_VERSION || type !== MessageType.Message) throw new LibvirtProtocolError(`bad keepalive packet (version ${version}, type ${type})`);
      if (procedure === KEEPALIVE_PROC_PING) this.sendKeepalive(KEEPALIVE_PROC_PONG);
      else if (procedure !== KEEPALIVE_PROC_PONG) throw new LibvirtProtocolError(`bad keepalive procedure ${procedure}`);
      return;
    }
    if (program !== REMOTE_PROGRAM) {
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.Rpc, `cannot find program ${program} version ${version}`, ErrorDomain.Rpc));
      throw new LibvirtProtocolError(`unknown program 0x${program.toString(16)}`);
    }
    if (version !== REMOTE_PROTOCOL_VERSION) {
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.Rpc, `cannot find program ${program} version ${version}`, ErrorDomain.Rpc));
      throw new LibvirtProtocolError(`remote protocol version ${version}`);
    }
    if (type !== MessageType.Call || status !== MessageStatus.Ok) {
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.Rpc, `unexpected message type ${type} status ${status}`, ErrorDomain.Rpc));
      throw new LibvirtProtocolError(`unexpected message type ${type}, status ${status} (procedure ${procedure})`);
    }
    const spec = byNumber.get(procedure);
    const handler = spec ? (this.server.options.handlers[spec.name] as ((a: unknown, s: ServerSession) => unknown) | undefined) : undefined;
    if (!spec || !handler) {
      // libvirtd answers an unknown procedure with an error and carries on.
      this.server.emit('call', spec?.name ?? String(procedure), ErrorCode.NoSupport);
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.NoSupport, `this function is not supported by the connection driver: ${spec?.name ?? `remote procedure ${procedure}`}`, ErrorDomain.Rpc));
      return;
    }
    let args: unknown;
    try {
      const r = new XdrReader(frame, BODY);
      args = spec.args.dec(r);
      if (r.remaining !== 0) throw new XdrError(`${r.remaining} unexpected bytes after the arguments`);
    } catch (err) {
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.Rpc, `unable to decode the arguments of ${spec.name}: ${(err as Error).message}`, ErrorDomain.Rpc));
      throw new LibvirtProtocolError(`undecodable arguments to ${spec.name}: ${(err as Error).message}`);
    }
    if (this.session.openedName === undefined && !BEFORE_OPEN.has(spec.name)) {
      this.server.emit('call', spec.name, ErrorCode.InternalError);
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.InternalError, 'connection not open', ErrorDomain.Rpc));
      return;
    }
    if (spec.name === 'connectSupportsFeature') this.session.keepalive ||= (args as { feature: number }).feature === 10;
    void this.dispatch(spec, handler, args, program, version, procedure, serial);
  }

  private async dispatch(spec: { name: ProcedureName; ret: Codec<unknown> }, handler: (a: unknown, s: ServerSession) => unknown, args: unknown,
    program: number, version: number, procedure: number, serial: number): Promise<void> {
    let result: unknown;
    try {
      result = await handler(args, this.session);
    } catch (err) {
      const e = err instanceof LibvirtError ? err : serverError(ErrorCode.InternalError, (err as Error)?.message ?? String(err));
      this.server.emit('call', spec.name, e.code);
      this.replyError(program, version, procedure, serial, e);
      return;
    }
    if (this.closed) return;
    const w = this.out;
    const start = w.pos;
    try {
      const s = beginPacket(w, program, version, procedure, MessageType.Reply, serial, MessageStatus.Ok);
      if (result instanceof RawReply) result.codec.enc(w, result.value);
      else spec.ret.enc(w, result);
      endPacket(w, s);
    } catch (err) {
      w.pos = start;
      this.server.emit('warning', `cannot encode the reply to ${spec.name}: ${(err as Error).message}`);
      this.replyError(program, version, procedure, serial, serverError(ErrorCode.InternalError, `cannot encode the reply to ${spec.name}: ${(err as Error).message}`));
      return;
    }
    this.server.emit('call', spec.name, undefined);
    this.flush();
    if (spec.name === 'connectOpen') this.startKeepalive();
    if (spec.name === 'connectClose') this.end();
  }

  private replyError(program: number, version: number, procedure: number, serial: number, e: LibvirtError): void {
    if (this.closed) return;
    const w = this.out;
    const s = beginPacket(w, program, version, procedure, MessageType.Reply, serial, MessageStatus.Error);
    remoteError.enc(w, {
      code: e.code, domain: e.domain, message: e.message, level: e.level || ErrorLevel.Error, dom: null,
      str1: e.message, str2: null, str3: null, int1: -1, int2: -1, net: null,
    });
    endPacket(w, s);
    this.flush();
  }

  private sendKeepalive(proc: number): void {
    const w = this.out;
    const s = beginPacket(w, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, proc, MessageType.Message, 0, MessageStatus.Ok);
    endPacket(w, s);
    this.flush();
  }

  private flush(): void {
    if (this.out.pos === 0) return;
    if (!this.closed && !this.socket.destroyed) this.socket.write(this.out.toBuffer());
    this.out.reset();
  }

  // Like libvirtd: once a client that asked about keepalive is open, an idle one is pinged every
  // interval, and one that stays silent for `count` pings is closed.
  private startKeepalive(): void {
    if (!this.session.keepalive || this.timer) return;
    const intervalMs = (this.server.options.keepaliveIntervalSeconds ?? 5) * 1000;
    const count = this.server.options.keepaliveCount ?? 5;
    this.timer = setInterval(() => {
      if (Date.now() - this.lastInboundMs < intervalMs) return;
      if (this.unansweredPings >= count) {
        this.server.emit('warning', `client ${this.session.id}: no answer to ${count} keepalive pings, closing`);
        this.end();
        return;
      }
      this.unansweredPings++;
      this.sendKeepalive(KEEPALIVE_PROC_PING);
    }, Math.max(100, Math.floor(intervalMs / 2)));
    this.timer.unref();
  }

  private protocolFailure(err: unknown): void {
    this.server.emit('warning', `client ${this.session.id}: ${(err as Error)?.message ?? String(err)}; closing the connection`);
    this.flush();
    this.end();
  }
}
