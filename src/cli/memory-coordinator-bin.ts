#!/usr/bin/env node
// The assignment's program name as its own executable: `memory_coordinator <interval>`.
import { main, reportError } from './main.js';

main(['memory_coordinator', ...process.argv.slice(2)]).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.exitCode = reportError(err, 'memory_coordinator'); },
);
