// The lab-like case the issue's baseline measurements were taken on (#18): three guests of 512 MiB
// (maximum 2048 MiB, floor 200) on an 8 GiB host, stats every second from boot; vm1 allocates
// 40 MiB/s from t=6 s up to 1100 MiB and holds it, vm2 and vm3 idle at about 115 MiB. One interval a
// second, so that a policy can run every second.
import { parseScenario, type Scenario } from '../../src/host/sim/index.js';
import type { TraceInterval, TraceLine } from '../../src/ground/trace-record.js';

export const ALLOCATION_START_SECONDS = 6;
export const ALLOCATED_MIB = 1100;

export function labLikeScenario(seconds = 120, extra: { cachesMiB?: number; scanMiB?: number } = {}): Scenario {
  const rampEnd = ALLOCATION_START_SECONDS + (ALLOCATED_MIB - 120) / 40;
  const guest = (name: string, used: string, more = ''): string => `
  - name: ${name}
    memoryMiB: 512
    maxMemoryMiB: 2048
    floorMiB: 200
    statsPeriod: 1
    workload:
      usedMiB: ${used}${more}`;
  const reads = extra.scanMiB ? `\n      reads:\n        - { scan: ${extra.scanMiB}, rate: 100, at: 2 }` : '';
  const caches = extra.cachesMiB ? `\n      cachesMiB: ${extra.cachesMiB}` : '';
  return parseScenario(`name: lab-like-40mibps
controllers: [memory]
interval: 1
intervals: ${seconds}
host:
  pcpus: 2
  memoryMiB: 8192
  overheadMiB: 1024
  reserveMiB: 1024
  balloonRateMiBps: 400
domains:${guest('vm1', `{ ramp: [[0, 120], [${ALLOCATION_START_SECONDS}, 120], [${rampEnd}, ${ALLOCATED_MIB}]] }`)}${guest('vm2', '{ constant: 115, noise: { sd: 2, every: 5 } }', caches + reads)}${guest('vm3', '115')}
`, 'lab-like');
}

export const intervalsOf = (lines: TraceLine[]): TraceInterval[] => lines.filter((l): l is TraceInterval => l.type === 'interval');
export const actualMiB = (e: TraceInterval, domain: string): number => (e.memory!.guests.find((g) => g.domain === domain)?.actualKiB ?? 0) / 1024;
