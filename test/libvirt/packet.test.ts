import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LibvirtProtocolError } from '../../src/libvirt/errors.js';
import { FrameAssembler, MAX_PACKET_BYTES } from '../../src/libvirt/packet.js';
import { cat, u32 } from './bytes.js';

function frame(payload: Buffer): Buffer {
  return cat(u32(28 + payload.length), Buffer.alloc(24, 0xab), payload);
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('frame assembler', () => {
  test('any chunking of a stream yields the same packets, in order', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (payloads, cuts) => {
        const frames = payloads.map((p) => frame(Buffer.from(p)));
        const stream = Buffer.concat(frames);
        const got: Buffer[] = [];
        const a = new FrameAssembler();
        for (const chunk of split(stream, cuts)) a.push(chunk, (f) => got.push(Buffer.from(f)));
        assert.deepEqual(got, frames);
        assert.equal(a.pendingBytes, 0);
      },
    ));
  });

  test('one byte at a time', () => {
    const frames = [frame(Buffer.from('hello')), frame(Buffer.alloc(0)), frame(Buffer.alloc(1000, 7))];
    const stream = Buffer.concat(frames);
    const got: Buffer[] = [];
    const a = new FrameAssembler();
    for (let i = 0; i < stream.length; i++) a.push(stream.subarray(i, i + 1), (f) => got.push(Buffer.from(f)));
    assert.deepEqual(got, frames);
  });

  test('a declared length above 32 MiB is refused at once, before the bytes arrive', () => {
    const a = new FrameAssembler();
    assert.throws(() => a.push(u32(MAX_PACKET_BYTES + 1), () => {}), (e: unknown) => e instanceof LibvirtProtocolError && /exceeds/.test(e.message));
  });

  test('a declared length shorter than a header is refused', () => {
    const a = new FrameAssembler();
    assert.throws(() => a.push(cat(u32(12), Buffer.alloc(8)), () => {}), /shorter than a header/);
  });

  test('a large packet in many chunks is copied once (linear time)', () => {
    const big = frame(Buffer.alloc(8 * 1024 * 1024, 1));
    const a = new FrameAssembler();
    let got: Buffer | undefined;
    const t0 = process.hrtime.bigint();
    for (let off = 0; off < big.length; off += 1024) a.push(big.subarray(off, off + 1024), (f) => { got = f; });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(got?.length, big.length);
    // 8192 chunks: a quadratic concat would copy ~32 GiB; linear copies 8 MiB.
    assert.ok(ms < 2000, `took ${ms} ms`);
  });
});
