// Deterministic randomness for the simulator: no Math.random, no clock.
// Values are addressed by (seed, stream, index) rather than drawn in sequence, so a demand at a
// given time is the same however often or in whatever order the simulator asks for it.

/** 32-bit FNV-1a hash of a string; names a random stream (e.g. `vm1/cpu/0`). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes integers into one well-scrambled 32-bit value (murmur3 finaliser per word). */
function mix(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const word of words) {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1) for the given seed, stream and index. */
export function uniformAt(seed: number, stream: number, index: number): number {
  const hi = Math.floor(index / 0x100000000);
  return mix(seed, stream, index >>> 0, hi) / 0x100000000;
}

/** Standard normal (mean 0, sd 1) for the given seed, stream and index (Box–Muller). */
export function normalAt(seed: number, stream: number, index: number): number {
  const u1 = 1 - uniformAt(seed, stream, 2 * index);
  const u2 = uniformAt(seed, stream, 2 * index + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A UUID-shaped identifier derived from a name, stable across runs. */
export function uuidFromName(name: string): string {
  const words = [0, 1, 2, 3].map((i) => mix(hashString(name), i).toString(16).padStart(8, '0'));
  const hex = words.join('');
  // Version 4 / variant 1 bits so it looks like what libvirt generates.
  const version = '4' + hex.slice(13, 16);
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16) + hex.slice(17, 20);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${version}-${variant}-${hex.slice(20, 32)}`;
}

/** A seeded stream of numbers in [0, 1) (mulberry32), for code that draws in sequence rather than by index. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
