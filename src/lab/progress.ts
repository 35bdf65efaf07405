// Progress lines for the lab's long steps: what is happening, how far, how long it took.
// Written to stderr so stdout keeps only results.

export interface Progress {
  /** One line of progress. */
  say(message: string): void;
  /** Runs a step: announces it, says `<label> done (<detail>, 1.2 s)` when it ends, and a
   *  still-running line every `tickSeconds` so nothing is silent for long. */
  step<T>(label: string, fn: () => Promise<T>, detail?: (result: T) => string): Promise<T>;
}

export function consoleProgress(prefix = 'lab', tickSeconds = 5, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Progress {
  return {
    say: (message) => write(`[${prefix}] ${message}`),
    async step(label, fn, detail) {
      const t0 = Date.now();
      write(`[${prefix}] ${label} ...`);
      const timer = setInterval(() => write(`[${prefix}] ${label}: still running (${seconds(Date.now() - t0)})`), tickSeconds * 1000);
      timer.unref();
      try {
        const result = await fn();
        const extra = detail ? `${detail(result)}, ` : '';
        write(`[${prefix}] ${label} done (${extra}${seconds(Date.now() - t0)})`);
        return result;
      } finally {
        clearInterval(timer);
      }
    },
  };
}

/** A Progress that prints nothing (for library callers that report on their own). */
export const silentProgress: Progress = {
  say() {},
  step: (_label, fn) => fn(),
};

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
