export { plotCpu, hasCpuData, type CpuPlotOptions } from './cpu.js';
export { plotMemory, hasMemoryData, type MemoryPlotOptions } from './memory.js';
export { writePlots } from './write.js';
