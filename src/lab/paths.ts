// Where the lab keeps things. Images: <root>/images/<key>/; downloaded kernel packages:
// <root>/debs/; each guest's console log, workload socket and disk: <root>/guests/<name>/.
import { statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The lab's root directory: $VIRTBALANCE_LAB_DIR, else $XDG_CACHE_HOME/virtbalance/lab, else ~/.cache/virtbalance/lab. */
export function labRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VIRTBALANCE_LAB_DIR) return path.resolve(env.VIRTBALANCE_LAB_DIR);
  const cache = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(cache, 'virtbalance', 'lab');
}

export const imagesDir = (root: string) => path.join(root, 'images');
export const debsDir = (root: string) => path.join(root, 'debs');
export const guestsDir = (root: string) => path.join(root, 'guests');

export interface GuestFiles {
  dir: string;
  consoleLog: string;
  workloadSocket: string;
  /** The guest's disk: a sparse raw file (absent for a guest without one). */
  disk: string;
}

/** The files of the guest kept in `dir`. */
export function guestFilesIn(dir: string): GuestFiles {
  return {
    dir,
    consoleLog: path.join(dir, GUEST_FILE_NAMES.consoleLog),
    workloadSocket: path.join(dir, GUEST_FILE_NAMES.workloadSocket),
    disk: path.join(dir, GUEST_FILE_NAMES.disk),
  };
}

export const GUEST_FILE_NAMES = { consoleLog: 'console.log', workloadSocket: 'workload.sock', disk: 'disk.img' } as const;

export function guestFiles(root: string, name: string): GuestFiles {
  return guestFilesIn(path.join(guestsDir(root), name));
}

/** sun_path holds 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH = 107;

/** The repository's guest/ directory (sources of the in-guest program and init), seen from dist/src/lab/. */
export function guestSourceDir(): string {
  return fileURLToPath(new URL('../../../guest/', import.meta.url));
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (or its nearest existing parent). */
export function freeBytes(dir: string): number {
  let probe = dir;
  for (;;) {
    try {
      const s = statfsSync(probe);
      return s.bavail * s.bsize;
    } catch (err) {
      const parent = path.dirname(probe);
      if ((err as { code?: string }).code !== 'ENOENT' || parent === probe) throw err;
      probe = parent;
    }
  }
}
