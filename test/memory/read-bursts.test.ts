// Refaults on a long horizon (read-bursts.ts): reads that repeat, after a shrink, about what it took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectRepeatedReads, markBurstFit, recordEpisodeShrink, rereadMarginKiB, trackBursts, MAX_BURSTS } from '../../src/memory/read-bursts.js';
import { trackReads } from '../../src/memory/refaults.js';
import type { GuestMemoryState } from '../../src/memory/state.js';

const MiB = 1024;
const S = 1e9;
const WATCH = 30;
const HORIZON = 600;
const REFAULT_MIBPS = 2;

function guest(): GuestMemoryState {
  return {} as GuestMemoryState;
}

/** Drives one guest: `reads(t)` is the MiB it read in the 2 s ending at t; returns the refaults seen, by time. */
function run(g: GuestMemoryState, seconds: number, reads: (t: number) => number, shrinks: Record<number, [number, number, number]> = {}): Map<number, ReturnType<typeof detectRepeatedReads>> {
  const seen = new Map<number, ReturnType<typeof detectRepeatedReads>>();
  let bytes = 0;
  for (let t = 0; t <= seconds; t += 2) {
    bytes += reads(t) * 1024 * 1024;
    trackReads(g, bytes, t * S, WATCH);
    trackBursts(g, t * S, REFAULT_MIBPS, HORIZON);
    const refault = detectRepeatedReads(g, t * S);
    if (refault) seen.set(t, refault);
    const shrink = shrinks[t];
    if (shrink) recordEpisodeShrink(g, t * S, shrink[0] * MiB, shrink[1] * MiB, shrink[2] * MiB);
  }
  return seen;
}

// A 700 MiB set read in 4 s (two observations), every `period` seconds from t=0.
const pass = (period: number) => (t: number): number => (t > 0 && (t - 2) % period === 0 ? 400 : t > 0 && (t - 4) % period === 0 ? 300 : 0);
// The coordinator shrinks 928 → 360 MiB over t=10..42, into a 700 MiB cache.
const shrinkRun: Record<number, [number, number, number]> = Object.fromEntries(
  Array.from({ length: 17 }, (_, i) => [10 + 2 * i, [928 - 32 * i, 700, 928 - 32 * (i + 1)]]),
);

test('a set re-read every 120 s, long after the 30 s watch: the next pass is a refault, the balloon before the shrinks comes back, its cache is hot', () => {
  const g = guest();
  const seen = run(g, 130, pass(120), shrinkRun);
  assert.deepEqual([...seen.keys()], [122], 'judged on the first observation of the pass after the shrinks');
  const refault = seen.get(122)!;
  assert.equal(refault.giveBackToKiB, 928 * MiB);
  assert.equal(refault.hotKiB, 700 * MiB);
  assert.equal(g.hotKiB, 700 * MiB, 'kept: the pass read no more than the shrinks took');
});

test('a one-off scan is never a refault, however long after a shrink we look', () => {
  const g = guest();
  const scan = (t: number): number => (t >= 2 && t <= 16 ? 200 : 0);
  const seen = run(g, 590, scan, shrinkRun);
  assert.equal(seen.size, 0);
  assert.equal(g.hotKiB, undefined);
});

test('reads of more new data than the shrinks took are a scan: a provisional refault is withdrawn when the burst goes past it', () => {
  const g = guest();
  // 700 MiB read at t=0; after the shrinks (568 MiB taken) a new scan of 2 GiB from t=200.
  const reads = (t: number): number => (t === 2 ? 400 : t === 4 ? 300 : t > 200 && t <= 220 ? 200 : 0);
  const seen = run(g, 240, reads, shrinkRun);
  assert.equal(seen.size, 1, 'its first 200 MiB look like the set coming back');
  assert.equal(g.hotKiB, undefined, 'withdrawn once it read more than was read before and 1.5 × what was taken');
});

test('reads with nothing read before the shrink are not a refault (nothing repeats)', () => {
  const g = guest();
  const reads = (t: number): number => (t === 122 ? 400 : t === 124 ? 300 : 0);
  assert.equal(run(g, 130, reads, shrinkRun).size, 0);
});

test('the state per guest stays bounded: at most MAX_BURSTS bursts, none older than the horizon', () => {
  const g = guest();
  run(g, 3600, pass(30));
  assert.ok(g.readBursts!.length <= MAX_BURSTS);
  assert.ok(g.readBursts!.every((b) => b.endNs >= (3600 - HORIZON) * S));
});

test('a re-read of the whole set after shrinks that took less than it is still a refault: its first pages, read back, evict the cached rest', () => {
  const g = guest();
  // The shrinks take 300 MiB of the 700 MiB cache (928 → 628): the next pass reads all 700 MiB again,
  // more than 1.5 × 300 + 64 MiB, but no more than was read before.
  const partial: Record<number, [number, number, number]> = Object.fromEntries(
    Array.from({ length: 10 }, (_, i) => [10 + 2 * i, [928 - 30 * i, 700, 928 - 30 * (i + 1)]]),
  );
  const seen = run(g, 130, pass(120), partial);
  assert.deepEqual([...seen.keys()], [122]);
  assert.equal(g.hotKiB, 700 * MiB, 'kept: the pass read no more than the pass before it');
});

test('room for a re-read: one interval of a read that fitted in the cache at its fastest rate, at most its size; none for a read that did not fit', () => {
  const fitted = guest();
  run(fitted, 8, (t) => (t === 2 ? 400 : t === 4 ? 300 : 0));
  markBurstFit(fitted, 700 * MiB);
  assert.equal(rereadMarginKiB(fitted, 2), 400 * MiB, '200 MiB/s for 2 s');
  assert.equal(rereadMarginKiB(fitted, 1), 200 * MiB);
  assert.equal(rereadMarginKiB(fitted, 5), 700 * MiB, 'never more than was read');
  const scanner = guest();
  run(scanner, 20, (t) => (t >= 2 && t <= 16 ? 200 : 0));
  markBurstFit(scanner, 400 * MiB);
  assert.equal(rereadMarginKiB(scanner, 2), 0, '1.6 GiB read, 400 MiB of it cached: a re-read would evict itself anyway');
  const reading = guest();
  run(reading, 4, (t) => (t >= 2 ? 200 : 0));
  markBurstFit(reading, 400 * MiB);
  assert.equal(rereadMarginKiB(reading, 2), 0, 'not judged while the read goes on');
});
