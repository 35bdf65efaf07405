// One open connection to a libvirt daemon: transport, handshake (auth, keepalive feature, CONNECT_OPEN),
// the keepalive watchdog, orderly close, lifecycle events, and a typed generic call for every procedure
// of the table in protocol.ts. Wrappers that add meaning to calls live in client.ts.
import { EventEmitter } from 'node:events';
import { LibvirtClosedError, LibvirtConnectError, LibvirtError } from './errors.js';
import {
  AuthType, ErrorCode, ErrorDomain, ErrorLevel, FEATURE_PROGRAM_KEEPALIVE, LIFECYCLE_EVENTS,
  type ArgsOf, type Domain, type LifecycleMsg, type ProcedureName, type RetOf,
} from './protocol.js';
import { RpcConnection, type CloseInfo } from './rpc.js';
import { connectError, openTransport } from './transport.js';
import { foreignPeerIn } from './foreign-peer.js';
import { describeTarget, parseUri, type ConnectTarget } from './uri.js';

export interface LifecycleEvent {
  callbackId: number;
  domain: Domain;
  event: (typeof LIFECYCLE_EVENTS)[number] | 'unknown';
  eventCode: number;
  detail: number;
}

export interface ConnectOptions {
  /** Time allowed to reach the daemon and open the connection, ms (default 10 s). */
  timeoutMs?: number;
  readOnly?: boolean;
  /** Declares the connection dead after this long without a byte from the daemon while it keeps alive (default 30 s). */
  deadAfterMs?: number;
}

export interface ClientEvents {
  lifecycle: [event: LifecycleEvent];
  close: [info: CloseInfo];
}

type Make<T> = (uri: string, target: ConnectTarget, rpc: RpcConnection) => T;

export class LibvirtConnection extends EventEmitter<ClientEvents> {
  private watchdog: NodeJS.Timeout | undefined;

  protected constructor(readonly uri: string, readonly target: ConnectTarget, readonly rpc: RpcConnection) {
    super();
    rpc.on('event', (name, body) => {
      if (name === 'lifecycle') {
        const m = body as LifecycleMsg;
        this.emit('lifecycle', {
          callbackId: m.callbackID,
          domain: m.msg.dom,
          event: LIFECYCLE_EVENTS[m.msg.event] ?? 'unknown',
          eventCode: m.msg.event,
          detail: m.msg.detail,
        });
      }
    });
    rpc.on('close', (info) => {
      if (this.watchdog) clearInterval(this.watchdog);
      this.emit('close', info);
    });
  }

  /** Opens a connection: transport, authentication (none or polkit), keepalive, CONNECT_OPEN. */
  static async connect(uri: string, options: ConnectOptions = {}): Promise<LibvirtConnection> {
    return LibvirtConnection.establish(uri, options, (u, t, r) => new LibvirtConnection(u, t, r));
  }

  protected static async establish<T extends LibvirtConnection>(uri: string, options: ConnectOptions, make: Make<T>): Promise<T> {
    const target = parseUri(uri);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const transport = await openTransport(target, timeoutMs);
    const rpc = new RpcConnection(transport.stream, {
      label: uri,
      diagnostics: transport.diagnostics,
      ...(transport.setReceiver ? { setReceiver: transport.setReceiver } : {}),
    });
    const connection = make(uri, target, rpc);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LibvirtConnectError(uri, describeTarget(target), `no answer within ${timeoutMs} ms`, 'is libvirtd running and responsive?')), timeoutMs);
    });
    try {
      await Promise.race([connection.handshake(options), timeout]);
    } catch (err) {
      rpc.destroy(err as Error);
      if (err instanceof LibvirtConnectError) throw err;
      const foreign = foreignPeerIn(err);
      if (foreign) {
        const said = foreign.said ? ` (it said '${foreign.said}')` : '';
        const hint = target.transport === 'tcp' ? 'is that libvirtd\'s port (16509 unless configured otherwise)?' : 'is that libvirtd\'s socket?';
        throw new LibvirtConnectError(uri, describeTarget(target), `the peer there answered in ${foreign.protocol}, not libvirt's protocol${said}`, hint);
      }
      if (err instanceof LibvirtClosedError && transport.exited) {
        // Over ssh, a closed stream usually means ssh itself failed (unknown host, refused key):
        // wait for what it said and report that once, not a guess about libvirtd.
        await transport.exited(2_000);
        const said = transport.sshSaid?.() ?? '';
        if (said) throw new LibvirtConnectError(uri, describeTarget(target), `ssh failed: ${said}`, 'check that plain `ssh` to that host works (host name, keys, known_hosts)');
        throw new LibvirtConnectError(uri, describeTarget(target), 'the remote end closed the connection', 'is libvirtd running there, and is the socket path right?');
      }
      if (err instanceof LibvirtClosedError) throw connectError(target, err, transport.diagnostics());
      if (err instanceof LibvirtError) throw new LibvirtConnectError(uri, describeTarget(target), err.message, '');
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return connection;
  }

  private async handshake(options: ConnectOptions): Promise<void> {
    const { types } = await this.rpc.call('authList');
    if (types.length > 0 && !types.includes(AuthType.None)) {
      if (types.includes(AuthType.Polkit)) {
        const { complete } = await this.rpc.call('authPolkit');
        if (!complete) throw new LibvirtError('polkit authentication did not complete', ErrorCode.AuthFailed, ErrorDomain.None, ErrorLevel.Error, 'authPolkit');
      } else {
        throw new LibvirtError(`the daemon requires authentication this client does not support (auth types ${types.join(', ')}; only none and polkit are)`, ErrorCode.AuthFailed, ErrorDomain.None, ErrorLevel.Error, 'authList');
      }
    }
    const { supported } = await this.rpc.call('connectSupportsFeature', { feature: FEATURE_PROGRAM_KEEPALIVE });
    await this.rpc.call('connectOpen', { name: this.target.openName, flags: options.readOnly ? 1 : 0 });
    if (supported) this.startWatchdog(options.deadAfterMs ?? 30_000);
  }

  // The daemon pings an idle client every few seconds once keepalive is agreed; long silence means it is gone.
  // Armed only after a first PING, since a daemon configured without keepalive never sends one.
  private startWatchdog(deadAfterMs: number): void {
    this.watchdog = setInterval(() => {
      if (this.rpc.pingsAnswered > 0 && Date.now() - this.rpc.lastInboundMs > deadAfterMs) this.rpc.destroy(new LibvirtClosedError(`connection to ${this.uri}: no data from the daemon for ${Math.round(deadAfterMs / 1000)} s (keepalive)`));
    }, Math.min(5_000, deadAfterMs));
    this.watchdog.unref();
  }

  get closed(): boolean {
    return this.rpc.closed;
  }

  /** Calls any procedure of the table by name, typed from it: `call('domainLookupByName', { name })`. */
  call<N extends ProcedureName>(name: N, ...args: ArgsOf<N> extends void ? [] : [ArgsOf<N>]): Promise<RetOf<N>> {
    return this.rpc.call(name, ...args);
  }

  /** Orderly close: tells the daemon, then ends the stream. Pending calls are rejected. */
  async close(): Promise<void> {
    if (this.rpc.closed) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.rpc.call('connectClose'), new Promise((r) => { timer = setTimeout(r, 2_000); })]);
    } catch {
      // closing anyway
    } finally {
      clearTimeout(timer);
    }
    this.rpc.close();
  }
}
