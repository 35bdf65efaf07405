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

/** The host cannot be reached right now (connection lost, reconnecting): the interval is skipped, not a domain's fault. */
export class HostUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostUnavailableError';
  }
}

/**
 * The domain an action was meant for is no longer there to take it (migrated away, saved, shut down,
 * destroyed) between observe and act: a move, not a fault of the domain or of the host.
 */
export class DomainGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DomainGoneError';
  }
}

/** The first line of an error's message, for logs and traces. */
export function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
