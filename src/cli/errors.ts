/** An error meant for the person at the terminal: printed as one line, no stack trace. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure of the environment (daemon unreachable, permission denied): one line, exit 1. */
export class FatalError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'FatalError';
  }
}
