// Runs the program being judged so that its libvirt connection reaches the served simulated host:
// LIBVIRT_DEFAULT_URI for programs that open the default (NULL) URI, and, as root, a private mount
// namespace in which the server's socket directory is bound over /var/run/libvirt, so a program that
// hard-codes qemu:///system reaches it too and cannot see the real daemon at all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const SYSTEM_SOCKET_DIR = '/var/run/libvirt';
/** The names libvirt's C library looks for in the socket directory (legacy daemon, modular QEMU daemon, read-only). */
const SOCKET_ALIASES = ['virtqemud-sock', 'libvirt-sock-ro', 'virtqemud-sock-ro'];

export interface JudgedProgram {
  child: ChildProcess;
  /** How its qemu:///system reaches the server, for the header line. */
  how: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  stop(): Promise<void>;
}

/** The socket the server must listen on inside `dir` (`libvirt-sock`), plus the aliases libvirt may look for. */
export function prepareSocketDir(dir: string): string {
  for (const alias of SOCKET_ALIASES) symlinkSync('libvirt-sock', join(dir, alias));
  return join(dir, 'libvirt-sock');
}

/** Whether a private mount namespace can put our socket at the system path: root, unshare, and the path exists. */
export function namespaceAvailable(): boolean {
  return process.getuid?.() === 0 && existsSync(SYSTEM_SOCKET_DIR) && spawnSync('unshare', ['--version']).status === 0;
}

export function startJudgedProgram(command: string[], socketDir: string, options: { namespace: boolean; log: (line: string) => void }): JudgedProgram {
  const socket = join(socketDir, 'libvirt-sock');
  // Our own drop-ins lock per libvirt URI; the judged one must not contend with a controller of the real host.
  const env = { ...process.env, LIBVIRT_DEFAULT_URI: `qemu+unix:///system?socket=${socket}`, VIRTBALANCE_LOCK_DIR: join(socketDir, 'locks') };
  let argv = command;
  let how = `LIBVIRT_DEFAULT_URI=${env.LIBVIRT_DEFAULT_URI}`;
  if (options.namespace) {
    // $0 is the socket directory; the program and its arguments follow as "$@".
    argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" ${SYSTEM_SOCKET_DIR} && exec "$@"`, socketDir, ...command];
    how += `, and qemu:///system (${SYSTEM_SOCKET_DIR} bound to the server in a private mount namespace)`;
  }
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const name = command[0]!.split('/').at(-1);
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => options.log(`[${name}] ${line}`));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => { done = true; });
  return {
    child,
    how,
    exited,
    async stop() {
      if (done || child.pid === undefined) return;
      // The whole process group: the program and anything it started (unshare's sh execs into it).
      const signalGroup = (sig: NodeJS.Signals) => { try { process.kill(-child.pid!, sig); } catch { /* already gone */ } };
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
