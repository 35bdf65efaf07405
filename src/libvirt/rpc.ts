// One RPC connection to libvirtd: frames calls, matches replies by serial (many calls in flight),
// answers keepalive pings, delivers events, and fails every pending call when the connection dies.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { LibvirtClosedError, LibvirtError, LibvirtProtocolError } from './errors.js';
import { beginPacket, endPacket, FrameAssembler, HEADER_BYTES, LENGTH_BYTES, MAX_PACKET_BYTES } from './packet.js';
import {
  eventMessages, KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, MessageStatus, MessageType,
  procedures, remoteError, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, type ArgsOf, type ProcedureName, type RetOf,
} from './protocol.js';
import type { Codec } from './codec.js';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

const BODY = LENGTH_BYTES + HEADER_BYTES;

export type CloseReason = 'closed' | 'eof' | 'error' | 'protocol';

export interface CloseInfo {
  reason: CloseReason;
  /** What broke the connection; absent after an orderly close. */
  error?: Error;
}

interface Pending {
  name: string;
  ret: Codec<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface RpcEvents {
  /** An asynchronous message from the daemon, decoded by `eventMessages`. */
  event: [name: string, body: unknown];
  close: [info: CloseInfo];
}

export interface RpcOptions {
  /** Used in error messages, e.g. the connection URI. */
  label: string;
  maxPacketBytes?: number;
  /** Extra words to add when the stream dies (e.g. ssh's stderr). */
  diagnostics?: () => string;
  /** Delivers incoming bytes as views into a reused buffer instead of the stream's 'data' events. */
  setReceiver?: (receive: (chunk: Buffer) => void) => void;
}

export class RpcConnection extends EventEmitter<RpcEvents> {
  private readonly pending = new Map<number, Pending>();
  private readonly assembler: FrameAssembler;
  private readonly out = new XdrWriter(16 * 1024);
  private flushScheduled = false;
  private serial = 0;
  private closeInfo: CloseInfo | undefined;
  /** Keepalive PINGs answered; visible for tests and diagnostics. */
  pingsAnswered = 0;
  /** When the daemon last sent anything (Date.now()), for a keepalive watchdog. */
  lastInboundMs = Date.now();

  constructor(private readonly stream: Duplex, private readonly options: RpcOptions) {
    super();
    this.assembler = new FrameAssembler(options.maxPacketBytes ?? MAX_PACKET_BYTES, options.setReceiver !== undefined);
    if (options.setReceiver) options.setReceiver(this.onData);
    else stream.on('data', this.onData);
    stream.on('end', () => this.fail('eof', new LibvirtClosedError(`${this.describe()}: the daemon closed the connection${this.extra()}`)));
    stream.on('error', (err: Error) => this.fail('error', new LibvirtClosedError(`${this.describe()}: connection lost: ${err.message}${this.extra()}`, err)));
    stream.on('close', () => this.fail('eof', new LibvirtClosedError(`${this.describe()}: the connection closed${this.extra()}`)));
  }

