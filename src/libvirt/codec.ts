// Composable XDR codecs: each protocol struct is declared once as data and gets both directions.
import { XdrError, type XdrReader, type XdrWriter } from './xdr.js';

export interface Codec<T> {
  enc(w: XdrWriter, v: T): void;
  dec(r: XdrReader): T;
  /** Smallest encoded size in bytes; bounds array lengths before allocating. */
  readonly minBytes: number;
}

export type TypeOf<C> = C extends Codec<infer T> ? T : never;

export const xvoid: Codec<void> = { enc() {}, dec() {}, minBytes: 0 };
export const xint: Codec<number> = { enc: (w, v) => w.int(v), dec: (r) => r.int(), minBytes: 4 };
export const xuint: Codec<number> = { enc: (w, v) => w.uint(v), dec: (r) => r.uint(), minBytes: 4 };
export const xhyper: Codec<bigint> = { enc: (w, v) => w.hyper(v), dec: (r) => r.hyper(), minBytes: 8 };
export const xuhyper: Codec<bigint> = { enc: (w, v) => w.uhyper(v), dec: (r) => r.uhyper(), minBytes: 8 };
/** Unsigned hyper carried as a JS number: memory sizes in KiB and ns counters stay far below 2^53. */
export const xuhyperNum: Codec<number> = { enc: (w, v) => w.uhyperNumber(v), dec: (r) => r.uhyperNumber(), minBytes: 8 };
export const xdouble: Codec<number> = { enc: (w, v) => w.double(v), dec: (r) => r.double(), minBytes: 8 };
export const xbool: Codec<boolean> = { enc: (w, v) => w.bool(v), dec: (r) => r.bool(), minBytes: 4 };

export function xstring(max: number): Codec<string> {
  return { enc: (w, v) => w.string(v, max), dec: (r) => r.string(max), minBytes: 4 };
}

export function xfixedOpaque(length: number): Codec<Uint8Array> {
  return { enc: (w, v) => w.fixedOpaque(v, length), dec: (r) => r.fixedOpaque(length), minBytes: length + ((4 - (length & 3)) & 3) };
}

export function xvarOpaque(max: number): Codec<Uint8Array> {
  return { enc: (w, v) => w.varOpaque(v, max), dec: (r) => r.varOpaque(max), minBytes: 4 };
}

/** Variable-length array `T<max>`. */
export function xarray<T>(item: Codec<T>, max: number): Codec<T[]> {
  return {
    enc(w, v) {
      if (v.length > max) throw new XdrError(`array of ${v.length} items exceeds its limit of ${max}`);
      w.uint(v.length);
      for (const x of v) item.enc(w, x);
    },
    dec(r) {
      const n = r.arrayLength(max, Math.max(item.minBytes, 1));
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = item.dec(r);
      return out;
    },
    minBytes: 4,
  };
}

/** Fixed-length array `T[n]` (no length word). */
export function xfixedArray<T>(item: Codec<T>, n: number): Codec<T[]> {
  return {
    enc(w, v) {
      if (v.length !== n) throw new XdrError(`fixed array needs ${n} items, got ${v.length}`);
      for (const x of v) item.enc(w, x);
    },
    dec(r) {
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = item.dec(r);
      return out;
    },
    minBytes: item.minBytes * n,
  };
}

/** Optional data `T *`: a bool word, then the value when present. `null` when absent. */
export function xoptional<T>(item: Codec<T>): Codec<T | null> {
  return {
    enc(w, v) {
      w.bool(v !== null);
      if (v !== null) item.enc(w, v);
    },
    dec(r) {
      return r.bool() ? item.dec(r) : null;
    },
    minBytes: 4,
  };
}

type Fields = Record<string, Codec<any>>;
export type StructOf<F extends Fields> = { [K in keyof F]: TypeOf<F[K]> };

/** A struct: fields encoded in declaration order. */
export function xstruct<F extends Fields>(fields: F): Codec<StructOf<F>> {
  const entries = Object.entries(fields);
  const keys = entries.map(([k]) => k);
  const codecs = entries.map(([, c]) => c);
  const count = keys.length;
  return {
    enc(w, v) {
      for (let i = 0; i < count; i++) codecs[i]!.enc(w, (v as Record<string, unknown>)[keys[i]!]);
    },
    dec(r) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) o[keys[i]!] = codecs[i]!.dec(r);
      return o as StructOf<F>;
    },
    minBytes: codecs.reduce((s, c) => s + c.minBytes, 0),
  };
}

/** A discriminated union on an int: `{ type, value }`; an unknown discriminant is an error. */
export function xunion<A extends Record<number, Codec<any>>>(arms: A): Codec<UnionOf<A>> {
  return {
    enc(w, v) {
      const arm = arms[v.type];
      if (!arm) throw new XdrError(`union has no arm ${v.type}`);
      w.int(v.type);
      arm.enc(w, v.value);
    },
    dec(r) {
      const type = r.int();
      const arm = arms[type];
      if (!arm) throw new XdrError(`union has no arm ${type}`);
      return { type, value: arm.dec(r) } as UnionOf<A>;
    },
    minBytes: 4,
  };
}
export type UnionOf<A extends Record<number, Codec<any>>> = { [K in keyof A & number]: { type: K; value: TypeOf<A[K]> } }[keyof A & number];

/** Maps a codec's value both ways (e.g. 16 raw bytes ↔ UUID text). */
export function xmap<T, U>(inner: Codec<T>, decode: (v: T) => U, encode: (v: U) => T): Codec<U> {
  return {
    enc: (w, v) => inner.enc(w, encode(v)),
    dec: (r) => decode(inner.dec(r)),
    minBytes: inner.minBytes,
  };
}
