#!/usr/bin/env node
// The assignment's program name as its own executable: `vcpu_scheduler <interval>`.
import { main, reportError } from './main.js';

main(['vcpu_scheduler', ...process.argv.slice(2)]).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.exitCode = reportError(err, 'vcpu_scheduler'); },
);
