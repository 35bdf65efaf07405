// The packet layer: a 4-byte length (counting itself), a 24-byte header, then the XDR payload.
import { LibvirtProtocolError } from './errors.js';
import { foreignPeer } from './foreign-peer.js';
import type { XdrWriter } from './xdr.js';

export const LENGTH_BYTES = 4;
export const HEADER_BYTES = 24;
/** Largest packet we accept or send, length word included (libvirt's limit). */
export const MAX_PACKET_BYTES = 32 * 1024 * 1024;

export interface PacketHeader {
  program: number;
  version: number;
  procedure: number;
  type: number;
  serial: number;
  status: number;
}

/** Starts a packet in `w` (which must be reset): a length placeholder and the header. Finish with `endPacket`. */
export function beginPacket(w: XdrWriter, program: number, version: number, procedure: number, type: number, serial: number, status: number): number {
  const start = w.pos;
  w.uint(0);
  w.uint(program);
  w.uint(version);
  w.int(procedure);
  w.int(type);
  w.uint(serial);
  w.int(status);
  return start;
}

/** Fills in the length word of the packet begun at `start`. */
export function endPacket(w: XdrWriter, start: number): void {
  const length = w.pos - start;
  if (length > MAX_PACKET_BYTES) throw new LibvirtProtocolError(`outgoing packet of ${length} bytes exceeds the ${MAX_PACKET_BYTES}-byte limit`);
  w.buf.writeUInt32BE(length, start);
}

export function readHeader(frame: Buffer): PacketHeader {
  return {
    program: frame.readUInt32BE(4),
    version: frame.readUInt32BE(8),
    procedure: frame.readInt32BE(12),
    type: frame.readInt32BE(16),
    serial: frame.readUInt32BE(20),
    status: frame.readInt32BE(24),
  };
}

/**
 * Cuts a byte stream into whole packets. Chunks are kept as a list and each packet is copied at most once
 * (only when it spans chunks), so reading n bytes costs O(n) whatever the chunking.
 */
export class FrameAssembler {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /**
   * @param volatile chunks live in a buffer the reader reuses: whatever must wait for more bytes is copied
   * (each byte at most once), and frames handed to `onFrame` are valid only during the call.
   */
  constructor(private readonly maxPacket = MAX_PACKET_BYTES, private readonly volatile = false) {}

  /** Feeds bytes; calls `onFrame` with each complete packet (length word included). Throws on an invalid length. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    if (chunk.length === 0) return;
    if (this.buffered === 0) {
      this.sliceWhole(chunk, onFrame, !this.volatile);
      return;
    }
    this.chunks.push(this.volatile ? Buffer.from(chunk) : chunk);
    this.buffered += chunk.length;
    while (this.buffered >= LENGTH_BYTES) {
      const length = this.checkLength(this.peekLength(), () => Buffer.concat(this.chunks));
      if (this.buffered < length) return;
      onFrame(this.take(length));
      if (this.buffered === 0) return;
      // The rest of the current chunk may hold several whole packets: slice them without copying.
      if (this.chunks.length === 1) {
        const only = this.chunks[0]!;
        this.chunks = [];
        this.buffered = 0;
        this.sliceWhole(only, onFrame, true);
        return;
      }
    }
  }

  /** Nothing pending: whole packets are sliced straight out of `chunk`; the tail waits (copied unless `owned`). */
  private sliceWhole(chunk: Buffer, onFrame: (frame: Buffer) => void, owned: boolean): void {
    let off = 0;
    while (chunk.length - off >= LENGTH_BYTES) {
      const length = this.checkLength(chunk.readUInt32BE(off), () => chunk.subarray(off));
      if (chunk.length - off < length) break;
      onFrame(chunk.subarray(off, off + length));
      off += length;
    }
    if (off < chunk.length) {
      const rest = off === 0 ? chunk : chunk.subarray(off);
      this.chunks.push(owned ? rest : Buffer.from(rest));
      this.buffered = chunk.length - off;
    }
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  /** `head`: the bytes from this length word on, to name a peer that is not libvirt. */
  private checkLength(length: number, head: () => Buffer): number {
    if (length < LENGTH_BYTES + HEADER_BYTES) throw new LibvirtProtocolError(`bad packet: declared length ${length} is shorter than a header (${LENGTH_BYTES + HEADER_BYTES} bytes)`);
    if (length > this.maxPacket) throw foreignPeer(head()) ?? new LibvirtProtocolError(`bad packet: declared length ${length} exceeds the ${this.maxPacket}-byte limit`);
    return length;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= LENGTH_BYTES) return first.readUInt32BE(0);
    const head = Buffer.allocUnsafe(LENGTH_BYTES);
    let got = 0;
    for (const c of this.chunks) {
      const n = Math.min(c.length, LENGTH_BYTES - got);
      c.copy(head, got, 0, n);
      got += n;
      if (got === LENGTH_BYTES) break;
    }
    return head.readUInt32BE(0);
  }

  private take(length: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= length) {
      const frame = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
      this.buffered -= length;
      return frame;
    }
    const frame = Buffer.allocUnsafe(length);
    let got = 0;
    let used = 0;
    while (got < length) {
      const c = this.chunks[used]!;
      const n = Math.min(c.length, length - got);
      c.copy(frame, got, 0, n);
      got += n;
      if (n === c.length) used++;
      else this.chunks[used] = c.subarray(n);
    }
    this.chunks.splice(0, used);
    this.buffered -= length;
    return frame;
  }
}
