// A guest's page cache as Linux keeps it, in 1 MiB chunks of file data.
//
// Read data enters the cache while the guest has room; clean cache is dropped before anything
// else when the guest needs memory (its anonymous use grows, the balloon inflates, or newer reads
// need room). Like Linux's two LRU lists, data read once sits on the inactive list and data read
// again is promoted to the active list; the inactive list's least recently used chunk goes first,
// so a one-time scan pushes out older cache but not a hot set that is being re-read. Re-reading a
// dropped chunk is a refault: a disk read, and time the reader waits for it.
//
// Which refaults the coordinator caused is decided against a shadow of the same cache: the same
// reads and the same anonymous use, but as much memory as the balloon ever gave the guest so far.
// A refault of data the shadow still holds would not have happened had the balloon not been
// inflated below that size.

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
  /** The part of refaultKiB the shadow with the balloon's largest size so far still held, KiB. */
  coordinatorRefaultKiB: number;
  /** Time readers waited for the disk to read back refaulted data beyond their own pace, s. */
  readStallSeconds: number;
  /** ∫ cold cache dt, KiB·s. */
  coldKiBSeconds: number;
  /** Cache dropped, KiB. */
  droppedKiB: number;
}

function emptyTally(): CacheTally {
  return { refaultKiB: 0, coordinatorRefaultKiB: 0, readStallSeconds: 0, coldKiBSeconds: 0, droppedKiB: 0 };
}

/** Which chunks are cached, on Linux's inactive and active lists, least recently used first. */
class ChunkLists {
  cachedKiB = 0;
  private readonly state: Uint8Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly heads = [NONE, NONE, NONE];
  private readonly tails = [NONE, NONE, NONE];

  constructor(private readonly sizeKiB: Float64Array) {
    this.state = new Uint8Array(sizeKiB.length);
    this.prev = new Int32Array(sizeKiB.length).fill(NONE);
    this.next = new Int32Array(sizeKiB.length).fill(NONE);
  }

  has(c: number): boolean {
    return this.state[c] !== NOT_CACHED;
  }

  /** Marks a cached chunk used again: it is part of the working set now (active, most recent). */
  touch(c: number): void {
    this.unlink(c);
    this.link(c, ACTIVE);
  }

  /** Caches a chunk if `roomKiB` (free memory) allows after dropping older cache; returns the KiB dropped. */
  add(c: number, list: number, roomKiB: number): { cached: boolean; droppedKiB: number } {
    const size = this.sizeKiB[c]!;
    const before = this.cachedKiB;
    if (size > roomKiB) this.shrinkTo(this.cachedKiB - (size - roomKiB));
    const droppedKiB = before - this.cachedKiB;
    if (size > roomKiB + droppedKiB + 1e-9) return { cached: false, droppedKiB };
    this.link(c, list);
    return { cached: true, droppedKiB };
  }

  /** Drops least recently used chunks, inactive list first, until at most `limitKiB` is cached; returns the KiB dropped. */
  shrinkTo(limitKiB: number): number {
    const before = this.cachedKiB;
    while (this.cachedKiB > limitKiB + 1e-9) {
      const victim = this.heads[INACTIVE] !== NONE ? this.heads[INACTIVE]! : this.heads[ACTIVE]!;
      if (victim === NONE) break;
      this.unlink(victim);
    }
    return before - this.cachedKiB;
  }

  private link(c: number, list: number): void {
    this.state[c] = list;
    const tail = this.tails[list]!;
    this.prev[c] = tail;
    this.next[c] = NONE;
    if (tail === NONE) this.heads[list] = c;
    else this.next[tail] = c;
    this.tails[list] = c;
    this.cachedKiB += this.sizeKiB[c]!;
  }

  private unlink(c: number): void {
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
  }
}

