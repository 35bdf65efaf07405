import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  xarray, xbool, xfixedArray, xfixedOpaque, xhyper, xint, xoptional, xstring, xstruct, xuhyper, xuint, xunion, xvarOpaque, type Codec,
} from '../../src/libvirt/codec.js';
import { XdrError, XdrReader, XdrWriter } from '../../src/libvirt/xdr.js';
import { cat, hex, i32, str, u32 } from './bytes.js';
import { decode, encode } from './round-trip.js';


function vector<T>(c: Codec<T>, v: T, bytes: Buffer): void {
  assert.deepEqual(encode(c, v), bytes);
  assert.deepEqual(decode(c, bytes), v);
}

describe('XDR primitives: fixed byte vectors (RFC 4506)', () => {
  test('int and unsigned int are 4 bytes big-endian, two\'s complement', () => {
    vector(xint, 0, hex('00000000'));
    vector(xint, 1, hex('00000001'));
    vector(xint, -1, hex('ffffffff'));
    vector(xint, -2147483648, hex('80000000'));
    vector(xint, 2147483647, hex('7fffffff'));
    vector(xuint, 4294967295, hex('ffffffff'));
    vector(xuint, 0x20008086, hex('20008086'));
  });

  test('hyper and unsigned hyper are 8 bytes big-endian (bigint)', () => {
    vector(xhyper, -1n, hex('ffffffffffffffff'));
    vector(xhyper, -9223372036854775808n, hex('8000000000000000'));
    vector(xuhyper, 18446744073709551615n, hex('ffffffffffffffff'));
    vector(xuhyper, 0x0102030405060708n, hex('0102030405060708'));
  });

  test('bool is an int 0 or 1; other values are rejected', () => {
    vector(xbool, true, hex('00000001'));
    vector(xbool, false, hex('00000000'));
    assert.throws(() => decode(xbool, hex('00000002')), XdrError);
  });

  test('string: length, bytes, zero padding to 4', () => {
    vector(xstring(100), '', hex('00000000'));
    vector(xstring(100), 'a', hex('00000001 61000000'));
    vector(xstring(100), 'abcd', hex('00000004 61626364'));
    vector(xstring(100), 'abcde', hex('00000005 61626364 65000000'));
    vector(xstring(100), 'é', hex('00000002 c3a90000'));
  });

  test('string longer than its limit is refused both ways', () => {
    assert.throws(() => encode(xstring(3), 'abcd'), /exceeds its limit/);
    assert.throws(() => decode(xstring(3), hex('00000004 61626364')), /exceeds its limit/);
  });

  test('fixed and variable opaque', () => {
    vector(xfixedOpaque(3), Buffer.from([1, 2, 3]) as Uint8Array, hex('01020300'));
    vector(xvarOpaque(10), Buffer.from([9, 8, 7, 6, 5]) as Uint8Array, hex('00000005 09080706 05000000'));
  });

  test('arrays: variable has a count, fixed has none', () => {
    vector(xarray(xint, 10), [1, -1], hex('00000002 00000001 ffffffff'));
    vector(xfixedArray(xint, 2), [7, 8], hex('00000007 00000008'));
    assert.throws(() => decode(xarray(xint, 1), hex('00000002 00000001 00000002')), /exceeds its limit/);
  });

  test('optional data is a bool then the value', () => {
    vector(xoptional(xint), null, hex('00000000'));
    vector(xoptional(xint), 5, hex('00000001 00000005'));
  });

  test('struct fields in declaration order; union by int discriminant', () => {
    const s = xstruct({ a: xint, b: xstring(10) });
    vector(s, { a: 3, b: 'hi' }, cat(i32(3), str('hi')));
    const u = xunion({ 1: xint, 7: xstring(10) });
    vector(u, { type: 1, value: -5 }, cat(i32(1), i32(-5)));
    vector(u, { type: 7, value: 'x' }, cat(i32(7), str('x')));
    assert.throws(() => decode(u, cat(i32(3), u32(0))), /no arm 3/);
  });
});

