// Builds expected XDR bytes by hand, independently of the codec under test.

export type Piece = Buffer;

export function u32(v: number): Piece {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export function i32(v: number): Piece {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

/** 64-bit big-endian from a hex string of up to 16 digits. */
export function u64hex(hex: string): Piece {
  return Buffer.from(hex.padStart(16, '0'), 'hex');
}

export function u64(v: number): Piece {
  return Buffer.concat([u32(Math.floor(v / 2 ** 32)), u32(v % 2 ** 32)]);
}

export function str(s: string): Piece {
  const body = Buffer.from(s, 'utf8');
  const pad = (4 - (body.length % 4)) % 4;
  return Buffer.concat([u32(body.length), body, Buffer.alloc(pad)]);
}

export function opaque(bytes: number[]): Piece {
  const pad = (4 - (bytes.length % 4)) % 4;
  return Buffer.concat([u32(bytes.length), Buffer.from(bytes), Buffer.alloc(pad)]);
}

export function hex(s: string): Piece {
  return Buffer.from(s.replace(/[\s-]/g, ''), 'hex');
}

export function cat(...pieces: Piece[]): Buffer {
  return Buffer.concat(pieces);
}

export const UUID_TEXT = '6695eb01-f6a4-8304-79aa-97f2502e193f';
export const UUID_BYTES = hex(UUID_TEXT);

/** remote_nonnull_domain { name, uuid, id } */
export function dom(name: string, id: number): Buffer {
  return cat(str(name), UUID_BYTES, i32(id));
}
