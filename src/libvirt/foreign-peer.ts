// Recognising a peer that is not libvirt: a libvirt packet starts with its length, at most 32 MiB,
// so its first byte is 0x00-0x02. A first word of printable text (HTTP's "HTTP", ssh's "SSH-") or a
// TLS record header means something else answered; the error says what, instead of a length.
import { LibvirtProtocolError } from './errors.js';

/** The peer speaks another protocol. `said`: its first line when it is text, else ''. */
export class ForeignPeerError extends LibvirtProtocolError {
  constructor(readonly protocol: string, readonly said: string) {
    super(`bad packet: the peer speaks ${protocol}, not libvirt's protocol${said ? ` (it sent '${said}')` : ''}`);
    this.name = 'ForeignPeerError';
  }
}

const PRINTABLE = /^[\x20-\x7e\t\r\n]+$/;

/** What `head` (the first bytes the peer sent, at least 4) looks like, when it is not libvirt's. */
export function foreignPeer(head: Buffer): ForeignPeerError | undefined {
  // TLS handshake (0x16) or alert (0x15) record, version 3.x: a TLS port, e.g. libvirtd's 16514.
  if ((head[0] === 0x16 || head[0] === 0x15) && head[1] === 0x03) return new ForeignPeerError('TLS', '');
  const text = head.subarray(0, 120).toString('latin1');
  if (!PRINTABLE.test(text.slice(0, 4))) return undefined;
  const firstLine = text.split(/\r?\n/)[0]!.replace(/[^\x20-\x7e]/g, '').slice(0, 80);
  const said = firstLine.replace(/'/g, '"');
  // An HTTP response (a client reached a web server), or a request (a browser or curl reached us).
  if (/^HTTP\/\d/.test(text) || /^[A-Z]{3,7} \S+ HTTP\/\d/.test(text)) return new ForeignPeerError('HTTP', said);
  if (/^SSH-\d/.test(text)) return new ForeignPeerError('SSH', said);
  return new ForeignPeerError('text', said);
}

/** The ForeignPeerError somewhere in `err`'s chain of causes. */
export function foreignPeerIn(err: unknown): ForeignPeerError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof ForeignPeerError) return e;
  }
  return undefined;
}
