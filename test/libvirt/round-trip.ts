// Running a codec under test: encode to bytes, decode back (and insist every byte was read).
import assert from 'node:assert/strict';
import type { Codec } from '../../src/libvirt/codec.js';
import { XdrReader, XdrWriter } from '../../src/libvirt/xdr.js';

export function encode<T>(c: Codec<T>, v: T): Buffer {
  const w = new XdrWriter(8);
  c.enc(w, v);
  return w.toBuffer();
}

export function decode<T>(c: Codec<T>, b: Buffer): T {
  const r = new XdrReader(b);
  const v = c.dec(r);
  assert.equal(r.remaining, 0, 'decoder left bytes unread');
  return v;
}
