// A guest's page cache as Linux keeps it, in 1 MiB chunks of file data.
//
// Read data enters the cache while the guest has room; clean cache is dropped before anything
// else when the guest needs memory (its anonymous use grows, the balloon inflates, or newer reads
// need room). Like Linux's two LRU lists, data read once sits on the inactive list and data read
// again is promoted to the active list; the inactive list's least recently used chunk goes first,
// so a one-time scan pushes out older cache but not a hot set that is being re-read. Re-reading a
// dropped chunk is a refault: a disk read, and time the reader waits for it.

import type { ReadSpec } from './scenario.js';

export const CHUNK_KIB = 1024;
/** Pages of 4 KiB per KiB read: one major fault per page read from disk. */
const PAGES_PER_KIB = 1 / 4;
const NONE = -1;
const NOT_CACHED = 0;
const INACTIVE = 1;
const ACTIVE = 2;

/** What the cache did since the last take(), for the ground truth. */
export interface CacheTally {
  /** Data re-read from disk after it had been dropped, KiB. */
  refaultKiB: number;
  /** The part of refaultKiB whose drop the balloon forced (the coordinator's shrinks), KiB. */
  coordinatorRefaultKiB: number;
  /** Time readers waited for the disk to read back refaulted data beyond their own pace, s. */
  readStallSeconds: number;
  /** ∫ cold cache dt, KiB·s. */
  coldKiBSeconds: number;
  /** Cache dropped, KiB, and how much of it the balloon forced. */
  droppedKiB: number;
  droppedByBalloonKiB: number;
}

interface Stream {
  spec: ReadSpec;
  first: number;
  chunks: number;
  /** Index of the chunk being read within the source, or chunks when no pass is running. */
  cursor: number;
  /** Fraction of the current chunk done. */
  progress: number;
  /** Whether the current chunk comes from disk, is a refault, and its drop's balloon share. */
  miss: boolean;
  refault: boolean;
  blame: number;
  /** When the next pass may start, s; Infinity when none will. */
  nextPassSeconds: number;
}

function emptyTally(): CacheTally {
  return { refaultKiB: 0, coordinatorRefaultKiB: 0, readStallSeconds: 0, coldKiBSeconds: 0, droppedKiB: 0, droppedByBalloonKiB: 0 };
}

export class PageCache {
  /** KiB of file data in the cache. */
  cachedKiB = 0;
  /** Bytes read from the disk since boot (what the host sees as the disk's rd.bytes). */
  diskReadBytes = 0;
  /** Pages read from disk since boot. */
  majorFaults = 0;
  tally: CacheTally = emptyTally();

  private readonly sizeKiB: Float64Array;
  private readonly state: Uint8Array;
  /** Read at least once before (so reading it from disk again is a refault). */
  private readonly everRead: Uint8Array;
  /** Share of the chunk's last drop the balloon forced, 0..1. */
  private readonly blame: Float32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly heads = [NONE, NONE, NONE];
  private readonly tails = [NONE, NONE, NONE];
  private readonly streams: Stream[] = [];
  /** Cached KiB per stream that counts as hot right now. */
  private readonly streamCachedKiB: Float64Array;
  private readonly streamOf: Int32Array;

