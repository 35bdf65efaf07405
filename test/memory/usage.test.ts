import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureUsage } from '../../src/memory/usage.js';

const MiB = 1024;
const reading = (actualMiB: number, unusedMiB: number, availableMiB?: number) => ({
  currentKiB: actualMiB * MiB,
  maximumKiB: 2048 * MiB,
  unusedKiB: unusedMiB * MiB,
  lastUpdate: 10,
  ...(availableMiB !== undefined && { availableKiB: availableMiB * MiB }),
});

test('used is actual − unused (cache and kernel reservation count as used)', () => {
  const u = measureUsage(reading(1000, 600, 960), [1000 * MiB, 1000 * MiB]);
  assert.equal(u.usedKiB, 400 * MiB);
  assert.equal(u.reservedKiB, 40 * MiB, 'actual − MemTotal learned while the balloon stands still');
  assert.deepEqual(u.sample, { atSeconds: 10, usedKiB: 360 * MiB, source: 'available' });
  assert.equal(u.anonKiB, undefined, 'no MemAvailable, no split');
});

test('with MemAvailable, used splits into droppable cache (usable − unused) and anon; growth is sampled on anon', () => {
  const u = measureUsage({ ...reading(1000, 600, 960), usableKiB: 800 * MiB }, [1000 * MiB, 1000 * MiB]);
  assert.equal(u.usedKiB, 400 * MiB, 'used still counts the cache');
  assert.equal(u.cacheKiB, 200 * MiB);
  assert.equal(u.anonKiB, 200 * MiB);
  // MemTotal − MemAvailable: a guest filling its cache is not read as growing.
  assert.deepEqual(u.sample, { atSeconds: 10, usedKiB: 160 * MiB, source: 'anon-available' });
  // A MemAvailable above what the guest has is not one: ignored.
  const bad = measureUsage({ ...reading(1000, 600, 960), usableKiB: 1100 * MiB }, [1000 * MiB, 1000 * MiB]);
  assert.equal(bad.anonKiB, undefined);
  assert.equal(bad.sample?.source, 'available');
});

// The lab guests of issue #18 (512 MiB balloons, booted at 2048): an idle one showed MemFree 406 MiB and
// MemAvailable 337 MiB (the kernel keeps ~70 MiB back); one that had read 1.5 GiB from its disk showed
// MemFree 83, MemAvailable 287, Buffers 327, and anonymous pages, shmem and unreclaimable slab ~10 MiB.
test('a MemAvailable below MemFree is still a reading: no cache, and the gap is learned as the kernel\'s reserve', () => {
  const idle = measureUsage({ ...reading(512, 406), usableKiB: 337 * MiB }, [512 * MiB, 512 * MiB]);
  assert.equal(idle.cacheKiB, 0);
  assert.equal(idle.anonKiB, 106 * MiB);
  assert.equal(idle.memFreeOffsetKiB, 69 * MiB);
  assert.equal(idle.sample?.source, 'anon-actual');
});

test('the learned reserve is not counted as anonymous use once the guest holds cache', () => {
  const scanner = { ...reading(512, 83), usableKiB: 287 * MiB, diskCachesKiB: 340 * MiB };
  const before = measureUsage(scanner, [512 * MiB, 512 * MiB]);
  assert.equal(before.anonKiB, (512 - 83 - 204) * MiB, 'without the offset: 225 MiB of "anonymous" use, as the issue measured');
  const after = measureUsage(scanner, [512 * MiB, 512 * MiB], undefined, 69 * MiB);
  // Plus what MemAvailable keeps of the cache (its low watermark, taken as 5/6 of the offset):
  // 330.5 MiB against Buffers 327, anon 98.5 MiB (AnonPages 1.3 + Shmem 3 + SUnreclaim 6 + the
  // ~68 MiB the kernel took at boot + the initramfs).
  assert.equal(after.cacheKiB, (204 + 69 + 57.5) * MiB);
  assert.equal(after.anonKiB, (225 - 69 - 57.5) * MiB);
  assert.equal(after.memFreeOffsetKiB, 69 * MiB, 'kept: the largest seen');
  // Never more cache than the guest says its page cache holds.
  const small = measureUsage({ ...scanner, diskCachesKiB: 230 * MiB }, [512 * MiB, 512 * MiB], undefined, 69 * MiB);
  assert.equal(small.cacheKiB, 230 * MiB);
  // MemAvailable clamped at 0 by the kernel says nothing about the sum: no offset added.
  const clamped = measureUsage({ ...reading(512, 10), usableKiB: 0 }, [512 * MiB, 512 * MiB], undefined, 69 * MiB);
  assert.equal(clamped.cacheKiB, 0);
  assert.equal(clamped.anonKiB, 502 * MiB);
  // Nor is it learned from: MemFree − 0 is not the reserve.
  assert.equal(measureUsage({ ...reading(512, 300), usableKiB: 0 }, [512 * MiB, 512 * MiB]).memFreeOffsetKiB, 0);
});

test('while the balloon moves, used without MemTotal is the upper bound (safe for shrinking)', () => {
  // The balloon went from 1000 to 700 MiB; the reading may date from either.
  const u = measureUsage(reading(700, 500), [1000 * MiB, 700 * MiB]);
  assert.equal(u.usedKiB, 500 * MiB);
  assert.equal(u.usedLowKiB, 200 * MiB);
  assert.equal(u.sample, undefined, 'no growth sample from an inconsistent reading');
});

test('while the balloon moves, MemTotal + learned reservation places the reading, inside the bounds', () => {
  // Reading taken at 960 MiB actual (MemTotal 920 + 40 reserved), 660 free: used 300.
  const u = measureUsage(reading(700, 660, 920), [1000 * MiB, 700 * MiB], 40 * MiB);
  assert.equal(u.usedKiB, 300 * MiB);
  assert.equal(u.reservedKiB, undefined, 'nothing learned while moving');
  // A wrong reservation is still kept inside the bounds.
  const wild = measureUsage(reading(700, 660, 920), [1000 * MiB, 700 * MiB], 900 * MiB);
  assert.equal(wild.usedKiB, wild.usedHighKiB);
});

test('MemTotal far above actual (deflate-on-OOM accounting) is not trusted', () => {
  const u = measureUsage(reading(600, 200, 2000), [600 * MiB, 600 * MiB]);
  assert.equal(u.usedKiB, 400 * MiB);
  assert.equal(u.sample?.source, 'actual');
});