describe('64-bit values as numbers when safe', () => {
  test('exactly the safe integers come back as numbers, the rest as bigints', () => {
    const r = (h: string) => new XdrReader(hex(h));
    assert.equal(r('001fffffffffffff').uhyperCompact(), 2 ** 53 - 1);
    assert.equal(r('0020000000000000').uhyperCompact(), 2n ** 53n);
    assert.equal(r('ffe0000000000001').hyperCompact(), -(2 ** 53 - 1));
    assert.equal(r('ffe0000000000000').hyperCompact(), -(2n ** 53n));
    assert.equal(r('fffffffffffffffe').hyperCompact(), -2);
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
      const w = new XdrWriter();
      w.hyper(v);
      const got = new XdrReader(w.toBuffer()).hyperCompact();
      return typeof got === 'number' ? Number.isSafeInteger(got) && BigInt(got) === v : got === v && !Number.isSafeInteger(Number(v));
    }));
  });
});

describe('XDR reader: bad input is an XdrError, never a crash or a huge allocation', () => {
  test('truncated data', () => {
    assert.throws(() => decode(xint, hex('000000')), /truncated/);
    assert.throws(() => decode(xstring(100), hex('00000005 6162')), /truncated/);
    assert.throws(() => decode(xuhyper, hex('00000000')), /truncated/);
  });

  test('an array count larger than the bytes left is refused before allocating', () => {
    assert.throws(() => decode(xarray(xint, 1_000_000_000), hex('3b9aca00')), /cannot fit/);
  });

  test('random bytes decode to a value or throw XdrError, nothing else', () => {
    const c = xstruct({ a: xarray(xstruct({ s: xstring(64), o: xoptional(xhyper), u: xunion({ 1: xint, 2: xvarOpaque(16) }) }), 8), b: xbool });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          c.dec(new XdrReader(Buffer.from(bytes)));
        } catch (err) {
          assert.ok(err instanceof XdrError, `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// Decoded structs are plain objects; generate the same.
const NP = { noNullPrototype: true } as const;

describe('XDR round trips (fast-check)', () => {
  test('primitives', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (v) => decode(xint, encode(xint, v)) === v));
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v) => decode(xuint, encode(xuint, v)) === v));
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => decode(xhyper, encode(xhyper, v)) === v));
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => decode(xuhyper, encode(xuhyper, v)) === v));
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (v) => decode(xstring(1000), encode(xstring(1000), v)) === v));
  });

  test('encoded length is always a multiple of 4', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 50 }), fc.string({ maxLength: 50 }), (o, s) => {
      return encode(xvarOpaque(100), o).length % 4 === 0 && encode(xstring(1000), s).length % 4 === 0;
    }));
  });

  test('nested structs, arrays, optionals and unions', () => {
    const c = xstruct({
      items: xarray(xstruct({ name: xstring(100), when: xoptional(xuhyper), v: xunion({ 1: xint, 4: xuhyper, 7: xstring(100) }) }), 20),
      flag: xbool,
      raw: xvarOpaque(64),
    });
    const arb = fc.record({
      items: fc.array(fc.record({
        name: fc.string({ maxLength: 30 }),
        when: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: null }),
        v: fc.oneof(
          fc.record({ type: fc.constant(1 as const), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }, NP),
          fc.record({ type: fc.constant(4 as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }, NP),
          fc.record({ type: fc.constant(7 as const), value: fc.string({ maxLength: 20 }) }, NP),
        ),
      }, NP), { maxLength: 20 }),
      flag: fc.boolean(),
      raw: fc.uint8Array({ maxLength: 64 }),
    }, NP);
    fc.assert(fc.property(arb, (v) => {
      const back = decode(c, encode(c, v));
      assert.deepEqual({ ...back, raw: Buffer.from(back.raw) }, { ...v, raw: Buffer.from(v.raw) });
    }));
  });

  test('a writer reused after reset produces the same bytes', () => {
    const w = new XdrWriter(4);
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 100 }), { maxLength: 10 }), (v) => {
      w.reset();
      xarray(xstring(1000), 100).enc(w, v);
      assert.deepEqual(w.toBuffer(), encode(xarray(xstring(1000), 100), v));
    }));
  });
});