  /**
   * @param initialKiB cache the guest holds at boot (data read before the scenario, never re-read)
   * @param roomKiB what the guest can give it at boot
   */
  constructor(reads: readonly ReadSpec[], initialKiB: number, roomKiB: number, private readonly diskMiBps: number) {
    const initialChunks = Math.ceil(initialKiB / CHUNK_KIB);
    let total = initialChunks;
    for (const spec of reads) {
      const chunks = Math.ceil((spec.sizeMiB * 1024) / CHUNK_KIB);
      this.streams.push({ spec, first: total, chunks, cursor: chunks, progress: 0, miss: false, refault: false, blame: 0, nextPassSeconds: spec.atSeconds });
      total += chunks;
    }
    this.sizeKiB = new Float64Array(total);
    this.state = new Uint8Array(total);
    this.everRead = new Uint8Array(total);
    this.blame = new Float32Array(total);
    this.prev = new Int32Array(total).fill(NONE);
    this.next = new Int32Array(total).fill(NONE);
    this.streamOf = new Int32Array(total).fill(NONE);
    this.streamCachedKiB = new Float64Array(this.streams.length);
    for (let c = 0; c < initialChunks; c++) this.sizeKiB[c] = Math.min(CHUNK_KIB, initialKiB - c * CHUNK_KIB);
    this.streams.forEach((s, k) => {
      const sourceKiB = s.spec.sizeMiB * 1024;
      for (let i = 0; i < s.chunks; i++) {
        this.sizeKiB[s.first + i] = Math.min(CHUNK_KIB, sourceKiB - i * CHUNK_KIB);
        this.streamOf[s.first + i] = k;
      }
    });
    // Boot-time cache fills what room there is, oldest first, and counts as read before.
    let room = roomKiB;
    for (let c = 0; c < initialChunks; c++) {
      this.everRead[c] = 1;
      if (this.sizeKiB[c]! > room) continue;
      room -= this.sizeKiB[c]!;
      this.insert(c, INACTIVE);
    }
  }

  /** Whether any read is still to come (the cache can only shrink otherwise). */
  get reading(): boolean {
    return this.streams.some((s) => s.cursor < s.chunks || Number.isFinite(s.nextPassSeconds));
  }

  /** Cache of hot sets that are still being re-read, KiB. */
  hotKiB(tSeconds: number): number {
    let hot = 0;
    this.streams.forEach((s, k) => {
      if (this.isHot(s, tSeconds)) hot += this.streamCachedKiB[k]!;
    });
    return hot;
  }

  private isHot(s: Stream, tSeconds: number): boolean {
    return s.spec.kind === 'hot' && (s.spec.untilSeconds === null || tSeconds < s.spec.untilSeconds);
  }

  /** Drops least recently used cache until at most `limitKiB` is left; `balloonKiB` of the drop is the balloon's doing. */
  shrinkTo(limitKiB: number, balloonKiB: number): void {
    let blameLeft = Math.max(0, balloonKiB);
    while (this.cachedKiB > limitKiB + 1e-9) {
      const victim = this.heads[INACTIVE] !== NONE ? this.heads[INACTIVE]! : this.heads[ACTIVE]!;
      if (victim === NONE) break;
      const size = this.sizeKiB[victim]!;
      const share = Math.min(1, blameLeft / size);
      blameLeft -= share * size;
      this.blame[victim] = share;
      this.tally.droppedKiB += size;
      this.tally.droppedByBalloonKiB += share * size;
      this.remove(victim);
    }
  }

  /**
   * Moves every reader on by dtSeconds ending at tSeconds. `freeKiB()` is what the guest has
   * free at the moment (its actual size minus anonymous use minus cache).
   */
  read(tStartSeconds: number, dtSeconds: number, freeKiB: () => number): void {
    for (let k = 0; k < this.streams.length; k++) {
      const s = this.streams[k]!;
      let t = tStartSeconds;
      const end = tStartSeconds + dtSeconds;
      while (t < end - 1e-12) {
        if (s.cursor >= s.chunks) {
          if (s.nextPassSeconds >= end) break;
          t = Math.max(t, s.nextPassSeconds);
          this.startPass(s, t);
          continue;
        }
        const c = s.first + s.cursor;
        if (s.progress === 0) this.beginChunk(s, c, freeKiB);
        const rate = s.spec.rateMiBps * 1024;
        const paceSecondsPerKiB = 1 / rate;
        const secondsPerKiB = s.miss ? Math.max(paceSecondsPerKiB, 1 / (this.diskMiBps * 1024)) : paceSecondsPerKiB;
        const leftKiB = this.sizeKiB[c]! * (1 - s.progress);
        const doneKiB = Math.min(leftKiB, (end - t) / secondsPerKiB);
        t += doneKiB * secondsPerKiB;
        if (s.miss) {
          this.diskReadBytes += doneKiB * 1024;
          this.majorFaults += doneKiB * PAGES_PER_KIB;
          if (s.refault) {
            this.tally.refaultKiB += doneKiB;
            this.tally.coordinatorRefaultKiB += doneKiB * s.blame;
            this.tally.readStallSeconds += doneKiB * (secondsPerKiB - paceSecondsPerKiB);
          }
        }
        if (doneKiB >= leftKiB - 1e-9) {
          s.progress = 0;
          s.cursor++;
          if (s.cursor >= s.chunks) this.endPass(s, t);
        } else {
          s.progress += doneKiB / this.sizeKiB[c]!;
        }
      }
    }
  }