interface Stream {
  spec: ReadSpec;
  first: number;
  chunks: number;
  /** Index of the chunk being read within the source, or chunks when no pass is running. */
  cursor: number;
  /** Fraction of the current chunk done. */
  progress: number;
  /** Whether the current chunk comes from disk, is a refault, and one the coordinator caused. */
  miss: boolean;
  refault: boolean;
  coordinators: boolean;
  /** When the next pass may start, s; Infinity when none will. */
  nextPassSeconds: number;
}

export class PageCache {
  /** Bytes read from the disk since boot (what the host sees as the disk's rd.bytes). */
  diskReadBytes = 0;
  /** Pages read from disk since boot. */
  majorFaults = 0;
  tally: CacheTally = emptyTally();

  private readonly sizeKiB: Float64Array;
  private readonly real: ChunkLists;
  /** The same cache with the most memory the balloon has given the guest so far. */
  private readonly shadow: ChunkLists;
  private actualKiB: number;
  private largestActualKiB: number;
  private anonKiB: number;
  /** Read at least once before (so reading it from disk again is a refault). */
  private readonly everRead: Uint8Array;
  private readonly streams: Stream[] = [];
  private readonly streamOf: Int32Array;

  /**
   * @param initialKiB cache the guest holds at boot (data read before the scenario, never re-read)
   * @param actualKiB, anonKiB the guest's balloon and anonymous use at boot
   */
  constructor(reads: readonly ReadSpec[], initialKiB: number, actualKiB: number, anonKiB: number, private readonly diskMiBps: number) {
    this.actualKiB = actualKiB;
    this.largestActualKiB = actualKiB;
    this.anonKiB = anonKiB;
    const initialChunks = Math.ceil(initialKiB / CHUNK_KIB);
    let total = initialChunks;
    for (const spec of reads) {
      const chunks = Math.ceil((spec.sizeMiB * 1024) / CHUNK_KIB);
      this.streams.push({ spec, first: total, chunks, cursor: chunks, progress: 0, miss: false, refault: false, coordinators: false, nextPassSeconds: spec.atSeconds });
      total += chunks;
    }
    this.sizeKiB = new Float64Array(total);
    this.everRead = new Uint8Array(total);
    this.streamOf = new Int32Array(total).fill(NONE);
    for (let c = 0; c < initialChunks; c++) this.sizeKiB[c] = Math.min(CHUNK_KIB, initialKiB - c * CHUNK_KIB);
    this.streams.forEach((s, k) => {
      const sourceKiB = s.spec.sizeMiB * 1024;
      for (let i = 0; i < s.chunks; i++) {
        this.sizeKiB[s.first + i] = Math.min(CHUNK_KIB, sourceKiB - i * CHUNK_KIB);
        this.streamOf[s.first + i] = k;
      }
    });
    this.real = new ChunkLists(this.sizeKiB);
    this.shadow = new ChunkLists(this.sizeKiB);
    // Boot-time cache fills what room there is, oldest first, and counts as read before.
    for (let c = 0; c < initialChunks; c++) {
      this.everRead[c] = 1;
      const size = this.sizeKiB[c]!;
      if (size > this.realRoomKiB()) continue;
      this.real.add(c, INACTIVE, this.realRoomKiB());
      this.shadow.add(c, INACTIVE, this.shadowRoomKiB());
    }
  }

  /** KiB of file data in the cache. */
  get cachedKiB(): number {
    return this.real.cachedKiB;
  }

  /** Whether any read is still to come (the cache can only shrink otherwise). */
  get reading(): boolean {
    return this.streams.some((s) => s.cursor < s.chunks || Number.isFinite(s.nextPassSeconds));
  }

  /** Cache of hot sets that are still being re-read, KiB. */
  hotKiB(tSeconds: number): number {
    let hot = 0;
    for (const s of this.streams) {
      if (s.spec.kind !== 'hot' || (s.spec.untilSeconds !== null && tSeconds >= s.spec.untilSeconds)) continue;
      for (let c = s.first; c < s.first + s.chunks; c++) if (this.real.has(c)) hot += this.sizeKiB[c]!;
    }
    return hot;
  }

