#!/usr/bin/env node
import { main, reportError } from './main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.exitCode = reportError(err); },
);