  /** Adds the cold cache held over dt to the tally (after the step's reads and drops). */
  accountCold(tSeconds: number, dtSeconds: number): void {
    this.tally.coldKiBSeconds += (this.cachedKiB - this.hotKiB(tSeconds)) * dtSeconds;
  }

  take(): CacheTally {
    const t = this.tally;
    this.tally = emptyTally();
    return t;
  }

  private startPass(s: Stream, t: number): void {
    s.cursor = 0;
    s.progress = 0;
    const every = s.spec.kind === 'hot' ? s.spec.everySeconds : Infinity;
    let next = s.nextPassSeconds + every;
    // A pass that runs late starts the next one when it ends (see endPass), never two at once.
    if (next <= t) next = t;
    s.nextPassSeconds = next;
  }

  private endPass(s: Stream, t: number): void {
    if (s.spec.kind !== 'hot') {
      s.nextPassSeconds = Infinity;
      return;
    }
    if (s.nextPassSeconds < t) s.nextPassSeconds = t;
    if (s.spec.untilSeconds !== null && s.nextPassSeconds >= s.spec.untilSeconds) s.nextPassSeconds = Infinity;
  }

  private beginChunk(s: Stream, c: number, freeKiB: () => number): void {
    if (this.state[c] !== NOT_CACHED) {
      s.miss = false;
      s.refault = false;
      // Read again while cached: it is part of the working set now.
      this.remove(c);
      this.insert(c, ACTIVE);
      return;
    }
    s.miss = true;
    s.refault = this.everRead[c] === 1;
    s.blame = s.refault ? this.blame[c]! : 0;
    this.everRead[c] = 1;
    this.blame[c] = 0;
    const size = this.sizeKiB[c]!;
    const short = size - freeKiB();
    // Newer reads push out the least recently used cache (the guest's own pressure, not the balloon's).
    if (short > 0) this.shrinkTo(this.cachedKiB - short, 0);
    if (freeKiB() >= size - 1e-9) this.insert(c, s.refault ? ACTIVE : INACTIVE);
  }

  private insert(c: number, list: number): void {
    this.state[c] = list;
    const tail = this.tails[list]!;
    this.prev[c] = tail;
    this.next[c] = NONE;
    if (tail === NONE) this.heads[list] = c;
    else this.next[tail] = c;
    this.tails[list] = c;
    this.cachedKiB += this.sizeKiB[c]!;
    const k = this.streamOf[c]!;
    if (k !== NONE) this.streamCachedKiB[k] = this.streamCachedKiB[k]! + this.sizeKiB[c]!;
  }

  private remove(c: number): void {
    const list = this.state[c]!;
    const p = this.prev[c]!;
    const n = this.next[c]!;
    if (p === NONE) this.heads[list] = n;
    else this.next[p] = n;
    if (n === NONE) this.tails[list] = p;
    else this.prev[n] = p;
    this.prev[c] = NONE;
    this.next[c] = NONE;
    this.state[c] = NOT_CACHED;
    this.cachedKiB -= this.sizeKiB[c]!;
    if (this.cachedKiB < 1e-6) this.cachedKiB = 0;
    const k = this.streamOf[c]!;
    if (k !== NONE) this.streamCachedKiB[k] = this.streamCachedKiB[k]! - this.sizeKiB[c]!;
  }
}