  get closed(): boolean {
    return this.closeInfo !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Calls a remote procedure from the table; resolves with its decoded result. */
  call<N extends ProcedureName>(name: N, ...args: ArgsOf<N> extends void ? [] : [ArgsOf<N>]): Promise<RetOf<N>> {
    const p = procedures[name] as unknown as { number: number; args: Codec<unknown>; ret: Codec<unknown> };
    return this.callRaw(name, p.number, p.args, args[0], p.ret) as Promise<RetOf<N>>;
  }

  /** Calls any procedure of the remote program with explicit codecs (tests, and calls not in the table). */
  callRaw<A, R>(name: string, procedure: number, argsCodec: Codec<A>, args: A, retCodec: Codec<R>): Promise<R> {
    if (this.closeInfo) return Promise.reject(this.closedError(name));
    const serial = this.serial = (this.serial + 1) >>> 0;
    const w = this.out;
    const start = w.pos;
    try {
      const s = beginPacket(w, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, procedure, MessageType.Call, serial, MessageStatus.Ok);
      argsCodec.enc(w, args);
      endPacket(w, s);
    } catch (err) {
      w.pos = start;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.scheduleFlush();
    return new Promise<R>((resolve, reject) => {
      this.pending.set(serial, { name, ret: retCodec as Codec<unknown>, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Orderly close: pending calls are rejected, the stream is ended. Idempotent. */
  close(): void {
    if (this.closeInfo) return;
    this.flush();
    this.fail('closed', undefined);
    this.stream.end();
  }

  /** Abrupt close with a cause (also used by the owner, e.g. on a call timeout). */
  destroy(error: Error): void {
    this.fail('error', error);
  }

  private describe(): string {
    return `connection to ${this.options.label}`;
  }

  private extra(): string {
    const d = this.options.diagnostics?.();
    return d ? ` (${d})` : '';
  }

  private closedError(name: string): LibvirtClosedError {
    const info = this.closeInfo!;
    if (info.error) return new LibvirtClosedError(`${name}: ${info.error.message}`, info.error);
    return new LibvirtClosedError(`${name}: ${this.describe()} is closed`);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Calls issued in the same tick leave as one write.
    process.nextTick(this.flush);
  }

  private flush = (): void => {
    this.flushScheduled = false;
    if (this.out.pos === 0 || this.closeInfo) {
      this.out.reset();
      return;
    }
    this.stream.write(this.out.toBuffer());
    this.out.reset();
  };

  private onData = (chunk: Buffer): void => {
    if (this.closeInfo) return;
    this.lastInboundMs = Date.now();
    try {
      this.assembler.push(chunk, this.onFrame);
    } catch (err) {
      this.failProtocol(err);
    }
  };

  private onFrame = (frame: Buffer): void => {
    if (this.closeInfo) return;
    const program = frame.readUInt32BE(4);
    const version = frame.readUInt32BE(8);
    const procedure = frame.readInt32BE(12);
    const type = frame.readInt32BE(16);
    const serial = frame.readUInt32BE(20);
    const status = frame.readInt32BE(24);
    if (program === REMOTE_PROGRAM) {
      if (version !== REMOTE_PROTOCOL_VERSION) throw new LibvirtProtocolError(`bad packet: remote protocol version ${version}, expected ${REMOTE_PROTOCOL_VERSION}`);
      if (type === MessageType.Reply) this.onReply(frame, procedure, serial, status);
      else if (type === MessageType.Message) this.onEvent(frame, procedure);
      else throw new LibvirtProtocolError(`bad packet: unexpected message type ${type} for procedure ${procedure}`);
    } else if (program === KEEPALIVE_PROGRAM) {
      if (version !== KEEPALIVE_VERSION) throw new LibvirtProtocolError(`bad packet: keepalive version ${version}`);
      if (procedure === KEEPALIVE_PROC_PING) this.sendPong();
      else if (procedure !== KEEPALIVE_PROC_PONG) throw new LibvirtProtocolError(`bad packet: keepalive procedure ${procedure}`);
    } else {
      throw new LibvirtProtocolError(`bad packet: unexpected program 0x${program.toString(16).padStart(8, '0')}`);
    }
  };

  private onReply(frame: Buffer, procedure: number, serial: number, status: number): void {
    const p = this.pending.get(serial);
    if (!p) throw new LibvirtProtocolError(`bad packet: reply to unknown serial ${serial} (procedure ${procedure})`);
    this.pending.delete(serial);
    const r = new XdrReader(frame, BODY);
    if (status === MessageStatus.Ok) {
      let value: unknown;
      try {
        value = p.ret.dec(r);
        if (r.remaining !== 0) throw new XdrError(`${r.remaining} unexpected bytes after the reply`);
      } catch (err) {
        const e = new LibvirtProtocolError(`bad reply to ${p.name}: ${(err as Error).message}`);
        p.reject(e);
        throw e;
      }
      p.resolve(value);
    } else if (status === MessageStatus.Error) {
      let e: ReturnType<typeof remoteError.dec>;
      try {
        e = remoteError.dec(r);
      } catch (err) {
        const pe = new LibvirtProtocolError(`bad error reply to ${p.name}: ${(err as Error).message}`);
        p.reject(pe);
        throw pe;
      }
      p.reject(new LibvirtError(e.message ?? `${p.name} failed (libvirt error ${e.code})`, e.code, e.domain, e.level, p.name));
    } else {
      const e = new LibvirtProtocolError(`bad packet: reply status ${status} to ${p.name}`);
      p.reject(e);
      throw e;
    }
  }

  private onEvent(frame: Buffer, procedure: number): void {
    const spec = (eventMessages as Record<number, { name: string; body: Codec<unknown> }>)[procedure];
    if (!spec) return; // an event we never asked for: ignore, as libvirt's client does
    let body: unknown;
    try {
      body = spec.body.dec(new XdrReader(frame, BODY));
    } catch (err) {
      throw new LibvirtProtocolError(`bad ${spec.name} event: ${(err as Error).message}`);
    }
    // Outside the frame loop: a listener that throws must not look like a protocol error.
    queueMicrotask(() => this.emit('event', spec.name, body));
  }

  private sendPong(): void {
    const w = this.out;
    const s = beginPacket(w, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PONG, MessageType.Message, 0, MessageStatus.Ok);
    endPacket(w, s);
    this.pingsAnswered++;
    this.scheduleFlush();
  }

  private failProtocol(err: unknown): void {
    const e = err instanceof LibvirtProtocolError || err instanceof XdrError
      ? new LibvirtProtocolError(`${this.describe()}: ${err.message}`, { cause: err })
      : new LibvirtProtocolError(`${this.describe()}: ${(err as Error)?.message ?? String(err)}`);
    this.fail('protocol', e);
  }

  private fail(reason: CloseReason, error: Error | undefined): void {
    if (this.closeInfo) return;
    this.closeInfo = error ? { reason, error } : { reason };
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(this.closedError(p.name));
    if (reason !== 'closed') this.stream.destroy();
    this.emit('close', this.closeInfo);
  }
}
