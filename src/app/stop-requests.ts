import { EventEmitter } from 'node:events';

/**
 * A stop asked for without a signal, e.g. because the reader of our output went away (EPIPE: the
 * output was piped into `head`, or `npm start` was stopped and took the pipe with it). A run ends
 * exactly as on SIGTERM: the current interval finishes and the trace is flushed.
 */
export const stopRequests = new EventEmitter();
let requested = false;
stopRequests.on('stop', () => (requested = true));

/** Whether a stop was asked for before a run started listening. */
export function stopWasRequested(): boolean {
  return requested;
}