  /**
   * The guest's memory changed: its balloon is `actualKiB` and its anonymous use `anonKiB`.
   * Cache beyond what is left is dropped, least recently used first.
   */
  fit(actualKiB: number, anonKiB: number): void {
    this.actualKiB = actualKiB;
    this.largestActualKiB = Math.max(this.largestActualKiB, actualKiB);
    this.anonKiB = anonKiB;
    this.tally.droppedKiB += this.real.shrinkTo(Math.max(0, actualKiB - anonKiB));
    this.shadow.shrinkTo(Math.max(0, this.largestActualKiB - anonKiB));
  }

  private realRoomKiB(): number {
    return this.actualKiB - this.anonKiB - this.real.cachedKiB;
  }

  private shadowRoomKiB(): number {
    return this.largestActualKiB - this.anonKiB - this.shadow.cachedKiB;
  }

  /** Moves every reader on by dtSeconds from tStartSeconds. */
  read(tStartSeconds: number, dtSeconds: number): void {
    const end = tStartSeconds + dtSeconds;
    for (const s of this.streams) {
      let t = tStartSeconds;
      while (t < end - 1e-12) {
        if (s.cursor >= s.chunks) {
          if (s.nextPassSeconds >= end) break;
          t = Math.max(t, s.nextPassSeconds);
          this.startPass(s, t);
          continue;
        }
        const c = s.first + s.cursor;
        if (s.progress === 0) this.beginChunk(s, c);
        const paceSecondsPerKiB = 1 / (s.spec.rateMiBps * 1024);
        const secondsPerKiB = s.miss ? Math.max(paceSecondsPerKiB, 1 / (this.diskMiBps * 1024)) : paceSecondsPerKiB;
        const leftKiB = this.sizeKiB[c]! * (1 - s.progress);
        const doneKiB = Math.min(leftKiB, (end - t) / secondsPerKiB);
        t += doneKiB * secondsPerKiB;
        if (s.miss) {
          this.diskReadBytes += doneKiB * 1024;
          this.majorFaults += doneKiB * PAGES_PER_KIB;
          if (s.refault) {
            this.tally.refaultKiB += doneKiB;
            if (s.coordinators) this.tally.coordinatorRefaultKiB += doneKiB;
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
    const cold = this.real.cachedKiB - (this.streams.length === 0 ? 0 : this.hotKiB(tSeconds));
    this.tally.coldKiBSeconds += cold * dtSeconds;
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
    // A pass that runs late starts the next one when it ends (see endPass), never two at once.
    s.nextPassSeconds = Math.max(s.nextPassSeconds + every, t);
  }

  private endPass(s: Stream, t: number): void {
    if (s.spec.kind !== 'hot') {
      s.nextPassSeconds = Infinity;
      return;
    }
    if (s.nextPassSeconds < t) s.nextPassSeconds = t;
    if (s.spec.untilSeconds !== null && s.nextPassSeconds >= s.spec.untilSeconds) s.nextPassSeconds = Infinity;
  }

  private beginChunk(s: Stream, c: number): void {
    const inShadow = this.shadow.has(c);
    if (inShadow) this.shadow.touch(c);
    else this.shadow.add(c, this.everRead[c] === 1 ? ACTIVE : INACTIVE, this.shadowRoomKiB());
    if (this.real.has(c)) {
      s.miss = false;
      s.refault = false;
      this.real.touch(c);
      return;
    }
    s.miss = true;
    s.refault = this.everRead[c] === 1;
    s.coordinators = s.refault && inShadow;
    this.everRead[c] = 1;
    // Newer reads push out the least recently used cache; a refault goes to the active list
    // (Linux's working-set detection).
    this.tally.droppedKiB += this.real.add(c, s.refault ? ACTIVE : INACTIVE, this.realRoomKiB()).droppedKiB;
  }
}
