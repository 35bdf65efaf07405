import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { TraceLine } from '../ground/trace-record.js';

/** Appends trace lines (JSON lines) to a file; `close()` flushes everything written so far. */
export class TraceWriter {
  private readonly stream: WriteStream;
  private failure: Error | undefined;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => { this.failure = err; });
  }

  write(line: TraceLine): void {
    if (this.failure) throw new Error(`cannot write trace ${this.path}: ${this.failure.message}`);
    this.stream.write(JSON.stringify(line) + '\n');
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.end(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }
}
