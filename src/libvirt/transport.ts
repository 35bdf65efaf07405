// Byte streams to a libvirt daemon: a UNIX socket, a TCP socket, or ssh running a netcat helper remotely.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { LibvirtConnectError } from './errors.js';
import { describeTarget, sshArgs, type ConnectTarget } from './uri.js';

export interface Transport {
  stream: Duplex;
  /** Extra words for an error when the stream dies early (ssh's stderr). */
  diagnostics(): string;
  /**
   * Sockets read into one reused buffer instead of emitting 'data' (no allocation per read): the receiver
   * gets views that are valid only during its call. Absent for ssh, whose stream emits 'data'.
   */
  setReceiver?: (receive: (chunk: Buffer) => void) => void;
  /** ssh: resolves once the ssh process has exited (so all it said is in), or after `ms`. */
  exited?: (ms: number) => Promise<void>;
  /** ssh: what ssh said last on stderr, bare; '' when nothing. */
  sshSaid?: () => string;
}

const READ_BUFFER_BYTES = 256 * 1024;

function hintFor(t: ConnectTarget, code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return t.transport === 'tcp' ? 'is libvirtd running and listening on TCP (listen_tcp = 1, --listen)?' : 'is libvirtd running?';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: run as root or as a member of the group that owns the socket';
    case 'ETIMEDOUT':
      return 'no answer; is the host reachable and libvirtd running?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    default:
      return 'is libvirtd running?';
  }
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
};

function causeOf(err: NodeJS.ErrnoException): string {
  const words = err.code ? ERRNO_WORDS[err.code] : undefined;
  if (words) return `${words} (${err.code})`;
  const text = err.message.replace(/^connect /, '');
  return err.code && !text.startsWith(err.code) ? `${err.code}: ${text}` : text;
}

export function connectError(t: ConnectTarget, err: NodeJS.ErrnoException | Error, extra = ''): LibvirtConnectError {
  const code = (err as NodeJS.ErrnoException).code;
  const cause = causeOf(err as NodeJS.ErrnoException) + (extra ? `; ${extra}` : '');
  return new LibvirtConnectError(t.uri, describeTarget(t), cause, hintFor(t, code));
}

function openSocket(t: ConnectTarget, timeoutMs: number): Promise<Transport> {
  return new Promise((resolve, reject) => {
    let receive: (chunk: Buffer) => void = () => {};
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread = {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        receive((buf as Buffer).subarray(0, n));
        return true;
      },
    };
    const socket = t.transport === 'unix'
      ? net.createConnection({ path: t.socketPath, onread })
      : net.createConnection({ host: t.host!, port: t.port!, onread });
    const timer = setTimeout(() => {
      socket.destroy();
      const e = Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      reject(connectError(t, e));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(connectError(t, err));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve({ stream: socket, diagnostics: () => '', setReceiver: (r) => { receive = r; } });
    });
  });
}

function openSsh(t: ConnectTarget): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const child = spawn(t.sshCommand, sshArgs(t), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-2000);
    });
    const sshSaid = () => {
      const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
      return lines[lines.length - 1] ?? '';
    };
    const diagnostics = () => (sshSaid() ? `ssh said: ${sshSaid()}` : '');
    const gone = new Promise<void>((done) => child.once('exit', () => done()));
    const exited = (ms: number) => new Promise<void>((done) => {
      const timer = setTimeout(done, ms);
      void gone.then(() => {
        clearTimeout(timer);
        // stderr may still hold its last bytes after 'exit'; its 'close' comes right after.
        if (child.stderr.readableEnded) done();
        else child.stderr.once('close', () => done());
      });
    });
    child.once('error', (err) => reject(connectError(t, err)));
    child.once('spawn', () => {
      const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
      // Closing our side ends the ssh process too.
      stream.once('close', () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      });
      resolve({ stream, diagnostics, exited, sshSaid });
    });
  });
}

export function openTransport(t: ConnectTarget, timeoutMs: number): Promise<Transport> {
  return t.transport === 'ssh' ? openSsh(t) : openSocket(t, timeoutMs);
}
