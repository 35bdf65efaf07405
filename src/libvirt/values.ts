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

/**
 * What a guest statistic QEMU never received arrives as: QEMU keeps 2^64 − 1 for "not collected",
 * and some virtio-win balloon drivers send it for every statistic. libvirt's qemu driver drops it
 * (`GET_BALLOON_STATS`, `mem != -1UL`) before dividing bytes by 1024, but where `unsigned long` is
 * 32 bits wide the check misses and the KiB figures arrive as (2^64 − 1) >> 10.
 */
export const ALL_ONES = 0xffff_ffff_ffff_ffffn;
export const ALL_ONES_KIB = ALL_ONES >> 10n;
/** The same two as doubles: what a reader that decodes unsigned hypers into numbers sees. */
const ALL_ONES_AS_NUMBERS: readonly number[] = [Number(ALL_ONES), Number(ALL_ONES_KIB)];

/** True for the "not reported" sentinels above, whether read exactly (bigint) or as a double. */
export function isNotReported(v: number | bigint): boolean {
  return typeof v === 'bigint' ? v === ALL_ONES || v === ALL_ONES_KIB : ALL_ONES_AS_NUMBERS.includes(v);
}

/** A statistic the guest reports: undefined when absent or a "not reported" sentinel. */
export function guestStatNumber(params: Map<string, TypedParamValue>, key: string): number | undefined {
  const v = params.get(key);
  if ((typeof v === 'bigint' || typeof v === 'number') && isNotReported(v)) return undefined;
  return paramNumber(params, key);
}

export function paramNumber(params: Map<string, TypedParamValue>, key: string): number | undefined {
  const v = params.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}
