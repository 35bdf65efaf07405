import { baselineController } from './common.js';

// Doing nothing: every guest keeps the memory it booted with (statistics enabled, so the score can
// read the guests).
export const nothingController = baselineController('no balloon changes (baseline)');
