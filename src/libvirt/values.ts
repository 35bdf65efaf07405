// Between the wire's representations and ours: domain state codes, cpumaps, typed-parameter numbers.
// Both sides use them: the client reading replies and the server writing them.
import { DOMAIN_STATES, type TypedParamValue } from './protocol.js';

export type DomainStateName = (typeof DOMAIN_STATES)[number] | 'unknown';

export function stateName(code: number): DomainStateName {
  return DOMAIN_STATES[code] ?? 'unknown';
}

/** virDomainState code of a state name (0, nostate, when unknown). */
export function stateCode(name: string): number {
  const i = (DOMAIN_STATES as readonly string[]).indexOf(name);
  return i < 0 ? 0 : i;
}

/** Bytes of a cpumap covering `pcpus` CPUs. */
export function cpumapLength(pcpus: number): number {
  return (pcpus + 7) >> 3;
}

export function cpumapFromCpus(cpus: readonly number[], pcpus: number): Uint8Array {
  const map = new Uint8Array(cpumapLength(pcpus));
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= pcpus) throw new RangeError(`pCPU ${c} does not exist (host has ${pcpus})`);
    map[c >> 3]! |= 1 << (c & 7);
  }
  return map;
}

export function cpusFromCpumap(map: Uint8Array, offset: number, length: number, pcpus: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < pcpus && c < length * 8; c++) if (map[offset + (c >> 3)]! & (1 << (c & 7))) out.push(c);
  return out;
}

export function paramNumber(params: Map<string, TypedParamValue>, key: string): number | undefined {
  const v = params.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}
