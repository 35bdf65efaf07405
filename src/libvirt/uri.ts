// Connection URIs, read the way libvirt's remote driver reads them:
//   driver[+transport]://[user@][host][:port]/path[?param=value&...]
// e.g. qemu:///system, test+unix:///default, qemu+tcp://host/system, qemu+ssh://user@host:2222/system?socket=/x
// A URI without host and transport goes to the local daemon's UNIX socket (so test:///default reaches the
// daemon's test driver, as test+unix:///default does).

export type TransportKind = 'unix' | 'tcp' | 'ssh';

export interface ConnectTarget {
  /** The URI as given. */
  uri: string;
  driver: string;
  transport: TransportKind;
  user?: string;
  host?: string;
  port?: number;
  /** UNIX socket: local path for `unix`, the remote daemon's path for `ssh`. */
  socketPath: string;
  /** The name sent in CONNECT_OPEN: the URI without transport, host and our own parameters. */
  openName: string;
  /** ssh only: program run on the remote host to reach its socket, e.g. `nc`. */
  netcat: string;
  /** ssh only: local ssh binary. */
  sshCommand: string;
  keyfile?: string;
  noVerify: boolean;
  noTty: boolean;
}

export const SYSTEM_SOCKET = '/var/run/libvirt/libvirt-sock';
export const DEFAULT_TCP_PORT = 16509;

/** Query parameters that steer the client and are not passed on to the daemon. */
const CLIENT_PARAMS = new Set(['name', 'socket', 'netcat', 'command', 'keyfile', 'no_verify', 'no_tty', 'known_hosts', 'known_hosts_verify', 'sshauth', 'mode', 'proxy', 'pkipath', 'tls_priority', 'auth']);

export class UriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UriError';
  }
}

function sessionSocket(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime) return `${runtime}/libvirt/libvirt-sock`;
  return `${process.env.HOME ?? ''}/.cache/libvirt/libvirt-sock`;
}

export function parseUri(uri: string): ConnectTarget {
  const m = /^([A-Za-z][A-Za-z0-9-]*)(?:\+([A-Za-z0-9-]+))?:\/\/(.*)$/.exec(uri);
  if (!m) throw new UriError(`invalid libvirt URI '${uri}' (expected e.g. qemu:///system or qemu+ssh://user@host/system)`);
  const driver = m[1]!.toLowerCase();
  const explicit = m[2]?.toLowerCase();
  let url: URL;
  try {
    // Parse under a neutral scheme so the WHATWG parser treats the authority the same for every driver.
    url = new URL(`x-libvirt://${m[3]!}`);
  } catch {
    throw new UriError(`invalid libvirt URI '${uri}'`);
  }
  const host = url.hostname ? url.hostname.replace(/^\[(.*)\]$/, '$1') : undefined;
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const port = url.port ? Number(url.port) : undefined;
  let transport: TransportKind;
  switch (explicit) {
    case undefined:
      if (host) throw new UriError(`URI '${uri}' names a host but no transport; TLS is not supported, use ${driver}+ssh:// or ${driver}+tcp://`);
      transport = 'unix';
      break;
    case 'unix':
    case 'tcp':
    case 'ssh':
      transport = explicit;
      break;
    case 'libssh':
    case 'libssh2':
      transport = 'ssh';
      break;
    default:
      throw new UriError(`URI '${uri}': transport '${explicit}' is not supported (use unix, tcp or ssh)`);
  }
  if (transport === 'unix' && host) throw new UriError(`URI '${uri}': a unix transport cannot name a host`);
  if ((transport === 'tcp' || transport === 'ssh') && !host) throw new UriError(`URI '${uri}': transport ${transport} needs a host`);

  const params = url.searchParams;
  const path = decodeURIComponent(url.pathname);
  const socketPath = params.get('socket') ?? (path === '/session' ? sessionSocket() : SYSTEM_SOCKET);

  const kept = new URLSearchParams();
  for (const [k, v] of params) if (!CLIENT_PARAMS.has(k)) kept.append(k, v);
  const query = kept.toString();
  const openName = params.get('name') ?? (driver === 'remote' ? '' : `${driver}://${path}${query ? `?${query}` : ''}`);

  return {
    uri,
    driver,
    transport,
    ...(user !== undefined ? { user } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(transport === 'tcp' ? { port: port ?? DEFAULT_TCP_PORT } : port !== undefined ? { port } : {}),
    socketPath,
    openName,
    netcat: params.get('netcat') ?? 'nc',
    sshCommand: params.get('command') ?? 'ssh',
    ...(params.get('keyfile') ? { keyfile: params.get('keyfile')! } : {}),
    noVerify: params.get('no_verify') === '1',
    noTty: params.get('no_tty') === '1',
  };
}

/** A shell word: the remote side of ssh runs our command through its shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.,:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The ssh argv (after the binary) that runs the remote netcat helper against the daemon's socket. */
export function sshArgs(t: ConnectTarget): string[] {
  const args: string[] = [];
  if (t.port !== undefined) args.push('-p', String(t.port));
  if (t.user !== undefined) args.push('-l', t.user);
  if (t.keyfile) args.push('-i', t.keyfile);
  if (t.noVerify) args.push('-o', 'StrictHostKeyChecking=no');
  if (t.noTty) args.push('-o', 'BatchMode=yes');
  args.push('-T', '-e', 'none', '--', t.host!, `${t.netcat} -U ${shellQuote(t.socketPath)}`);
  return args;
}

/** Where a target points, for messages: the socket path, host:port, or the ssh command. */
export function describeTarget(t: ConnectTarget): string {
  switch (t.transport) {
    case 'unix':
      return `socket ${t.socketPath}`;
    case 'tcp':
      return `tcp ${t.host!.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    case 'ssh':
      return `ssh ${t.user ? `${t.user}@` : ''}${t.host}${t.port !== undefined ? `:${t.port}` : ''} to socket ${t.socketPath}`;
  }
}
