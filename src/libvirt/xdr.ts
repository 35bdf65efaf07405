// A small hand-written XDR codec (RFC 4506 subset): what libvirt's remote protocol uses.
// Writer and reader work on plain Buffers; the reader never copies payload it can slice.

/** Bad or truncated XDR data. Thrown by the reader; the connection treats it as a protocol error. */
export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}

const TWO_32 = 0x1_0000_0000;

function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Appends XDR items to a growing buffer; `reset()` lets one writer serve many messages. */
export class XdrWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 4096) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was written: safe to hand to a socket while this writer is reused. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): void {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) throw new XdrError(`int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  uint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new XdrError(`unsigned int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  hyper(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  uhyper(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  /** An unsigned hyper from a JS number (exact up to 2^53). Avoids a BigInt on the hot path. */
  uhyperNumber(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new XdrError(`unsigned hyper out of safe range: ${v}`);
    this.ensure(8);
    this.buf.writeUInt32BE(Math.floor(v / TWO_32), this.pos);
    this.buf.writeUInt32BE(v % TWO_32, this.pos + 4);
    this.pos += 8;
  }

  /** A signed hyper from a JS number (exact within ±2^53). */
  hyperNumber(v: number): void {
    if (!Number.isSafeInteger(v)) throw new XdrError(`hyper out of safe range: ${v}`);
    this.ensure(8);
    const hi = Math.floor(v / TWO_32);
    this.buf.writeInt32BE(hi, this.pos);
    this.buf.writeUInt32BE(v - hi * TWO_32, this.pos + 4);
    this.pos += 8;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bool(v: boolean): void {
    this.ensure(4);
    this.buf.writeInt32BE(v ? 1 : 0, this.pos);
    this.pos += 4;
  }

  string(v: string, max = 0xffff_ffff): void {
    const len = Buffer.byteLength(v, 'utf8');
    if (len > max) throw new XdrError(`string of ${len} bytes exceeds its limit of ${max}`);
    this.ensure(4 + len + 3);
    this.buf.writeUInt32BE(len, this.pos);
    this.pos += 4;
    this.buf.write(v, this.pos, len, 'utf8');
    this.pos += len;
    this.zeroPad(len);
  }

  /** Fixed-length opaque: exactly `length` bytes, no length word. */
  fixedOpaque(v: Uint8Array, length: number): void {
    if (v.length !== length) throw new XdrError(`fixed opaque needs ${length} bytes, got ${v.length}`);
    this.ensure(length + 3);
    this.buf.set(v, this.pos);
    this.pos += length;
    this.zeroPad(length);
  }

  varOpaque(v: Uint8Array, max = 0xffff_ffff): void {
    if (v.length > max) throw new XdrError(`opaque of ${v.length} bytes exceeds its limit of ${max}`);
    this.ensure(4 + v.length + 3);
    this.buf.writeUInt32BE(v.length, this.pos);
    this.pos += 4;
    this.buf.set(v, this.pos);
    this.pos += v.length;
    this.zeroPad(v.length);
  }

  private zeroPad(len: number): void {
    const p = pad4(len);
    for (let i = 0; i < p; i++) this.buf[this.pos++] = 0;
  }
}

/** Reads XDR items from `buf` between `pos` and `end`; every read checks bounds and throws XdrError. */
export class XdrReader {
  pos: number;
  readonly end: number;

  constructor(readonly buf: Buffer, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new XdrError(`truncated data: ${what} needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} left`);
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** An unsigned hyper as a number when exact (< 2^53), else as a bigint. No BigInt on the common path. */
  uhyperCompact(): number | bigint {
    this.need(8, 'unsigned hyper');
    const hi = this.buf.readUInt32BE(this.pos);
    if (hi < 0x20_0000) {
      const v = hi * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
      this.pos += 8;
      return v;
    }
    return this.uhyper();
  }

  /** A signed hyper as a number when exact (|v| < 2^53), else as a bigint. */
  hyperCompact(): number | bigint {
    this.need(8, 'hyper');
    const hi = this.buf.readInt32BE(this.pos);
    if (hi < 0x20_0000 && hi >= -0x20_0000) {
      const v = hi * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
      // -2^53 itself is exact but not a safe integer: keep it a bigint like everything beyond.
      if (v >= -Number.MAX_SAFE_INTEGER) {
        this.pos += 8;
        return v;
      }
    }
    return this.hyper();
  }

  /** An unsigned hyper as a number; precision is lost above 2^53 (fine for counters and sizes). */
  uhyperNumber(): number {
    this.need(8, 'unsigned hyper');
    const v = this.buf.readUInt32BE(this.pos) * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`bool must be 0 or 1, got ${v}`);
    return v === 1;
  }

  string(max = 0xffff_ffff): string {
    const len = this.uint();
    if (len > max) throw new XdrError(`string length ${len} exceeds its limit of ${max}`);
    const padded = len + pad4(len);
    this.need(padded, 'string');
    const start = this.pos;
    this.pos += padded;
    return len <= INTERN_MAX_LENGTH ? internedString(this.buf, start, start + len) : this.buf.toString('utf8', start, start + len);
  }

  /**
   * Fixed-length opaque as a view into the message: valid only until the message buffer is reused
   * (the connection reads into one buffer), so use it at once, e.g. to format a UUID.
   */
  fixedOpaqueView(length: number): Buffer {
    const padded = length + pad4(length);
    this.need(padded, 'fixed opaque');
    const v = this.buf.subarray(this.pos, this.pos + length);
    this.pos += padded;
    return v;
  }

  /** Fixed-length opaque: a copy, safe to keep. */
  fixedOpaque(length: number): Buffer {
    return Buffer.from(this.fixedOpaqueView(length));
  }

  /** Variable-length opaque: a copy, safe to keep. */
  varOpaque(max = 0xffff_ffff): Buffer {
    const len = this.uint();
    if (len > max) throw new XdrError(`opaque length ${len} exceeds its limit of ${max}`);
    return this.fixedOpaque(len);
  }

  /** Array length word, checked against its limit and against the bytes left (each item takes ≥ minItemBytes). */
  arrayLength(max: number, minItemBytes = 4): number {
    const n = this.uint();
    if (n > max) throw new XdrError(`array length ${n} exceeds its limit of ${max}`);
    if (n * minItemBytes > this.remaining) throw new XdrError(`truncated data: array of ${n} items cannot fit in ${this.remaining} bytes`);
    return n;
  }
}

// Short strings repeat in every reply (typed-parameter names such as `vcpu.0.time`, domain names): returning the
// string decoded last time saves building a new one and re-hashing it as a Map key. Bounded, ASCII only.
const INTERN_MAX_LENGTH = 64;
const INTERN_MAX_ENTRIES = 4096;
const interned = new Map<number, string>();

function internedString(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  let h = len;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return buf.toString('utf8', start, end);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const hit = interned.get(h);
  if (hit !== undefined && hit.length === len) {
    let i = 0;
    while (i < len && hit.charCodeAt(i) === buf[start + i]) i++;
    if (i === len) return hit;
  }
  const s = buf.toString('latin1', start, end);
  if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
  interned.set(h, s);
  return s;
}
