import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TraceLine } from '../ground/trace-record.js';
import { splitTrace } from '../score/read-trace.js';
import { hasCpuData, plotCpu, type CpuPlotOptions } from './cpu.js';
import { hasMemoryData, plotMemory, type MemoryPlotOptions } from './memory.js';

/** Writes `<basename>-cpu.svg` and `<basename>-memory.svg` into dir, each only when the trace has that data. Returns the paths written. */
export async function writePlots(lines: TraceLine[], dir: string, basename: string, options: CpuPlotOptions & MemoryPlotOptions = {}): Promise<string[]> {
  const { intervals } = splitTrace(lines);
  const written: string[] = [];
  const plots: [boolean, string, () => string][] = [
    [hasCpuData(intervals), `${basename}-cpu.svg`, () => plotCpu(lines, options)],
    [hasMemoryData(intervals), `${basename}-memory.svg`, () => plotMemory(lines, options)],
  ];
  if (plots.some(([has]) => has)) await mkdir(dir, { recursive: true });
  for (const [has, name, render] of plots) {
    if (!has) continue;
    const path = join(dir, name);
    await writeFile(path, render());
    written.push(path);
  }
  return written;
}
