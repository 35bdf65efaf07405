// The errors a libvirt connection can raise. Each message is one line a person can act on.
import { ErrorCode } from './protocol.js';

/** A call the daemon refused: libvirt's own error (virErrorNumber `code`, virErrorDomain `domain`). */
export class LibvirtError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly domain: number,
    readonly level: number,
    /** Remote procedure that failed, e.g. `domainPinVcpuFlags`. */
    readonly procedure: string,
  ) {
    super(message);
    this.name = 'LibvirtError';
  }
}

/** libvirt error codes virtbalance reacts to (virErrorNumber), from the protocol module. */
export const LibvirtErrorCode = ErrorCode;

/** The daemon could not be reached (socket missing, refused, ssh failed). */
export class LibvirtConnectError extends Error {
  constructor(
    readonly uri: string,
    /** What we tried to reach: a socket path, host:port, or the ssh command line. */
    readonly target: string,
    readonly causeText: string,
    hint: string,
  ) {
    super(`cannot connect to ${uri} via ${target}: ${causeText}${hint ? `; ${hint}` : ''}`);
    this.name = 'LibvirtConnectError';
  }
}

/** The peer broke the protocol (bad frame, wrong program, undecodable reply). The connection is closed. */
export class LibvirtProtocolError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LibvirtProtocolError';
  }
}

/** A call that could not complete because the connection is closed or was lost. */
export class LibvirtClosedError extends Error {
  constructor(message: string, override readonly cause?: Error) {
    super(message);
    this.name = 'LibvirtClosedError';
  }
}
